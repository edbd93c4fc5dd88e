// Importing a module has no effect on the process (issue 20): the store's exit hook comes with its first work
// dir, once. A fresh Node process, since this one has imported both long ago.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { expect, it } from 'vitest';
import { ROOT } from '../helpers.ts';

it('registers no exit listener on import; the store registers one with its first work dir, and only one', async () => {
  const home = await mkdtemp(path.join(os.tmpdir(), 'prebake-import-effects-'));
  try {
    const script = `
      const { ImageStore } = await import(${JSON.stringify(path.join(ROOT, 'src/store/store.ts'))});
      await import(${JSON.stringify(path.join(ROOT, 'src/cgroup/host.ts'))});
      const counts = [process.listenerCount('exit')];
      const store = new ImageStore(${JSON.stringify(home)});
      counts.push(process.listenerCount('exit'));
      const first = await store.createWorkDir('probe');
      const second = await store.createWorkDir('probe');
      counts.push(process.listenerCount('exit'));
      await first.remove();
      await second.remove();
      console.log(JSON.stringify(counts));`;
    const { stdout } = await execa(process.execPath, ['--input-type=module', '-e', script]);
    expect(JSON.parse(stdout)).toEqual([0, 0, 1]);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});
