// The host-wide registry of host id blocks (src/launch/host-ids.ts), in a registry of the test's own.
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'prebake-host-ids-'));
  vi.stubEnv('PREBAKE_HOST_IDS_DIR', path.join(root, 'registry'));
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await rm(root, { recursive: true, force: true });
});

/** A fresh copy of the module: its in-process cache would hide what the registry says. */
async function fresh() {
  vi.resetModules();
  return import('../../src/launch/host-ids.ts');
}

async function home(name: string, functions: string[] = []): Promise<string> {
  const dir = path.join(root, name);
  for (const fn of functions) await mkdir(path.join(dir, 'functions', fn), { recursive: true });
  await mkdir(dir, { recursive: true });
  return dir;
}

describe('host id blocks', () => {
  it('give one function one block, across processes racing, and another function or home another', async () => {
    const [a, b] = [await home('a', ['f', 'g']), await home('b', ['f'])];
    const racing = await Promise.all([1, 2, 3, 4].map(async () => (await fresh()).hostIdBase(a, 'f')));
    expect(new Set(racing).size).toBe(1);
    const { hostIdBase, ID_BLOCK } = await fresh();
    const others = [await hostIdBase(a, 'g'), await hostIdBase(b, 'f')];
    const all = [racing[0]!, ...others];
    expect(new Set(all).size).toBe(3);
    for (const base of all) for (const other of all) if (other !== base) expect(Math.abs(other - base)).toBeGreaterThanOrEqual(ID_BLOCK);
    // The racers' extra claims were given back: one block per function.
    expect((await readdir(path.join(root, 'registry'))).filter((n) => n.startsWith('index-'))).toHaveLength(3);
  });

  it('take back the block of a function gone from its home, an hour after its claim, and never a live one', async () => {
    const c = await home('c', ['live']);
    const { hostIdBase } = await fresh();
    const gone = await hostIdBase(c, 'gone');
    const live = await hostIdBase(c, 'live');
    const registry = path.join(root, 'registry');
    const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
    for (const file of await readdir(registry)) await utimes(path.join(registry, file), old, old);
    const next = await (await fresh()).hostIdBase(c, 'new');
    // The lowest free block: the gone function's (blocks of the first test come first).
    expect(next).toBe(gone);
    expect(await (await fresh()).hostIdBase(c, 'live')).toBe(live);
  });
});

describe('a registry root cannot write', () => {
  it('is PREBAKE_ERR_SPAWN naming the function and the registry', async () => {
    const file = path.join(root, 'not-a-directory');
    await writeFile(file, '');
    vi.stubEnv('PREBAKE_HOST_IDS_DIR', path.join(file, 'registry'));
    try {
      const error = await (await fresh()).hostIdBase(await home('d'), 'f').catch((e: unknown) => e);
      // By its code: the module was imported afresh, with a PrebakeError class of its own.
      expect((error as { code?: string }).code).toBe('PREBAKE_ERR_SPAWN');
      expect((error as Error).message).toMatch(/function "f": cannot claim host ids in .*not-a-directory\/registry/);
    } finally {
      vi.stubEnv('PREBAKE_HOST_IDS_DIR', path.join(root, 'registry'));
    }
  });
});
