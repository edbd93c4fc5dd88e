// An instance's sandbox as data (bubblewrap's shape: plan, then execute). One plan yields the launcher's
// arguments (native/prebake-exec.c), criu's --external lists for dump and restore, and the skeleton that is
// the view's root (skeleton.ts). docs/SANDBOX.md says what an instance sees and why.
import { lstatSync, readdirSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { isInside } from '../files/inside.ts';
import type { FunctionSpec, NetworkMode } from '../manifest/schema.ts';
import { NATIVE_BUILD_DIR, PACKAGE_ROOT } from '../paths.ts';
import type { RuntimeCommand } from '../runtimes/runtime.ts';

/** Where things are inside every instance's view. The host directories behind them move; these never do. */
export const VIEW = {
  /** The function's code, read-only (as Lambda's /var/task). */
  code: '/var/task',
  /** What the runtime prepared for it (compiled classes), read-only. */
  prepared: '/var/prepared',
  /** prebake's shims and native helpers, read-only. */
  runtime: '/var/runtime',
  /** Other files a command reads (RuntimeCommand.readOnlyPaths), read-only. */
  extra: '/var/extra',
  tmp: '/tmp',
  proc: '/proc',
} as const;

// Host ids of instances: 0..65535 inside map to these outside (CRIU-NOTES "Sandbox": host uid 100000), for
// images built before each function had a block of its own (SandboxPlan.hostIdBase, launch/host-ids.ts).
export const HOST_ID_BASE = 100000;
/** The uid and gid an instance runs as, inside its user namespace (its host id base + this outside). */
export const INSTANCE_ID = 1000;

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

export interface SandboxMount {
  /** ro-bind: read-only; dev-bind: a device node, writable (/dev/null). */
  kind: 'ro-bind' | 'dev-bind';
  source: string;
  /** Absolute path inside the view. */
  target: string;
  /** The source is a file (its mount point in the skeleton is an empty file). */
  file: boolean;
}

/**
 * Something the view's root (the skeleton) holds itself rather than a bind: a copy of a small host tree, or a
 * device node. Every mount costs at each start and restore (criu re-creates each one in every clone), so what is
 * small and fixed for the life of a prebake installation is copied once into the skeleton instead.
 */
export interface RootEntry {
  kind: 'copy' | 'device';
  source: string;
  /** Absolute path inside the view. */
  target: string;
}

export interface SandboxPlan {
  /** Host directory that is the view's root (read-only): mount points, /etc files, symlinks, RootEntry copies. */
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

// The host's top-level directories that merged-/usr distributions make symlinks into /usr.
export const USR_LINKS = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];
const DEVICES = ['/dev/null', '/dev/zero', '/dev/random', '/dev/urandom'];

/**
 * What the view holds of the host's /etc, copied into the skeleton (a copy costs nothing at restore, a bind costs
 * every start), without what others cannot read (/etc/ssl/private). Names relative to /etc; `*` ends a prefix.
 * Found by tracing each runtime's imports (strace of python3 with numpy, ssl, mimetypes, locale, zoneinfo; java
 * with TimeZone, SSLContext, probeContentType; node with tls, Intl, dns): docs/SANDBOX.md.
 */
export const ETC_COPIES = [
  // Names and addresses (glibc's resolver, getservbyname).
  'hosts',
  'resolv.conf',
  'host.conf',
  'nsswitch.conf',
  'gai.conf',
  'services',
  'protocols',
  // Time zone and locale (the zone files are under /usr/share/zoneinfo).
  'localtime',
  'timezone',
  'locale.alias',
  'default/locale',
  // The dynamic loader, and Debian's alternatives: /usr/lib/x86_64-linux-gnu/libblas.so.3 links through them.
  'ld.so.cache',
  'ld.so.conf',
  'ld.so.conf.d',
  'alternatives',
  // CA certificates (certs/ links into /usr/share/ca-certificates; Java's cacerts is under it), MIME types,
  // the distribution's name (a link into /usr/lib).
  'ssl',
  'mime.types',
  'os-release',
  // The runtimes' own configuration: the JVM reads it through links from its prefix, Debian's python3 its
  // sitecustomize.py.
  'java-*',
  'python3*',
];

/** Files the skeleton writes itself: who the instance is, for runtimes that look their user up (the JVM's user.home). */
export const SKELETON_FILES: Record<string, string> = {
  '/etc/passwd': `root:x:0:0:root:/root:/usr/sbin/nologin\nsbx_user:x:${INSTANCE_ID}:${INSTANCE_ID}:function instance:/tmp:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
  '/etc/group': `root:x:0:\nsbx_user:x:${INSTANCE_ID}:\nnogroup:x:65534:\n`,
};

/** Symbolic links the skeleton holds besides USR_LINKS. */
export const SKELETON_LINKS: Record<string, string> = {
  '/dev/fd': '/proc/self/fd',
  '/dev/stdin': '/proc/self/fd/0',
  '/dev/stdout': '/proc/self/fd/1',
  '/dev/stderr': '/proc/self/fd/2',
};

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

/** ETC_COPIES as the host's paths that exist, in order. */
function etcPaths(): string[] {
  const names = readdirSync('/etc');
  return ETC_COPIES.flatMap((entry) => (entry.endsWith('*') ? names.filter((name) => name.startsWith(entry.slice(0, -1))).sort() : [entry]))
    .map((name) => `/etc/${name}`)
    .filter((file) => lstatSync(file, { throwIfNoEntry: false }) !== undefined);
}

// A link into /usr (localtime, os-release) is copied as a link: the view has /usr. One elsewhere (resolv.conf
// into /run on systemd-resolved hosts) is copied as what it leads to.
function copySource(file: string): string {
  if (!lstatSync(file).isSymbolicLink()) return file;
  try {
    const real = realpathSync(file);
    return isInside(real, '/usr') ? file : real;
  } catch {
    return file; // a dangling link stays one
  }
}

// The host's /etc as the view copies it, read once per process like the skeleton's content (skeleton.ts): a
// readdir and a stat of each entry on every plan, every cold start among them, would find the same.
let etcEntries: RootEntry[] | undefined;

/**
 * What the skeleton holds for every instance: prebake's shims and native helpers, the host's /etc as ETC_COPIES
 * says, and the devices, as nodes of its own where the store's filesystem allows them (`devicesInRoot`), else as
 * binds (sandboxMounts).
 */
export function sandboxRootEntries(devicesInRoot: boolean): RootEntry[] {
  etcEntries ??= etcPaths().map((target) => ({ kind: 'copy', source: copySource(target), target }));
  const entries: RootEntry[] = [
    { kind: 'copy', source: path.join(PACKAGE_ROOT, 'src', 'runtimes'), target: path.join(VIEW.runtime, 'src', 'runtimes') },
    { kind: 'copy', source: NATIVE_BUILD_DIR, target: path.join(VIEW.runtime, 'native', 'build') },
    ...etcEntries,
  ];
  if (devicesInRoot) for (const device of DEVICES) entries.push({ kind: 'device', source: device, target: device });
  return entries;
}

/**
 * The binds of an instance of `fn` started with `command`: with sandboxRootEntries, every path the command
 * names must be among them.
 */
export function sandboxMounts(fn: FunctionSpec, preparedDir: string, command: RuntimeCommand, devicesInRoot: boolean): SandboxMount[] {
  const mounts: SandboxMount[] = [{ kind: 'ro-bind', source: '/usr', target: '/usr', file: false }];
  for (const name of USR_LINKS) {
    const host = `/${name}`;
    const stat = statSync(host, { throwIfNoEntry: false });
    // A symlink into /usr is recreated in the skeleton; a real directory (no merged /usr) is bound.
    if (stat?.isDirectory() && realpathSync(host) === host) mounts.push({ kind: 'ro-bind', source: host, target: host, file: false });
  }
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
  if (!devicesInRoot) for (const device of DEVICES) mounts.push({ kind: 'dev-bind', source: device, target: device, file: true });
  return mounts;
}

/** The function's own host paths (function.json "readOnlyPaths", checked by read-only-paths.ts), at their host path. */
export function readOnlyMounts(fn: Pick<FunctionSpec, 'readOnlyPaths'>): SandboxMount[] {
  return (fn.readOnlyPaths ?? []).map((target) => {
    const source = realpathSync(target);
    return { kind: 'ro-bind', source, target, file: statSync(source).isFile() };
  });
}

/** A host path and where the view has it: a bind (SandboxMount) or a copy in the root (RootEntry). */
export type ViewEntry = Pick<SandboxMount, 'source' | 'target'>;

/** Everything `plan`'s view holds from the host. */
export function viewEntries(plan: Pick<SandboxPlan, 'mounts' | 'rootEntries'>): ViewEntry[] {
  return [...plan.mounts, ...(plan.rootEntries ?? [])];
}

/** Maps a host path the command names to where it is inside the view; paths outside the view are kept. */
export function toViewPath(mounts: ViewEntry[], hostPath: string): string {
  let best: ViewEntry | undefined;
  for (const mount of mounts) {
    if (isInside(hostPath, mount.source) && (!best || mount.source.length > best.source.length)) best = mount;
  }
  return best ? path.join(best.target, path.relative(best.source, hostPath)) : hostPath;
}

/**
 * Whether `viewPath` (absolute, inside the view) is something the instance can see: under a bind or a copy, its
 * /tmp or /proc, or one of the skeleton's own files and links (a link is there; where it leads is another path).
 */
export function isInView(mounts: ViewEntry[], viewPath: string): boolean {
  if (isInside(viewPath, VIEW.tmp) || isInside(viewPath, VIEW.proc)) return true;
  if (viewPath in SKELETON_FILES || viewPath in SKELETON_LINKS || USR_LINKS.some((name) => viewPath === `/${name}`)) return true;
  return mounts.some((mount) => isInside(viewPath, mount.target));
}

/** The command with every host path it names (alone or in a `:` list, as a classpath) mapped into the view. */
export function commandInView(mounts: ViewEntry[], command: RuntimeCommand): RuntimeCommand {
  const map = (arg: string) =>
    arg
      .split(path.delimiter)
      .map((part) => (path.isAbsolute(part) ? toViewPath(mounts, part) : part))
      .join(path.delimiter);
  return { ...command, argv: command.argv.map(map) };
}

/** criu's key for a mount: its place in the view, as a word. */
function externalKey(target: string): string {
  return `view${target.replaceAll('/', '_')}`;
}

/** The launcher's command line (native/prebake-exec.c) for `argv` in this sandbox. */
export function launcherArgs(plan: SandboxPlan, argv: string[], waitFd?: number): string[] {
  const args = ['--root', plan.root, '--uid-base', String(namespaceRootHostId(plan)), '--uid', String(INSTANCE_ID), '--chdir', plan.cwd];
  // "outbound" too: the image's namespace holds only lo, so every clone is alike; egress is attached per instance.
  if (plan.network !== 'host') args.push('--net-none');
  if (waitFd !== undefined) args.push('--wait-fd', String(waitFd));
  args.push('--user-namespaces', plan.userNamespaces ?? 'allow');
  for (const mount of plan.mounts) args.push(`--${mount.kind}`, mount.source, mount.target);
  args.push('--proc', VIEW.proc, '--tmpfs', VIEW.tmp, String(plan.tmpMb), '--', ...argv);
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
