// Lifecycle hooks: before the snapshot, and in every restored clone before its first event.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFunction } from '../../src/bake/build.ts';
import { invokeFunction } from '../../src/invoke/invoke.ts';
import { loadFunction } from '../../src/manifest/load.ts';
import { makeSandbox, type Sandbox, settled } from '../helpers.ts';

let sandbox: Sandbox;
let dir: string;

beforeAll(async () => {
  sandbox = await makeSandbox();
  dir = await sandbox.addFunction('hooks-node');
});

afterAll(async () => {
  try {
    expect(await settled(() => sandbox.processes())).toEqual([]);
  } finally {
    await sandbox.cleanup();
  }
});

async function setManifest(change: (manifest: Record<string, unknown>) => void): Promise<void> {
  const file = path.join(dir, 'function.json');
  const manifest = JSON.parse(await readFile(file, 'utf8'));
  change(manifest);
  await writeFile(file, JSON.stringify(manifest));
}

const build = async () =>
  buildFunction(await loadFunction(dir), { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances });
const invoke = (mode?: 'cold' | 'prebaked') =>
  invokeFunction({ target: dir, event: '{}', mode }, sandbox.store, sandbox.criu, sandbox.instances);

describe('node lifecycle hooks', () => {
  it('run before the snapshot and after each restore, not on a plain start', async () => {
    await build();
    const prebaked = JSON.parse((await invoke('prebaked')).result);
    expect(prebaked).toEqual({ events: ['beforeCheckpoint', 'afterRestore'], connection: 'reopened' });
    const again = JSON.parse((await invoke('prebaked')).result);
    expect(again.events).toEqual(['beforeCheckpoint', 'afterRestore']);
    const cold = JSON.parse((await invoke('cold')).result);
    expect(cold).toEqual({ events: [], connection: 'open' });
  });

  it('are importable from CommonJS too', async () => {
    await setManifest((m) => (m.handler = 'cjs.handler'));
    const result = JSON.parse((await invoke('cold')).result);
    expect(result.api).toEqual(expect.arrayContaining(['afterRestore', 'beforeCheckpoint']));
    await setManifest((m) => (m.handler = 'index.handler'));
  });

  it('fail the build when a before-checkpoint hook throws', async () => {
    await setManifest((m) => (m.env = { HOOKS_FAIL: 'before' }));
    await expect(build()).rejects.toMatchObject({
      code: 'PREBAKE_ERR_HOOK_FAILED',
      functionError: { message: 'could not flush the cache' },
    });
    expect(await sandbox.tempDirs()).toEqual([]);
  });

  it('fail the invocation when an after-restore hook throws', async () => {
    await setManifest((m) => (m.env = { HOOKS_FAIL: 'after' }));
    await build();
    await expect(invoke('prebaked')).rejects.toMatchObject({
      code: 'PREBAKE_ERR_HOOK_FAILED',
      functionError: { message: 'could not reconnect' },
    });
    await sandbox.expectClean();
  });
});
