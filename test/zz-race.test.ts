import { it } from 'vitest';
import { invokeFunction } from '../src/invoke/invoke.ts';
import { makeSandbox } from './helpers.ts';
it('exit race', async () => {
  const sandbox = await makeSandbox();
  await sandbox.build('faulty-node');
  const counts: Record<string, number> = {};
  const one = async () => {
    const started = performance.now();
    try {
      await invokeFunction({ target: 'faulty-node', event: JSON.stringify({ exit: 3 }), mode: 'prebaked' }, sandbox.store, sandbox.criu);
      counts.ok = (counts.ok ?? 0) + 1;
    } catch (e: any) {
      const ms = performance.now() - started;
      const key = e.code + (ms > 1000 ? ` slow:${Math.round(ms)}:${e.message}` : '');
      counts[key] = (counts[key] ?? 0) + 1;
    }
  };
  for (let i = 0; i < 150; i++) await Promise.all([one(), one(), one()]);
  console.log(JSON.stringify(counts, null, 1));
  await sandbox.cleanup();
}, 900_000);
