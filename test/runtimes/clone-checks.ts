// Checks shared by the clone tests of the Python and Java runtimes (test/runtimes/*-clones.test.ts).
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildFunction } from '../../src/bake/build.ts';
import { invokeFunction } from '../../src/invoke/invoke.ts';
import { loadFunction } from '../../src/manifest/load.ts';
import { type Sandbox, settled } from '../helpers.ts';

type Clone = Record<string, unknown>;

/** Every clone returned `key`, and no two returned the same value. */
export function expectAllDiffer(clones: Clone[], keys: string[]): void {
  for (const key of keys) {
    const values = clones.map((clone) => clone[key]);
    expect
      .soft(
        values.every((value) => value !== undefined && value !== null),
        `${key} missing: ${values.join(', ')}`,
      )
      .toBe(true);
    expect.soft(new Set(values).size, `${key} repeated across clones: ${values.join(', ')}`).toBe(values.length);
  }
}

/** Every clone returned the same value of `key`: pins a documented limit of the reseeding. */
export function expectAllSame(clones: Clone[], keys: string[]): void {
  for (const key of keys) {
    const values = clones.map((clone) => clone[key]);
    expect(values[0], `${key} missing`).toBeDefined();
    expect.soft(new Set(values).size, `${key} differs across clones (is it reseeded now? update the docs): ${values.join(', ')}`).toBe(1);
  }
}

/**
 * Time in a clone restored from a snapshot: the fixture's handler sleeps `sleepMs` (and a timer thread started at
 * init waits as long), and reports the clock, its init time and the remaining time of its deadline.
 */
export function timeAfterRestoreTest(invoke: (event: unknown) => Promise<Clone>, timeoutMs: number): void {
  it('keep time after restore: sleeps, timer threads, the wall clock and the deadline', async () => {
    const before = Date.now();
    const { sleptMs, timerMs, now, initializedAt, remainingMs } = (await invoke({ sleepMs: 200 })) as Record<string, number>;
    for (const measured of [sleptMs, timerMs]) {
      expect(measured).toBeGreaterThanOrEqual(195);
      expect(measured).toBeLessThan(5_000);
    }
    expect(initializedAt).toBeLessThan(before);
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
    expect(remainingMs).toBeGreaterThan(0);
    expect(remainingMs).toBeLessThanOrEqual(timeoutMs);
  });
}

interface ExpectedError {
  type: string;
  message: string;
}

/**
 * Lifecycle hooks through a real build and restore, for a fixture like test/fixtures/functions/hooks-node:
 * its handler returns the hooks it saw, and the env var HOOKS_FAIL ("before" or "after") makes one throw.
 */
export function hooksTests(
  runtime: string,
  fixture: string,
  sandbox: () => Sandbox,
  errors: { before: ExpectedError; after: ExpectedError },
): void {
  describe(`${runtime} lifecycle hooks`, () => {
    let dir: string;

    beforeAll(async () => {
      dir = await sandbox().addFunction(fixture);
    });

    async function setFailingHook(phase: string): Promise<void> {
      const file = path.join(dir, 'function.json');
      const manifest = JSON.parse(await readFile(file, 'utf8'));
      manifest.env = { HOOKS_FAIL: phase };
      await writeFile(file, JSON.stringify(manifest));
    }

    const build = async () =>
      buildFunction(await loadFunction(dir), { store: sandbox().store, criu: sandbox().criu, instances: sandbox().instances });
    const invoke = (mode: 'cold' | 'prebaked') =>
      invokeFunction({ target: dir, event: '{}', mode }, sandbox().store, sandbox().criu, sandbox().instances);

    async function expectNothingLeft(): Promise<void> {
      expect(await settled(() => sandbox().processes())).toEqual([]);
      expect(await sandbox().tempDirs()).toEqual([]);
    }

    it('run once before the snapshot and once in every clone, not on a plain start', async () => {
      await build();
      const clones = await Promise.all([1, 2, 3].map(async () => JSON.parse((await invoke('prebaked')).result)));
      for (const clone of clones) expect(clone).toEqual({ events: ['beforeCheckpoint', 'afterRestore'], connection: 'reopened' });
      expect(JSON.parse((await invoke('cold')).result)).toEqual({ events: [], connection: 'open' });
    });

    it('fail the build when a before-checkpoint hook throws', async () => {
      await setFailingHook('before');
      const error = await build().catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: 'PREBAKE_ERR_HOOK_FAILED', functionError: errors.before });
      expect((error as Error).message).toContain(`beforeCheckpoint hook threw: ${errors.before.type}: ${errors.before.message}`);
      await expectNothingLeft();
    });

    it('fail the invocation when an after-restore hook throws', async () => {
      await setFailingHook('after');
      await build();
      const error = await invoke('prebaked').catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: 'PREBAKE_ERR_HOOK_FAILED', functionError: errors.after });
      expect((error as Error).message).toContain(`afterRestore hook threw: ${errors.after.type}: ${errors.after.message}`);
      await expectNothingLeft();
    });
  });
}
