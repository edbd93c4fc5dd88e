// The root of an instance's view: a host directory holding only mount points, a few /etc files and symlinks,
// bound read-only as `/` by the launcher and given to `criu restore --root`. Named by its content, made once
// (in a temp dir, renamed into place, so a concurrent maker sees all of it or none) and shared by every
// instance whose view has the same shape. A bind of it, unlike a tmpfs root, costs criu nothing to restore.
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { INSTANCE_ID, type SandboxMount, type SandboxPlan } from './sandbox-plan.ts';

// /etc files copied from the host: name resolution and the time zone.
const ETC_COPIES = ['/etc/hosts', '/etc/resolv.conf', '/etc/nsswitch.conf', '/etc/host.conf'];
const USR_LINKS = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];

interface SkeletonContent {
  dirs: string[];
  files: Record<string, string>;
  symlinks: Record<string, string>;
}

async function skeletonContent(mounts: SandboxMount[]): Promise<SkeletonContent> {
  const dirs = ['proc', 'tmp', 'dev', 'etc'];
  const files: Record<string, string> = {
    // Who the instance is, for runtimes that look their user up (the JVM's user.home).
    'etc/passwd': `root:x:0:0:root:/root:/usr/sbin/nologin\nsbx_user:x:${INSTANCE_ID}:${INSTANCE_ID}:function instance:/tmp:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
    'etc/group': `root:x:0:\nsbx_user:x:${INSTANCE_ID}:\nnogroup:x:65534:\n`,
  };
  const symlinks: Record<string, string> = {
    'dev/fd': '/proc/self/fd',
    'dev/stdin': '/proc/self/fd/0',
    'dev/stdout': '/proc/self/fd/1',
    'dev/stderr': '/proc/self/fd/2',
  };
  for (const host of ETC_COPIES) {
    const text = await readFile(host, 'utf8').catch(() => undefined);
    if (text !== undefined) files[host.slice(1)] = text;
  }
  const zone = await readlink('/etc/localtime').catch(() => undefined);
  if (zone) symlinks['etc/localtime'] = zone;
  for (const name of USR_LINKS) {
    const target = await readlink(`/${name}`).catch(() => undefined);
    if (target) symlinks[name] = target;
  }
  for (const mount of mounts) {
    const relative = mount.target.slice(1);
    if (mount.file) files[relative] = '';
    else dirs.push(relative);
  }
  return { dirs, files, symlinks };
}

const made = new Map<string, Promise<string>>();

const planned = new Map<string, Promise<string>>();

/**
 * The skeleton for `mounts` under `sandboxDir` (made when missing); returns its path. Once per process and
 * shape: the host's /etc files are read at the first start of each (a daemon picks up a changed
 * /etc/resolv.conf when it restarts).
 */
export function ensureSkeleton(sandboxDir: string, mounts: SandboxMount[]): Promise<string> {
  const shape = JSON.stringify([sandboxDir, mounts]);
  let root = planned.get(shape);
  if (!root) {
    root = skeletonFor(sandboxDir, mounts);
    planned.set(shape, root);
    root.catch(() => planned.delete(shape));
  }
  return root;
}

async function skeletonFor(sandboxDir: string, mounts: SandboxMount[]): Promise<string> {
  const content = await skeletonContent(mounts);
  const key = createHash('sha256').update(JSON.stringify(content)).digest('hex').slice(0, 16);
  const root = path.join(sandboxDir, `root-${key}`);
  let making = made.get(root);
  if (!making) {
    making = makeSkeleton(sandboxDir, root, content);
    made.set(root, making);
    making.catch(() => made.delete(root));
  }
  return making;
}

async function makeSkeleton(sandboxDir: string, root: string, content: SkeletonContent): Promise<string> {
  if (await stat(root).then(() => true, () => false)) return root;
  await mkdir(sandboxDir, { recursive: true });
  const temp = await mkdtemp(path.join(sandboxDir, `.making-${process.pid}-`));
  try {
    for (const dir of content.dirs) await mkdir(path.join(temp, dir), { recursive: true, mode: 0o755 });
    for (const [file, text] of Object.entries(content.files)) {
      await mkdir(path.dirname(path.join(temp, file)), { recursive: true, mode: 0o755 });
      await writeFile(path.join(temp, file), text, { mode: 0o644 });
    }
    for (const [link, target] of Object.entries(content.symlinks)) await symlink(target, path.join(temp, link));
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
  if (await stat(plan.root).then((s) => s.isDirectory(), () => false)) {
    present.add(plan.root);
    return plan.root;
  }
  return ensureSkeleton(sandboxDir, plan.mounts);
}
