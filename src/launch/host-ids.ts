// Host ids per function (issue 18 §1): every function of every prebake home on a host gets a block of 65536
// host ids of its own, so that no two functions share a host uid even if a namespace leaked. Per function, not
// per instance: criu restores a user namespace's maps from the image, so every clone of an image has the
// build's; and one block per instance would mean an image per instance.
//
// The blocks are claimed in a host-wide registry (homes must not share one either): `index-N` (N the block,
// created with O_EXCL, so that two processes never get one block) names its owner, and `owner-<hash of home
// and name>` (also O_EXCL) names the block, so that two builds of one function racing get the same block.
// A block is kept while its function's directory exists in its home; a claim whose home or function is gone
// (an hour after it was made: a build makes the function's directory after claiming) is taken back by the
// next claim.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PrebakeError } from '../errors.ts';
import { HOST_ID_BASE, ID_BLOCK } from './sandbox-plan.ts';

export { ID_BLOCK };

// Above the block every instance shared before (HOST_ID_BASE..+65535), and below 2^32-1 (the invalid id).
const FIRST_BASE = HOST_ID_BASE + ID_BLOCK * 2;
const BLOCKS = Math.floor((2 ** 32 - 2 - FIRST_BASE) / ID_BLOCK);
const STALE_AFTER_MS = 60 * 60 * 1000;

/** The registry's directory: PREBAKE_HOST_IDS_DIR, else /var/lib/prebake-host-ids (root's, 0700). */
export function hostIdRegistry(): string {
  return process.env.PREBAKE_HOST_IDS_DIR ?? '/var/lib/prebake-host-ids';
}

interface Owner {
  home: string;
  name: string;
}

const known = new Map<string, number>();

/**
 * The first host id of function `name` of the home `home`: its block, claimed at its first call. A registry
 * root cannot write, or one with every block claimed, is PREBAKE_ERR_SPAWN: no instance can start without ids.
 */
export async function hostIdBase(home: string, name: string): Promise<number> {
  try {
    return await claimedBase(home, name);
  } catch (error) {
    throw new PrebakeError(
      'PREBAKE_ERR_SPAWN',
      `function "${name}": cannot claim host ids in ${hostIdRegistry()}: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
        hint: 'the registry must be a directory root can write (PREBAKE_HOST_IDS_DIR moves it); `prebake rm` frees the blocks of functions no longer used (an hour later)',
      },
    );
  }
}

async function claimedBase(home: string, name: string): Promise<number> {
  const owner: Owner = { home: await realpath(home), name };
  const text = JSON.stringify(owner);
  const cached = known.get(text);
  if (cached !== undefined) return cached;
  const registry = hostIdRegistry();
  await mkdir(registry, { recursive: true, mode: 0o700 });
  const ownerFile = ownerFileOf(registry, text);
  let index = await readIndex(ownerFile);
  if (index === undefined) {
    const claimed = await claimBlock(registry, text);
    try {
      await writeFile(ownerFile, String(claimed), { flag: 'wx', mode: 0o600 });
      index = claimed;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // Another process claimed a block for this function first: theirs it is.
      await rm(path.join(registry, `index-${claimed}`), { force: true });
      index = await readIndex(ownerFile);
      if (index === undefined) throw new Error(`${ownerFile} names no block`);
    }
  }
  const base = FIRST_BASE + index * ID_BLOCK;
  known.set(text, base);
  return base;
}

function ownerFileOf(registry: string, ownerText: string): string {
  return path.join(registry, `owner-${createHash('sha256').update(ownerText).digest('hex').slice(0, 32)}`);
}

async function readIndex(ownerFile: string): Promise<number | undefined> {
  const text = await readFile(ownerFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  return text === undefined ? undefined : Number(text);
}

/** The lowest free block (taking back stale ones), claimed for `ownerText`. */
async function claimBlock(registry: string, ownerText: string): Promise<number> {
  const used = new Set((await readdir(registry)).filter((name) => name.startsWith('index-')).map((name) => Number(name.slice(6))));
  for (let index = 0; index < BLOCKS; index++) {
    const file = path.join(registry, `index-${index}`);
    if (used.has(index) && !(await takeBackIfStale(registry, file))) continue;
    try {
      await writeFile(file, ownerText, { flag: 'wx', mode: 0o600 });
      return index;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  throw new Error(`every block of host ids in ${registry} is claimed`);
}

/** Removes the claim in `file` when its function is gone from its home; true when it did. */
async function takeBackIfStale(registry: string, file: string): Promise<boolean> {
  let owner: Owner;
  try {
    const [text, info] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
    if (Date.now() - info.mtimeMs < STALE_AFTER_MS) return false;
    owner = JSON.parse(text) as Owner;
  } catch {
    return false; // half-written or just taken back by another process: leave it
  }
  if (
    await stat(path.join(owner.home, 'functions', owner.name)).then(
      () => true,
      () => false,
    )
  )
    return false;
  // The owner's name for the block first, so that no lookup finds a block on its way to another function;
  // then the block, renamed away, so that of two processes taking it back only one frees it.
  await rm(ownerFileOf(registry, JSON.stringify(owner)), { force: true });
  const moved = `${file}.stale-${process.pid}`;
  if (
    !(await rename(file, moved).then(
      () => true,
      () => false,
    ))
  )
    return false;
  await rm(moved, { force: true });
  return true;
}
