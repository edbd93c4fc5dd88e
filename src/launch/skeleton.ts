// The root of an instance's view: a host directory holding what the plan's operations say the root holds
// (view-ops.ts: files, links, copies, device nodes, a mount point for each mount), bound read-only as `/` by the
// launcher and given to `criu restore --root`. Named by its content, made once (in a temp dir, renamed into
// place, so a concurrent maker sees all of it or none) and shared by every instance whose view has the same
// shape. A bind of it, unlike a tmpfs root, costs criu nothing to restore.
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { chmod, cp, lstat, mkdir, mkdtemp, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { readableByOthers } from '../files/readable-by-others.ts';
import { deviceNumbers, hostFacts, once, treeStamps } from './host-facts.ts';
import type { SandboxPlan } from './sandbox-plan.ts';
import { isMount, rootPath, type ViewOp, viewOps } from './view-ops.ts';

const run = promisify(execFile);

// What an instance could read through a bind is what a copy holds: a directory or file that others cannot
// read on the host (/etc/ssl/private) stays out (readableByOthers), as host-facts.ts leaves out a whole entry.
async function copyReadable(source: string, target: string): Promise<void> {
  await cp(source, target, {
    recursive: true,
    verbatimSymlinks: true,
    preserveTimestamps: true,
    filter: async (file) => {
      const info = await lstat(file);
      return info.isSymbolicLink() || readableByOthers(info.mode, info.isDirectory());
    },
  });
}

async function writeOp(temp: string, op: ViewOp): Promise<void> {
  const target = path.join(temp, op.target);
  await mkdir(path.dirname(target), { recursive: true, mode: 0o755 });
  if (isMount(op)) {
    if ('file' in op && op.file) await writeFile(target, '', { mode: 0o644 });
    else await mkdir(target, { recursive: true, mode: 0o755 });
    return;
  }
  switch (op.kind) {
    case 'file':
      await writeFile(target, op.content, { mode: op.mode });
      return;
    case 'symlink':
      await symlink(op.link, target);
      return;
    case 'copy':
      await copyReadable(op.source, target);
      return;
    case 'device': {
      const { major, minor } = deviceNumbers(op.source);
      await rm(target, { force: true });
      await run('mknod', ['-m', '0666', target, 'c', String(major), String(minor)]);
    }
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

async function makeRoot(root: string, view: ViewOp[]): Promise<string> {
  if (await exists(root)) {
    // Used now: the sweep of unused skeletons leaves one alone for an hour after (store/unreferenced.ts).
    const now = new Date();
    await utimes(root, now, now).catch(() => {});
    return root;
  }
  const sandboxDir = path.dirname(root);
  await mkdir(sandboxDir, { recursive: true });
  const temp = await mkdtemp(path.join(sandboxDir, `.making-${process.pid}-`));
  try {
    for (const op of view) await writeOp(temp, op);
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

const made = new Map<string, Promise<string>>();

/**
 * Makes the root `root` (SandboxPlan.root) of a view whose operations are `view`, when missing; once per process
 * and root, and again if it was swept since (store/unreferenced.ts: no image named it, unused for an hour).
 */
export async function ensureRoot(root: string, view: ViewOp[]): Promise<string> {
  if (statSync(await once(made, root, () => makeRoot(root, view)), { throwIfNoEntry: false })) return root;
  made.delete(root);
  return once(made, root, () => makeRoot(root, view));
}

const present = new Set<string>();

/**
 * The root to restore `plan` into: its own, checked once per process, or made again (under `sandboxDir`, for
 * this host's view of the same shape) when it is gone. A restore's hot path pays one stat the first time only.
 */
export async function restoreRoot(sandboxDir: string, plan: SandboxPlan): Promise<string> {
  if (present.has(plan.root)) return plan.root;
  if (await exists(plan.root)) {
    present.add(plan.root);
    return plan.root;
  }
  const view = viewOps(plan, await hostFacts(sandboxDir));
  const copies = view.flatMap((op) => (op.kind === 'copy' ? [op.source] : []));
  return ensureRoot(rootPath(sandboxDir, view, await treeStamps(copies)), view);
}
