// Build a function with real criu and serve invocations by restoring it.
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFunction } from '../../src/bake/build.ts';
import { invokeFunction } from '../../src/invoke/invoke.ts';
import { loadFunction } from '../../src/manifest/load.ts';
import { makeSandbox, type Sandbox, settled } from '../helpers.ts';

let sandbox: Sandbox;
let faultyDir: string;

beforeAll(async () => {
  sandbox = await makeSandbox();
  faultyDir = await sandbox.addFunction('faulty-node');
  await buildFunction(await loadFunction(faultyDir), { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances });
});

afterAll(async () => {
  try {
    expect(await settled(() => sandbox.processes())).toEqual([]);
  } finally {
    await sandbox.cleanup();
  }
});

const invoke = (event: unknown, mode?: 'cold' | 'prebaked') =>
  invokeFunction({ target: 'faulty-node', event: JSON.stringify(event), mode }, sandbox.store, sandbox.criu, sandbox.instances);

describe('a built function', () => {
  it('is stored with what a restore needs', async () => {
    const stored = await sandbox.store.get('faulty-node');
    expect(stored?.meta.runtime).toBe('node');
    expect(stored?.meta.warmupInvocations).toBe(2);
    expect(stored?.meta.imageBytes).toBeGreaterThan(1_000_000);
    expect(stored?.meta.criuVersion).toMatch(/^4\./);
    expect(stored?.meta.criuBuild).toMatch(/^(lean|packaged) (static|dynamic), sha256 [0-9a-f]{16}$/);
    expect(stored?.meta.sourceDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(new Set(Object.values(stored!.meta.pipeInodes)).size).toBe(4);
    expect(await readdir(stored!.imageDir)).toContain('inventory.img');
  });

  it('serves each invocation from a fresh restore of the post-warm-up state', async () => {
    const results = [];
    for (let i = 0; i < 3; i++) {
      const outcome = await invoke({ n: i });
      expect(outcome.start).toBe('prebaked');
      results.push(JSON.parse(outcome.result));
    }
    // Two warm-ups ran before the snapshot, so every clone counts its own invocation as the third.
    expect(results.map((r) => r.invocations)).toEqual([3, 3, 3]);
    expect(new Set(results.map((r) => r.initializedAt)).size).toBe(1);
    expect(new Set(results.map((r) => r.requestId)).size).toBe(3);
    expect(results.map((r) => r.echo.n)).toEqual([0, 1, 2]);
    expect(sandbox.instances.count).toBe(0);
  });

  it('restores six clones of one image at once', async () => {
    const outcomes = await Promise.all(Array.from({ length: 6 }, (_, i) => invoke({ n: i })));
    const results = outcomes.map((o) => JSON.parse(o.result));
    expect(results.map((r) => r.echo.n)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(results.every((r) => r.invocations === 3)).toBe(true);
    expect(outcomes.every((o) => o.start === 'prebaked' && o.startMs > 0)).toBe(true);
  });

  it('gives the same answer from a plain start as from a restore', async () => {
    const cold = await invoke({ name: 'same' }, 'cold');
    const prebaked = await invoke({ name: 'same' }, 'prebaked');
    expect(cold.start).toBe('cold');
    const strip = (text: string) => {
      const { echo } = JSON.parse(text);
      return echo;
    };
    expect(strip(cold.result)).toEqual(strip(prebaked.result));
    expect(JSON.parse(cold.result).invocations).toBe(1);
  });

  it("captures the function's output as logs, apart from the result", async () => {
    const outcome = await invoke({ log: 'to stdout', error: 'to stderr' });
    expect(outcome.logs).toContain('to stdout');
    expect(outcome.logs).toContain('to stderr');
    expect(JSON.parse(outcome.result).echo.log).toBe('to stdout');
  });

  it('carries a large result intact', async () => {
    const outcome = await invoke({ big: 3_000_000 });
    expect(JSON.parse(outcome.result).data).toHaveLength(3_000_000);
  });

  it('leaves no instance and no work dir behind', async () => {
    await sandbox.expectClean();
  });

  it('refuses to restore for its directory once the source changed; by name it runs the build', async () => {
    await writeFile(path.join(faultyDir, 'extra.js'), '// changed\n');
    const byDir = invokeFunction({ target: faultyDir, event: '{}' }, sandbox.store, sandbox.criu, sandbox.instances);
    await expect(byDir).rejects.toMatchObject({ code: 'PREBAKE_ERR_IMAGE_STALE' });
    expect(JSON.parse((await invoke({ n: 6 })).result).echo.n).toBe(6);
    await buildFunction(await loadFunction(faultyDir), { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances });
    const rebuilt = await invokeFunction({ target: faultyDir, event: '{"n":7}' }, sandbox.store, sandbox.criu, sandbox.instances);
    expect(JSON.parse(rebuilt.result).echo.n).toBe(7);
  });
});
