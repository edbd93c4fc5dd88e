// Skeletons (<home>/sandbox/root-*, an instance view's root: launch/skeleton.ts) and prepared dirs
// (<home>/prepared/<name>-*, compiled classes) are named by their content and shared. A rebuild with new code,
// or a prebake whose shims changed, makes new ones and leaves the old (~2.5 MB a skeleton). One goes when no
// stored image names it, no view on the host is built on it (a plain start of a function directory uses
// one no image names), and nothing made or used it in the last hour (a start may be about to mount it).
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { isInside } from '../files/inside.ts';
import { type MountEntry, ownMounts } from '../files/mountinfo.ts';
import { mountsOfAllNamespaces } from '../launch/proc.ts';
import type { ImageMeta } from './store.ts';

export const MIN_AGE_MS = 60 * 60_000;

const SKELETON_NAME = /^(?:root-[0-9a-f]{16}|\.making-\d+-.+)$/;
const PREPARED_NAME = /^[a-z0-9][a-z0-9._-]{0,62}-[0-9a-f]{16}$/;

/** Where `file` is, as mountinfo names it: its filesystem's device and its path inside that filesystem. */
function fileSystemPath(file: string, own: MountEntry[]): { device: string; inside: string } | undefined {
  let best: MountEntry | undefined;
  for (const mount of own) {
    if (isInside(file, mount.mountPoint) && (!best || mount.mountPoint.length >= best.mountPoint.length)) best = mount;
  }
  if (!best) return undefined;
  return { device: best.device, inside: path.join(best.root, path.relative(best.mountPoint, file)) };
}

export interface SweepOptions {
  now?: number;
  /** The mounts of every namespace (tests give their own). */
  mounts?: () => Promise<MountEntry[]>;
}

/** Removes the skeletons and prepared dirs of `home` that nothing needs (see above); returns how many. */
export async function sweepUnreferenced(home: string, metas: ImageMeta[], options: SweepOptions = {}): Promise<number> {
  const now = options.now ?? Date.now();
  const named = new Set(metas.flatMap((meta) => [meta.sandbox.root, meta.preparedDir].map((dir) => path.resolve(dir))));
  const candidates: string[] = [];
  for (const [area, pattern] of [
    ['sandbox', SKELETON_NAME],
    ['prepared', PREPARED_NAME],
  ] as const) {
    for (const name of await readdir(path.join(home, area)).catch(() => [] as string[])) {
      const dir = path.join(home, area, name);
      if (!pattern.test(name) || named.has(dir)) continue;
      const info = await stat(dir).catch(() => undefined);
      if (info?.isDirectory() && now - info.mtimeMs >= MIN_AGE_MS) candidates.push(dir);
    }
  }
  if (candidates.length === 0) return 0;
  const own = ownMounts();
  const views = await (options.mounts ?? mountsOfAllNamespaces)();
  let removed = 0;
  for (const dir of candidates) {
    const where = fileSystemPath(dir, own);
    const inUse = !where || views.some((mount) => mount.device === where.device && isInside(mount.root, where.inside));
    if (inUse) continue;
    await rm(dir, { recursive: true, force: true });
    removed++;
  }
  return removed;
}
