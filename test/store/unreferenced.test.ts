// Skeletons and prepared dirs nothing needs go (src/store/unreferenced.ts); what an image names, what a view on
// the host is built on (a real bind in a real mount namespace), and what was used in the last hour stay.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureRoot } from '../../src/launch/skeleton.ts';
import { rootPath, viewOps } from '../../src/launch/view-ops.ts';
import type { ImageMeta } from '../../src/store/store.ts';
import { MIN_AGE_MS, sweepUnreferenced } from '../../src/store/unreferenced.ts';

const temps: string[] = [];
const holders: Array<ReturnType<typeof spawn>> = [];
afterEach(async () => {
  for (const holder of holders.splice(0)) holder.kill('SIGKILL');
  await Promise.all(temps.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function home(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'prebake-unreferenced-'));
  temps.push(dir);
  return dir;
}

/** A directory under `home`, last changed `ageMs` ago. */
async function dirAged(home: string, relative: string, ageMs: number): Promise<string> {
  const dir = path.join(home, relative);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'file'), 'x');
  const then = new Date(Date.now() - ageMs);
  await utimes(dir, then, then);
  return dir;
}

const metaNaming = (root: string, preparedDir: string) => ({ sandbox: { root }, preparedDir }) as unknown as ImageMeta;
const hex = (c: string) => c.repeat(16);
const OLD = 2 * MIN_AGE_MS;

describe('the sweep of unused skeletons and prepared dirs', () => {
  it('removes the old ones no image names, and keeps named, recent and foreign entries', async () => {
    const h = await home();
    await dirAged(h, `sandbox/root-${hex('a')}`, OLD);
    const named = await dirAged(h, `sandbox/root-${hex('b')}`, OLD);
    const recent = await dirAged(h, `sandbox/root-${hex('c')}`, MIN_AGE_MS / 2);
    await dirAged(h, 'sandbox/.making-999999999-Xy12', OLD); // a maker that died mid-way
    const foreign = await dirAged(h, 'sandbox/notes', OLD);
    await dirAged(h, `prepared/hello-java-${hex('d')}`, OLD);
    const namedPrepared = await dirAged(h, `prepared/hello-java-${hex('e')}`, OLD);

    const removed = await sweepUnreferenced(h, [metaNaming(named, namedPrepared)], { mounts: async () => [] });
    expect(removed).toBe(3);
    expect((await readdir(path.join(h, 'sandbox'))).sort()).toEqual(
      [path.basename(named), path.basename(recent), path.basename(foreign)].sort(),
    );
    expect(await readdir(path.join(h, 'prepared'))).toEqual([path.basename(namedPrepared)]);
  });

  it('keeps a skeleton a view on the host is built on, and removes it once that view is gone', async () => {
    const h = await home();
    const inUse = await dirAged(h, `sandbox/root-${hex('f')}`, OLD);
    // A mount namespace of its own with the skeleton bound in it, as an instance's view has.
    const holder = spawn(
      'unshare',
      ['--mount', '--propagation', 'private', 'sh', '-c', `mount --bind "$0" "$0/.." && echo ready && exec sleep 60`, inUse],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    holders.push(holder);
    await new Promise<void>((resolve, reject) => {
      holder.stdout!.once('data', () => resolve());
      holder.once('exit', (code) => reject(new Error(`the holder exited (${code})`)));
    });
    expect(await sweepUnreferenced(h, [])).toBe(0);
    expect(await readdir(path.join(h, 'sandbox'))).toEqual([path.basename(inUse)]);

    const exited = new Promise((resolve) => holder.once('exit', resolve));
    holder.kill('SIGKILL');
    await exited;
    expect(await sweepUnreferenced(h, [])).toBe(1);
    expect(await readdir(path.join(h, 'sandbox'))).toEqual([]);
  });

  it('a skeleton swept under a running prebake is made again at its next use', async () => {
    const h = await home();
    const sandboxDir = path.join(h, 'sandbox');
    const view = viewOps({ mounts: [], tmpMb: 16 }, { usrLinks: {} });
    const root = await ensureRoot(rootPath(sandboxDir, view, {}), view);
    await rm(root, { recursive: true, force: true });
    expect(await ensureRoot(root, view)).toBe(root);
    expect(await readdir(path.join(root, 'etc'))).toContain('passwd');
  });
});
