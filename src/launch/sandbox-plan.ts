// An instance's sandbox as data (bubblewrap's shape: plan, then execute). Planning is pure: what it reads of the
// host comes in as HostFacts (host-facts.ts). One plan yields its view's operations (view-ops.ts), the
// launcher's arguments (native/prebake-exec.c) and criu's --external lists for dump and restore; skeleton.ts
// makes its root. docs/SANDBOX.md says what an instance sees and why.
import { realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { isInside } from '../files/inside.ts';
import type { FunctionSpec, NetworkMode } from '../manifest/schema.ts';
import type { RuntimeCommand } from '../runtimes/runtime.ts';
import type { HostFacts } from './host-facts.ts';
import { INSTANCE_ID, isMount, type RootEntry, rootPath, type SandboxMount, type ViewOp, viewOps } from './view-ops.ts';
import { VIEW } from './view-places.ts';

// Host ids of instances: 0..65535 inside map to these outside (CRIU-NOTES "Sandbox": host uid 100000), for
// images built before each function had a block of its own (SandboxPlan.hostIdBase, launch/host-ids.ts).
export const HOST_ID_BASE = 100000;
/** Ids per function: 0..65535 inside its user namespaces (launch/host-ids.ts gives each function a block). */
export const ID_BLOCK = 65536;

/** The host id of the user namespace's root of an instance planned by `plan` (the image's group). */
export function namespaceRootHostId(plan: Pick<SandboxPlan, 'hostIdBase'>): number {
  return plan.hostIdBase ?? HOST_ID_BASE;
}

/** The host uid and gid an instance planned by `plan` runs as. */
export function instanceHostId(plan: Pick<SandboxPlan, 'hostIdBase'>): number {
  return namespaceRootHostId(plan) + INSTANCE_ID;
}

export type UserNamespacePolicy = 'deny' | 'fork' | 'allow';

/** Which new user namespaces an instance of `fn` may create (see SandboxPlan.userNamespaces). */
export function userNamespacePolicy(fn: Pick<FunctionSpec, 'runtime' | 'allowUserNamespaces'>): UserNamespacePolicy {
  if (fn.allowUserNamespaces) return 'allow';
  // Fork mode is Python's only (manifest/load.ts): a template clones each child into a user namespace.
  return fn.runtime === 'python' ? 'fork' : 'deny';
}

export interface SandboxPlan {
  /** Host directory that is the view's root (read-only): what viewOps says the root holds. */
  root: string;
  mounts: SandboxMount[];
  /** What the root holds itself (absent in images built before it did: they bind everything). */
  rootEntries?: RootEntry[];
  tmpMb: number;
  network: NetworkMode;
  /**
   * New user namespaces in the seccomp filter (native/prebake-exec.c): none, only a fork template's children's
   * (a Python instance, which may become a template), or any (the function opted in). Absent in images built
   * before: their filter allowed any.
   */
  userNamespaces?: UserNamespacePolicy;
  /** The function's first host id (launch/host-ids.ts): its user namespace's 0; absent before: HOST_ID_BASE. */
  hostIdBase?: number;
  /** The instance's working directory inside the view. */
  cwd: string;
}

const DEVICES = ['/dev/null', '/dev/zero', '/dev/random', '/dev/urandom'];

/** The installation prefix of a runtime binary (`<prefix>/bin/node`), unless it lies under /usr. */
function runtimePrefix(binary: string): string | undefined {
  let real: string;
  try {
    real = realpathSync(binary);
  } catch {
    return undefined; // not an absolute path or not installed: starting it reports the problem
  }
  const prefix = path.dirname(path.dirname(real));
  return isInside(prefix, '/usr') || prefix === '/' ? undefined : prefix;
}

/**
 * What the root holds for every instance on this host: prebake's shims and native helpers, the host's /etc as
 * ETC_COPIES says, and the devices, as nodes of its own where the host allows them (else binds: sandboxMounts).
 */
export function sandboxRootEntries(host: Pick<HostFacts, 'copies' | 'devicesInRoot'>): RootEntry[] {
  const copies = host.copies.map((copy): RootEntry => ({ kind: 'copy', ...copy }));
  const devices = host.devicesInRoot ? DEVICES.map((device): RootEntry => ({ kind: 'device', source: device, target: device })) : [];
  return [...copies, ...devices];
}

/**
 * The binds of an instance of `fn` started with `command`: with sandboxRootEntries, every path the command
 * names must be among them.
 */
export function sandboxMounts(
  host: Pick<HostFacts, 'usrDirs' | 'devicesInRoot'>,
  fn: FunctionSpec,
  preparedDir: string,
  command: RuntimeCommand,
): SandboxMount[] {
  const mounts: SandboxMount[] = [{ kind: 'ro-bind', source: '/usr', target: '/usr', file: false }];
  // A symlink into /usr is recreated in the root (HostFacts.usrLinks); a real directory (no merged /usr) is bound.
  for (const dir of host.usrDirs) mounts.push({ kind: 'ro-bind', source: dir, target: dir, file: false });
  const prefix = command.argv[0] ? runtimePrefix(command.argv[0]) : undefined;
  if (prefix) mounts.push({ kind: 'ro-bind', source: prefix, target: prefix, file: false });
  // Under a fixed directory, not at their host path: one under /tmp would be hidden by the instance's /tmp.
  (command.readOnlyPaths ?? []).forEach((extra, i) => {
    mounts.push({
      kind: 'ro-bind',
      source: extra,
      target: path.join(VIEW.extra, String(i), path.basename(extra)),
      file: statSync(extra).isFile(),
    });
  });
  mounts.push({ kind: 'ro-bind', source: fn.dir, target: VIEW.code, file: false });
  // Only a runtime that prepares something (Java's classes) names its prepared directory.
  if (command.argv.some((arg) => arg.split(path.delimiter).some((part) => isInside(part, preparedDir)))) {
    mounts.push({ kind: 'ro-bind', source: preparedDir, target: VIEW.prepared, file: false });
  }
  if (!host.devicesInRoot) for (const device of DEVICES) mounts.push({ kind: 'dev-bind', source: device, target: device, file: true });
  return mounts;
}

/** The function's own host paths (function.json "readOnlyPaths", checked by read-only-paths.ts), at their host path. */
export function readOnlyMounts(fn: Pick<FunctionSpec, 'readOnlyPaths'>): SandboxMount[] {
  return (fn.readOnlyPaths ?? []).map((target) => {
    const source = realpathSync(target);
    return { kind: 'ro-bind', source, target, file: statSync(source).isFile() };
  });
}

/**
 * The plan of an instance of `fn` with `mounts` and `rootEntries` on a host with `host`, its root under
 * `sandboxDir` (named by the content, not made: skeleton.ts ensureRoot does that).
 */
export function sandboxPlan(
  host: Pick<HostFacts, 'usrLinks' | 'stamps'>,
  sandboxDir: string,
  fn: FunctionSpec,
  view: Pick<SandboxPlan, 'mounts' | 'rootEntries'>,
  hostIdBase: number,
): SandboxPlan {
  const shape = { mounts: view.mounts, rootEntries: view.rootEntries, tmpMb: fn.tmpMb };
  return {
    root: rootPath(sandboxDir, viewOps(shape, host), host.stamps),
    ...shape,
    network: fn.network,
    userNamespaces: userNamespacePolicy(fn),
    hostIdBase,
    cwd: VIEW.code,
  };
}

/** The user namespace of an instance planned by `plan`: its ids inside, mapped to a block of host ids. */
export interface IdMapping {
  /** `0 <outside> <count>`, as /proc/<pid>/uid_map and gid_map read (the launcher writes both alike). */
  uidMap: { inside: 0; outside: number; count: number };
  uid: number;
  gid: number;
}

export function idMapping(plan: Pick<SandboxPlan, 'hostIdBase'>): IdMapping {
  return { uidMap: { inside: 0, outside: namespaceRootHostId(plan), count: ID_BLOCK }, uid: INSTANCE_ID, gid: INSTANCE_ID };
}

/** criu's key for a mount: its place in the view, as a word. */
function externalKey(target: string): string {
  return `view${target.replaceAll('/', '_')}`;
}

/** The launcher's command line (native/prebake-exec.c) for `argv` in the sandbox `plan` whose operations are `view`. */
export function launcherArgs(plan: SandboxPlan, view: ViewOp[], argv: string[], waitFd?: number): string[] {
  const args = ['--root', plan.root, '--uid-base', String(namespaceRootHostId(plan)), '--uid', String(INSTANCE_ID), '--chdir', plan.cwd];
  // "outbound" too: the image's namespace holds only lo, so every clone is alike; egress is attached per instance.
  if (plan.network !== 'host') args.push('--net-none');
  if (waitFd !== undefined) args.push('--wait-fd', String(waitFd));
  args.push('--user-namespaces', plan.userNamespaces ?? 'allow');
  for (const op of view.filter(isMount)) {
    if (op.kind === 'proc') args.push('--proc', op.target);
    else if (op.kind === 'tmpfs') args.push('--tmpfs', op.target, String(op.sizeMb));
    else args.push(`--${op.kind}`, op.source, op.target);
  }
  args.push('--', ...argv);
  return args;
}

/**
 * criu dump's --external list: every bind, and /tmp, whose content prebake keeps itself (see
 * native/prebake-restore.c for why criu does not).
 */
export function dumpExternals(plan: SandboxPlan): string[] {
  return [...plan.mounts.map((mount) => `mnt[${mount.target}]:${externalKey(mount.target)}`), `mnt[${VIEW.tmp}]:${TMP_EXTERNAL_KEY}`];
}

/** What a restore binds into the clone: each mount's host path under the key its dump recorded. */
export function restoreMounts(plan: SandboxPlan): Array<{ source: string; key: string }> {
  return plan.mounts.map((mount) => ({ source: mount.source, key: externalKey(mount.target) }));
}

/** criu's key for the instance's /tmp. */
export const TMP_EXTERNAL_KEY = 'tmp';

/** The plan's mounts with the function's own directories replaced (a published image's code may have moved). */
export function withFunctionDirs(plan: SandboxPlan, codeDir: string, preparedDir: string): SandboxPlan {
  return {
    ...plan,
    mounts: plan.mounts.map((mount) => {
      if (mount.target === VIEW.code) return { ...mount, source: codeDir };
      if (mount.target === VIEW.prepared) return { ...mount, source: preparedDir };
      return mount;
    }),
  };
}
