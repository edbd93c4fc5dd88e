// An instance's view as a list of operations, in the order they build it (bubblewrap's SetupOp list): what the
// root holds (files, links, copies, device nodes, and a mount point for each mount), then the launcher's binds,
// proc and tmpfs. The skeleton (skeleton.ts) writes the first part, native/prebake-exec.c mounts the rest, and
// isInView answers from it: one list, printed by `prebake doctor --plan`.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { isInside } from '../files/inside.ts';
import type { RuntimeCommand } from '../runtimes/runtime.ts';
import type { HostFacts } from './host-facts.ts';
import { VIEW } from './view-places.ts';

/** The uid and gid an instance runs as, inside its user namespace (its host id base + this outside). */
export const INSTANCE_ID = 1000;

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

/** What a view's operations are made from: the stored part of a plan (SandboxPlan). */
export interface ViewShape {
  mounts: SandboxMount[];
  /** Absent in images built before the root held anything: they bind everything. */
  rootEntries?: RootEntry[];
  tmpMb: number;
}

export type ViewOp =
  /** Mounted by the launcher: ro-bind (read-only), dev-bind (a device node, writable). */
  | SandboxMount
  /** Held by the root: a copy of a host tree, or a device node of its own. */
  | RootEntry
  /** Written by the root itself. */
  | { kind: 'file'; target: string; content: string; mode: number }
  | { kind: 'symlink'; target: string; link: string }
  | { kind: 'proc'; target: string }
  | { kind: 'tmpfs'; target: string; sizeMb: number };

/** A host path and where the view has it (a bind or a copy). */
export type ViewEntry = Extract<ViewOp, { source: string }>;

/** Files the root holds: who the instance is, for runtimes that look their user up (the JVM's user.home). */
const ROOT_FILES: ViewOp[] = [
  {
    kind: 'file',
    target: '/etc/passwd',
    mode: 0o644,
    content: `root:x:0:0:root:/root:/usr/sbin/nologin\nsbx_user:x:${INSTANCE_ID}:${INSTANCE_ID}:function instance:/tmp:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
  },
  { kind: 'file', target: '/etc/group', mode: 0o644, content: `root:x:0:\nsbx_user:x:${INSTANCE_ID}:\nnogroup:x:65534:\n` },
];

const DEV_LINKS: ViewOp[] = [
  { kind: 'symlink', target: '/dev/fd', link: '/proc/self/fd' },
  { kind: 'symlink', target: '/dev/stdin', link: '/proc/self/fd/0' },
  { kind: 'symlink', target: '/dev/stdout', link: '/proc/self/fd/1' },
  { kind: 'symlink', target: '/dev/stderr', link: '/proc/self/fd/2' },
];

/** Every operation that builds the view of `plan` on a host with `host`'s merged-/usr links, in order. */
export function viewOps(plan: ViewShape, host: Pick<HostFacts, 'usrLinks'>): ViewOp[] {
  return [
    ...ROOT_FILES,
    ...Object.entries(host.usrLinks).map(([target, link]): ViewOp => ({ kind: 'symlink', target, link })),
    ...DEV_LINKS,
    ...(plan.rootEntries ?? []),
    ...plan.mounts,
    { kind: 'proc', target: VIEW.proc },
    { kind: 'tmpfs', target: VIEW.tmp, sizeMb: plan.tmpMb },
  ];
}

/** Whether `op` is a mount (the root holds only its mount point). */
export function isMount(op: ViewOp): op is Extract<ViewOp, { kind: 'ro-bind' | 'dev-bind' | 'proc' | 'tmpfs' }> {
  return op.kind === 'ro-bind' || op.kind === 'dev-bind' || op.kind === 'proc' || op.kind === 'tmpfs';
}

/**
 * Whether `viewPath` (absolute, inside the view) is something the instance can see: a file, link or device of
 * the root (a link is there; where it leads is another path), or anything under a copy or a mount.
 */
export function isInView(view: ViewOp[], viewPath: string): boolean {
  return view.some((op) =>
    op.kind === 'file' || op.kind === 'symlink' || op.kind === 'device' ? viewPath === op.target : isInside(viewPath, op.target),
  );
}

/** Maps a host path the command names to where it is inside the view; paths outside the view are kept. */
export function toViewPath(view: ViewOp[], hostPath: string): string {
  let best: ViewEntry | undefined;
  for (const op of view) {
    if ('source' in op && isInside(hostPath, op.source) && (!best || op.source.length > best.source.length)) best = op;
  }
  return best ? path.join(best.target, path.relative(best.source, hostPath)) : hostPath;
}

/** The command with every host path it names (alone or in a `:` list, as a classpath) mapped into the view. */
export function commandInView(view: ViewOp[], command: RuntimeCommand): RuntimeCommand {
  const map = (arg: string) =>
    arg
      .split(path.delimiter)
      .map((part) => (path.isAbsolute(part) ? toViewPath(view, part) : part))
      .join(path.delimiter);
  return { ...command, argv: command.argv.map(map) };
}

/**
 * What the root of `view` holds, as data: its own operations (copies with `stamps` of what they held), and a
 * mount point for each mount (only where, not what: views of one shape share a root).
 */
export function rootContent(view: ViewOp[], stamps: Record<string, string>): unknown[] {
  return view.map((op) => {
    if (op.kind === 'copy') return { ...op, stamp: stamps[op.source] ?? '' };
    if (isMount(op)) return { kind: 'mount-point', target: op.target, file: 'file' in op && op.file };
    return op;
  });
}

/** The root of `view` under `sandboxDir`: named by its content, so that a changed content is another root. */
export function rootPath(sandboxDir: string, view: ViewOp[], stamps: Record<string, string>): string {
  const key = createHash('sha256')
    .update(JSON.stringify(rootContent(view, stamps)))
    .digest('hex')
    .slice(0, 16);
  return path.join(sandboxDir, `root-${key}`);
}
