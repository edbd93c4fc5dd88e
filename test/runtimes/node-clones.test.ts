// Node through the real path (build with criu dump, invoke by criu restore): every reference to Node's
// randomUUID yields fresh values in every clone, however the function or a library got hold of it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFunction } from '../../src/build/build.ts';
import { invokeFunction } from '../../src/invoke/invoke.ts';
import { loadFunction } from '../../src/manifest/load.ts';
import { addPackages, makeSandbox, type Sandbox } from '../helpers.ts';
import { expectAllDiffer, expectAllSame } from './clone-checks.ts';

let sandbox: Sandbox;
let dir: string;

beforeAll(async () => {
  sandbox = await makeSandbox();
  dir = await sandbox.addFunction('random-libraries-node');
  await addPackages(dir, ['uuid', 'nanoid']);
  await buildFunction(await loadFunction(dir), { store: sandbox.store, criu: sandbox.criu });
});

afterAll(async () => {
  try {
    await sandbox.expectClean();
  } finally {
    await sandbox.cleanup();
  }
});

const invoke = async (mode: 'prebaked' | 'cold') =>
  JSON.parse((await invokeFunction({ target: dir, event: '{}', mode }, sandbox.store, sandbox.criu)).result);

describe('node clones', () => {
  it('get fresh UUIDs from every reference to randomUUID, and share what a library seeded itself', async () => {
    const clones = await Promise.all([1, 2, 3, 4].map(() => invoke('prebaked')));
    expectAllDiffer(clones, ['importedUUID', 'requiredUUID', 'cryptoUUID', 'webcryptoUUID', 'uuidV4']);
    // nanoid@3 fills its own pool of random bytes at init: out of prebake's reach, documented in the README.
    expectAllSame(clones, ['nanoid']);
  });
});
