// The root of an instance's view: a host directory holding only mount points, a few /etc files and symlinks,
// bound read-only as `/` by the launcher and given to `criu restore --root`. Named by its content, made once
// (in a temp dir, renamed into place, so a concurrent maker sees all of it or none) and shared by every
// instance whose view has the same shape. A bind of it, unlike a tmpfs root, costs criu nothing to restore.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { chmod, cp, lstat, mkdir, mkdtemp, open, readdir, readlink, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { readableByOthers } from '../files/readable-by-others.ts';
import { type RootEntry, type SandboxMount, type SandboxPlan, SKELETON_FILES, SKELETON_LINKS, USR_LINKS } from './sandbox-plan.ts';

const run = promisify(execFile);

interface SkeletonContent {
  dirs: string[];
  files: Record<string, string>;
  symlinks: Record<string, string>;
  /** Host trees copied in, each with a stamp of what it held (so a changed tree makes a new skeleton). */
  copies: Array<{ source: string; target: string; stamp: string }>;
  /** Device nodes: where, and the host device's major and minor numbers. */
  devices: Array<{ target: string; major: number; minor: number }>;
}

// What an instance could read through a bind is what a copy holds: a directory or file that others cannot
// read on the host (/etc/ssl/private) stays out (readableByOthers).

/** Path, type, size, mode and mtime of everything at and under `source` that a copy takes, as one hash. */
async function treeStamp(source: string): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (relative: string): Promise<void> => {
    const info = await lstat(path.join(source, relative));
    if (!info.isSymbolicLink() && !readableByOthers(info.mode, info.isDirectory())) return;
    hash.update(`${relative}\0${info.mode}\0${info.size}\0${info.mtimeMs}\n`);
    if (info.isDirectory()) for (const name of (await readdir(path.join(source, relative))).sort()) await walk(path.join(relative, name));
  };
  await walk('.');
  return hash.digest('hex').slice(0, 16);
}

async function skeletonContent(mounts: SandboxMount[], entries: RootEntry[]): Promise<SkeletonContent> {
  const dirs = ['proc', 'tmp', 'dev', 'etc'];
  const relative = (entries: Record<string, string>) =>
    Object.fromEntries(Object.entries(entries).map(([where, what]) => [where.slice(1), what]));
  const files = relative(SKELETON_FILES);
  const symlinks = relative(SKELETON_LINKS);
  for (const name of USR_LINKS) {
    const target = await readlink(`/${name}`).catch(() => undefined);
    if (target) symlinks[name] = target;
  }
  for (const mount of mounts) {
    if (mount.file) files[mount.target.slice(1)] = '';
    else dirs.push(mount.target.slice(1));
  }
  const copies: SkeletonContent['copies'] = [];
  const devices: SkeletonContent['devices'] = [];
  for (const entry of entries) {
    if (entry.kind === 'copy') {
      copies.push({ source: entry.source, target: entry.target, stamp: await treeStamp(entry.source) });
    } else {
      const { rdev } = statSync(entry.source);
      devices.push({ target: entry.target, major: (rdev >> 8) & 0xfff, minor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00) });
    }
  }
  return { dirs, files, symlinks, copies, devices };
}

/** `make()`'s promise for `key`, made once per process; a failure is forgotten, so that a later call tries again. */
function once<T>(cache: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  let value = cache.get(key);
  if (!value) {
    value = make();
    cache.set(key, value);
    value.catch(() => cache.delete(key));
  }
  return value;
}

const deviceProbes = new Map<string, Promise<boolean>>();

/**
 * Whether a device node made under `sandboxDir` works (host root with CAP_MKNOD, on a filesystem not mounted
 * nodev): then the skeleton holds /dev/null and the others itself, four mounts fewer per start. Once per process.
 */
export function devicesAllowed(sandboxDir: string): Promise<boolean> {
  return once(deviceProbes, sandboxDir, () => probeDevices(sandboxDir));
}

async function probeDevices(sandboxDir: string): Promise<boolean> {
  await mkdir(sandboxDir, { recursive: true });
  const dir = await mkdtemp(path.join(sandboxDir, `.probe-${process.pid}-`));
  try {
    const node = path.join(dir, 'null');
    await run('mknod', ['-m', '0666', node, 'c', '1', '3']);
    const file = await open(node, 'w');
    await file.write('x').finally(() => file.close());
    return true;
  } catch {
    return false;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const made = new Map<string, Promise<string>>();

const planned = new Map<string, Promise<string>>();

/**
 * The skeleton for `mounts` under `sandboxDir` (made when missing); returns its path. Once per process and
 * shape: the host's /etc files are read at the first start of each (a daemon picks up a changed
 * /etc/resolv.conf when it restarts).
 */
export async function ensureSkeleton(sandboxDir: string, mounts: SandboxMount[], entries: RootEntry[]): Promise<string> {
  const key = JSON.stringify([sandboxDir, mounts, entries]);
  const root = await once(planned, key, () => skeletonFor(sandboxDir, mounts, entries));
  if (statSync(root, { throwIfNoEntry: false })) return root;
  // Swept since (store/unreferenced.ts: no image named it and nothing used it for an hour): made again.
  planned.delete(key);
  made.delete(root);
  return once(planned, key, () => skeletonFor(sandboxDir, mounts, entries));
}

async function skeletonFor(sandboxDir: string, mounts: SandboxMount[], entries: RootEntry[]): Promise<string> {
  const content = await skeletonContent(mounts, entries);
  const key = createHash('sha256').update(JSON.stringify(content)).digest('hex').slice(0, 16);
  const root = path.join(sandboxDir, `root-${key}`);
  return once(made, root, () => makeSkeleton(sandboxDir, root, content));
}

async function makeSkeleton(sandboxDir: string, root: string, content: SkeletonContent): Promise<string> {
  if (
    await stat(root).then(
      () => true,
      () => false,
    )
  ) {
    // Used now: the sweep of unused skeletons leaves one alone for an hour after (store/unreferenced.ts).
    const now = new Date();
    await utimes(root, now, now).catch(() => {});
    return root;
  }
  await mkdir(sandboxDir, { recursive: true });
  const temp = await mkdtemp(path.join(sandboxDir, `.making-${process.pid}-`));
  try {
    for (const dir of content.dirs) await mkdir(path.join(temp, dir), { recursive: true, mode: 0o755 });
    for (const [file, text] of Object.entries(content.files)) {
      await mkdir(path.dirname(path.join(temp, file)), { recursive: true, mode: 0o755 });
      await writeFile(path.join(temp, file), text, { mode: 0o644 });
    }
    for (const [link, target] of Object.entries(content.symlinks)) await symlink(target, path.join(temp, link));
    for (const copy of content.copies) {
      const target = path.join(temp, copy.target);
      await mkdir(path.dirname(target), { recursive: true, mode: 0o755 });
      await cp(copy.source, target, {
        recursive: true,
        verbatimSymlinks: true,
        preserveTimestamps: true,
        filter: async (source) => {
          const info = await lstat(source);
          return info.isSymbolicLink() || readableByOthers(info.mode, info.isDirectory());
        },
      });
    }
    for (const device of content.devices) {
      const target = path.join(temp, device.target);
      await rm(target, { force: true });
      await run('mknod', ['-m', '0666', target, 'c', String(device.major), String(device.minor)]);
    }
    // Readable by the instance's uid, which owns nothing here.
    await chmod(temp, 0o755);
    await rename(temp, root).catch((error: NodeJS.ErrnoException) => {
      // Another process made the same skeleton first: theirs is as good as ours.
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
    });
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
  return root;
}

const present = new Set<string>();

/**
 * The root to restore `plan` into: its own, checked once per process, or made again (under `sandboxDir`) when
 * it is gone. A restore's hot path pays one stat the first time only.
 */
export async function restoreRoot(sandboxDir: string, plan: SandboxPlan): Promise<string> {
  if (present.has(plan.root)) return plan.root;
  if (
    await stat(plan.root).then(
      (s) => s.isDirectory(),
      () => false,
    )
  ) {
    present.add(plan.root);
    return plan.root;
  }
  return ensureSkeleton(sandboxDir, plan.mounts, plan.rootEntries ?? []);
}
