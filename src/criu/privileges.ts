// What criu needs from the process that runs it, read from /proc/self/status: capabilities, and for a dump no
// seccomp filter. Kept apart from the check itself so that the reasoning (which capability covers which) is tested
// without needing a container that lacks one.

/** Capabilities criu cannot work without here (bit numbers from linux/capability.h). */
export const REQUIRED_CAPS: readonly [string, number][] = [
  ['CAP_SYS_ADMIN', 21], // namespaces, mounts, PTRACE_O_SUSPEND_SECCOMP
  ['CAP_SYS_PTRACE', 19], // seizing the tree to dump, and the restored one to resume
  // Restoring a socket's buffer sizes uses SO_SNDBUFFORCE / SO_RCVBUFFORCE: without it restores fail
  // (seen in a container given only CAP_SYS_ADMIN and CAP_SYS_PTRACE).
  ['CAP_NET_ADMIN', 12],
  // criu restores a tree into a time namespace of its own and sets its clock offsets, so that monotonic time
  // does not jump back: "Unable to set a monotonic clock offset" without it.
  ['CAP_SYS_TIME', 25],
];
const CAP_CHECKPOINT_RESTORE = 40;

export interface PrivilegeReport {
  ok: boolean;
  detail: string;
}

/** Judges the `CapEff` and `Seccomp` lines of a /proc/<pid>/status text, for a process running as `uid`. */
export function judgePrivileges(status: string, uid: number | undefined): PrivilegeReport {
  if (uid !== 0) return { ok: false, detail: 'prebake must run as root (criu needs it)' };
  const caps = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? '0'}`);
  const has = (bit: number) => (caps & (1n << BigInt(bit))) !== 0n;
  const missing = REQUIRED_CAPS.filter(([, bit]) => !has(bit)).map(([name]) => name);
  if (missing.length) {
    return { ok: false, detail: `missing ${missing.join(', ')}: in Docker, run with --privileged or --cap-add ALL (docs/DAEMON.md)` };
  }
  const names = REQUIRED_CAPS.map(([name]) => name).join(', ');
  // CAP_CHECKPOINT_RESTORE (Linux 5.9) only narrows what CAP_SYS_ADMIN already grants criu; Docker 20.10 does
  // not know it and cannot grant it, and everything works without it.
  return has(CAP_CHECKPOINT_RESTORE)
    ? { ok: true, detail: `root with ${names}, CAP_CHECKPOINT_RESTORE` }
    : { ok: true, detail: `root with ${names} (CAP_CHECKPOINT_RESTORE is not held: CAP_SYS_ADMIN covers it)` };
}

/**
 * Why criu cannot dump from a process with this /proc/<pid>/status, or undefined. The kernel lets a tracer
 * suspend its tracee's seccomp filters (every instance has one: prebake-exec's) only when the tracer itself runs
 * under none (kernel/ptrace.c, ptrace_setoptions); otherwise every dump fails with "suspending seccomp failed".
 * Restores and plain starts are not affected: they run under the filter.
 */
export function dumpBlocker(status: string): string | undefined {
  const seccomp = Number(/^Seccomp:\s*(\d+)/m.exec(status)?.[1] ?? '0');
  if (seccomp === 0) return undefined;
  return (
    'prebake runs under a seccomp filter, so criu cannot dump (checkpoint) here; restores and plain starts work. ' +
    'In Docker, run with --security-opt seccomp=unconfined; under Swarm, which cannot lift the filter, build where it can be ' +
    'lifted, push, and declare the function by reference (docs/DEPLOY.md)'
  );
}
