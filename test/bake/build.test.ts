// Builds publish atomically under a lock, and a failed build leaves nothing behind.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFunction } from '../../src/bake/build.ts';
import { Criu } from '../../src/criu/criu.ts';
import { invokeFunction } from '../../src/invoke/invoke.ts';
import { loadFunction } from '../../src/manifest/load.ts';
import { makeSandbox, type Sandbox, settled } from '../helpers.ts';

let sandbox: Sandbox;
let dir: string;

beforeAll(async () => {
  sandbox = await makeSandbox();
  dir = await sandbox.addFunction('hello-node', 'bundled');
});

afterAll(async () => {
  try {
    expect(await settled(() => sandbox.processes())).toEqual([]);
  } finally {
    await sandbox.cleanup();
  }
});

describe('build', () => {
  it('serialises two builds of one function and keeps the newest image and the one it replaced', async () => {
    const spec = await loadFunction(dir);
    const [first, second] = await Promise.all([
      buildFunction(spec, { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances }),
      buildFunction(spec, { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances }),
    ]);
    expect(first.meta.buildId).not.toBe(second.meta.buildId);
    const builds = await readdir(path.join(sandbox.home, 'functions', 'hello-node', 'builds'));
    expect(builds.sort()).toEqual([first.meta.buildId, second.meta.buildId].sort());
    const current = await sandbox.store.get('hello-node');
    expect([first.meta.buildId, second.meta.buildId]).toContain(current?.meta.buildId);
    const third = await buildFunction(spec, { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances });
    const after = await readdir(path.join(sandbox.home, 'functions', 'hello-node', 'builds'));
    expect(after).toHaveLength(2);
    expect(after).toContain(third.meta.buildId);
    expect((await sandbox.store.get('hello-node'))?.meta.buildId).toBe(third.meta.buildId);
    const outcome = await invokeFunction(
      { target: 'hello-node', event: '{"name":"twice"}' },
      sandbox.store,
      sandbox.criu,
      sandbox.instances,
    );
    expect(JSON.parse(outcome.result).message).toBe('Hello, twice!');
  });

  it('fails cleanly when criu is missing, leaving no temp dir and no image', async () => {
    const spec = { ...(await loadFunction(dir)), name: 'no-criu' };
    await expect(
      buildFunction(spec, { store: sandbox.store, criu: new Criu('/nonexistent/criu'), instances: sandbox.instances }),
    ).rejects.toMatchObject({
      code: 'PREBAKE_ERR_CRIU_MISSING',
    });
    expect(await sandbox.store.get('no-criu')).toBeUndefined();
    expect(await sandbox.tempDirs()).toEqual([]);
  });

  it('sweeps temp dirs left by a process that died', async () => {
    const { mkdir } = await import('node:fs/promises');
    // PID 2^22 + 1 is above any pid_max: no such process can be alive.
    await mkdir(path.join(sandbox.home, 'tmp', 'build-ghost-4194305-abc123'));
    await mkdir(path.join(sandbox.home, 'run', `restore-${process.pid}-live001`));
    expect(await sandbox.store.sweep()).toBe(1);
    expect(await sandbox.tempDirs()).toEqual([`run/restore-${process.pid}-live001`]);
    const { rm } = await import('node:fs/promises');
    await rm(path.join(sandbox.home, 'run', `restore-${process.pid}-live001`), { recursive: true });
  });

  it('removes a function with its image', async () => {
    expect(await sandbox.store.remove('hello-node')).toBe(true);
    expect(await sandbox.store.get('hello-node')).toBeUndefined();
    await expect(
      invokeFunction({ target: 'hello-node', event: '{}' }, sandbox.store, sandbox.criu, sandbox.instances),
    ).rejects.toMatchObject({
      code: 'PREBAKE_ERR_UNKNOWN_FUNCTION',
    });
  });
});
