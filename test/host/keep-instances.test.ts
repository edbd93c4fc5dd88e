// A Host that keeps no instances between calls (the CLI's, whose process exits after one command) restores
// nothing ahead and starts a pooled function's invocation as a prebaked restore; a daemon's Host fills the
// function's clone pool as soon as it opens.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Host } from '../../src/host/host.ts';
import { makeSandbox, type Sandbox, settled } from '../helpers.ts';

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await makeSandbox();
  await sandbox.build('pooled-node');
}, 300_000);

afterAll(() => sandbox.finish());

it('with keepInstances false fills no clone pool and starts a pooled function prebaked, leaving no instance', async () => {
  const host = new Host({ home: sandbox.home, criu: sandbox.criu, keepInstances: false });
  try {
    await host.open();
    expect(host.stats.clonePools).toEqual([]);
    const outcome = await host.invoke({ target: 'pooled-node', event: '{}', requestId: 'one-shot', collectLogs: true });
    expect(outcome.start).toBe('prebaked');
    expect(host.stats.clonePools).toEqual([]);
    expect(await settled(async () => (host.instances.count > 0 ? ['alive'] : []))).toEqual([]);
  } finally {
    await host.shutdown();
  }
}, 120_000);

it('by default fills the clone pool of a pooled function when it opens, and serves from it', async () => {
  const host = new Host({ home: sandbox.home, criu: sandbox.criu });
  try {
    await host.open();
    expect(host.stats.clonePools.map((pool) => pool.name)).toEqual(['pooled-node']);
    await expect.poll(() => host.stats.clonePools[0]!.ready, { timeout: 60_000 }).toBeGreaterThan(0);
    const outcome = await host.invoke({ target: 'pooled-node', event: '{}', requestId: 'pooled' });
    expect(outcome.start).toBe('pooled');
  } finally {
    await host.shutdown();
  }
}, 120_000);
