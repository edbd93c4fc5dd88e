// Java through the real path (build with criu dump, invoke by criu restore): clones of one image never
// share randomness, keep time, and run the lifecycle hooks.
import { afterAll, beforeAll, describe, it } from 'vitest';
import { invokeFunction } from '../../src/invoke/invoke.ts';
import { makeSandbox, type Sandbox } from '../helpers.ts';
import { expectAllDiffer, expectAllSame, hooksTests, timeAfterRestoreTest } from './clone-checks.ts';

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await makeSandbox();
  await sandbox.build('random-java');
});

afterAll(async () => {
  try {
    await sandbox.expectClean();
  } finally {
    await sandbox.cleanup();
  }
});

const invoke = async (event: unknown) =>
  JSON.parse(
    (
      await invokeFunction(
        { target: 'random-java', event: JSON.stringify(event), mode: 'prebaked' },
        sandbox.store,
        sandbox.criu,
        sandbox.instances,
      )
    ).result,
  );

describe('java clones', () => {
  it('never share random values', async () => {
    const clones = await Promise.all([1, 2, 3, 4].map(() => invoke({})));
    // Reseeded on resume: without it, math, threadLocal, newThreadLocal (a thread started after the restore),
    // shuffle (Collections' own Random) and newSplittable would repeat in every clone. The
    // others would differ even so (new Random() mixes in System.nanoTime(); NativePRNG, behind UUID and new
    // SecureRandom(), XORs in fresh kernel bytes), but prebake reseeds their sources too
    // (test/runtimes/java-shim.test.ts checks those states).
    expectAllDiffer(clones, [
      'math',
      'threadLocal',
      'newThreadLocal',
      'shuffle',
      'uuid',
      'newRandom',
      'newSplittable',
      'secureRandom',
      'secureInstance',
    ]);
    // Documented as out of prebake's reach: Random, SplittableRandom and SHA1PRNG instances made at init.
    expectAllSame(clones, ['instance', 'splittableInstance', 'sha1prngInstance']);
  });

  timeAfterRestoreTest(invoke, 10_000);
});

hooksTests('java', 'hooks-java', () => sandbox, {
  before: { type: 'java.lang.IllegalStateException', message: 'could not flush the cache' },
  after: { type: 'java.io.IOException', message: 'could not reconnect' },
});
