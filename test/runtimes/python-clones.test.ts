// Python through the real path (build with criu dump, invoke by criu restore): clones of one image never
// share randomness, keep time, and run the lifecycle hooks.
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuildResult, buildFunction } from '../../src/bake/build.ts';
import { invokeFunction } from '../../src/invoke/invoke.ts';
import { loadFunction } from '../../src/manifest/load.ts';
import { FIXTURES, makeSandbox, type Sandbox } from '../helpers.ts';
import { expectAllDiffer, expectAllSame, hooksTests, timeAfterRestoreTest } from './clone-checks.ts';

let sandbox: Sandbox;
let built: BuildResult;

beforeAll(async () => {
  sandbox = await makeSandbox();
  built = await sandbox.build('random-python');
});

afterAll(async () => {
  try {
    await sandbox.expectClean();
  } finally {
    await sandbox.cleanup();
  }
});

const invoke = async (event: unknown, target = 'random-python') =>
  JSON.parse(
    (await invokeFunction({ target, event: JSON.stringify(event), mode: 'prebaked' }, sandbox.store, sandbox.criu, sandbox.instances))
      .result,
  );

describe('python clones', () => {
  it('never share random values', async () => {
    const clones = await Promise.all([1, 2, 3, 4].map(() => invoke({})));
    // Reseeded on resume: without it, random and ssl would repeat in every clone (so would tempfile names).
    // The others read the kernel on every call.
    expectAllDiffer(clones, ['random', 'ssl', 'tempfile', 'uuid', 'urandom', 'secrets', 'systemRandom']);
    // Documented as out of prebake's reach: a random.Random made at init, and the str hash seed.
    expectAllSame(clones, ['instance', 'hashSeed']);
  });

  it('are checked at build: the clone-uniqueness check names what prebake cannot reseed, and only that', () => {
    // A random.Random() made at init, and the str hash seed (which differs between plain starts).
    expect(built.meta.cloneCheck).toEqual({ sharedPaths: ['$.instance', '$.hashSeed'] });
    expect(built.warnings.join('\n')).toContain('$.instance, $.hashSeed');
  });

  timeAfterRestoreTest(invoke, 5_000);

  it("never share numpy's global generator (Debian's python3, which has numpy)", async () => {
    const dir = path.join(sandbox.root, 'functions', 'random-numpy-python');
    await cp(path.join(FIXTURES, 'random-python'), dir, { recursive: true });
    const manifest = JSON.parse(await readFile(path.join(dir, 'function.json'), 'utf8'));
    await writeFile(
      path.join(dir, 'function.json'),
      JSON.stringify({ ...manifest, name: 'random-numpy-python', interpreter: '/usr/bin/python3', env: { WITH_NUMPY: '1' } }),
    );
    await buildFunction(await loadFunction(dir), { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances });
    const clones = await Promise.all([1, 2, 3, 4].map(() => invoke({}, 'random-numpy-python')));
    expectAllDiffer(clones, ['numpy', 'random', 'ssl']);
  });
});

hooksTests('python', 'hooks-python', () => sandbox, {
  before: { type: 'RuntimeError', message: 'could not flush the cache' },
  after: { type: 'ConnectionError', message: 'could not reconnect' },
});
