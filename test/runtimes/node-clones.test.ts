// Node through the real path (build with criu dump, invoke by criu restore): every reference to Node's
// randomUUID yields fresh values in every clone, however the function or a library got hold of it; what a
// library seeded itself at init (nanoid@3's pool) is named by the build's clone-uniqueness check.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuildResult, buildFunction } from '../../src/bake/build.ts';
import { invokeFunction } from '../../src/invoke/invoke.ts';
import { loadFunction } from '../../src/manifest/load.ts';
import { addPackages, makeSandbox, type Sandbox, settled } from '../helpers.ts';
import { expectAllDiffer, expectAllSame } from './clone-checks.ts';

let sandbox: Sandbox;
let dir: string;
let built: BuildResult;

const build = async (strict?: boolean) =>
  buildFunction(await loadFunction(dir), { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances, strict });

beforeAll(async () => {
  sandbox = await makeSandbox();
  dir = await sandbox.addFunction('random-libraries-node');
  await addPackages(dir, ['uuid', 'nanoid']);
  built = await build();
});

afterAll(() => sandbox.finish());

const invoke = async (mode: 'prebaked' | 'cold') =>
  JSON.parse((await invokeFunction({ target: dir, event: '{}', mode }, sandbox.store, sandbox.criu, sandbox.instances)).result);

describe('node clones', () => {
  it('get fresh UUIDs from every reference to randomUUID, and share what a library seeded itself', async () => {
    const clones = await Promise.all([1, 2, 3, 4].map(() => invoke('prebaked')));
    expectAllDiffer(clones, ['importedUUID', 'requiredUUID', 'cryptoUUID', 'webcryptoUUID', 'uuidV4']);
    // nanoid@3 fills its own pool of random bytes at init: out of prebake's reach, documented in the README.
    expectAllSame(clones, ['nanoid']);
    // uuid@9's v1() keeps the node id and clock sequence of its first call: whole UUIDs differ (the time moves), those parts do not.
    expectAllDiffer(clones, ['uuidV1']);
    expect(new Set(clones.map((clone) => clone.uuidV1.slice(19))).size).toBe(1);
  });
});

describe('the clone-uniqueness check at build', () => {
  it("names nanoid@3's pool and uuid v1's node and clock sequence, and only those, in a warning stored with the image", async () => {
    const sharedPaths = ['$.nanoid', '$.uuidV1 (uuid clock sequence)', '$.uuidV1 (uuid node)'];
    expect(built.meta.cloneCheck).toEqual({ sharedPaths });
    expect((await sandbox.store.get(built.meta.name))?.meta.cloneCheck).toEqual({ sharedPaths });
    expect(built.warnings).toHaveLength(1);
    expect(built.warnings[0]).toContain('$.nanoid');
    expect(built.warnings[0]).toContain('$.uuidV1 (uuid node)');
    expect(built.warnings[0]).toContain('afterRestore');
  });

  it('fails a --strict build with a typed error, keeping the image already published and leaving nothing behind', async () => {
    const error = await build(true).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'PREBAKE_ERR_CLONE_CHECK', functionName: built.meta.name });
    expect((error as Error).message).toContain('$.nanoid');
    expect((await sandbox.store.get(built.meta.name))?.meta.buildId).toBe(built.meta.buildId);
    expect(await settled(() => sandbox.processes())).toEqual([]);
    expect(await sandbox.tempDirs()).toEqual([]);
  });

  it('takes its probe event from function.json, and can be turned off there', async () => {
    const file = path.join(dir, 'function.json');
    const manifest = JSON.parse(await readFile(file, 'utf8'));
    await writeFile(file, JSON.stringify({ ...manifest, cloneCheck: false }));
    const off = await build(true);
    expect(off.meta.cloneCheck).toEqual({ sharedPaths: [], off: true });
    expect(off.warnings).toEqual([]);
    // A probe event the handler throws on: the check cannot compare, and warns instead of passing silently.
    await writeFile(file, JSON.stringify({ ...manifest, cloneCheck: { event: { fail: 'on purpose' } } }));
    const skipped = await build();
    expect(skipped.meta.cloneCheck?.skipped).toContain('on purpose');
    expect(skipped.warnings.join('\n')).toContain('could not run');
    await expect(build(true)).rejects.toMatchObject({ code: 'PREBAKE_ERR_CLONE_CHECK' });
  });
});
