// Moving a process into a cgroup (a write to cgroup.procs) takes the kernel's global cgroup_threadgroup_rwsem
// for writing. By default that percpu semaphore lets its readers (every fork and exit on the host) run lock-free,
// and a writer pays for it with an RCU grace period: ~11 ms on these VMs whenever no other migration happened in
// the last grace period or two, which is every instance start at a human request rate (measured: docs/SANDBOX.md,
// "Cost"). The kernel's `favordynmods` cgroup mount option (Linux 6.0) flips the semaphore to its
// writer-friendly mode for the whole host: a migration then costs ~0.06 ms, and forks and exits pay an atomic
// operation instead of a per-CPU one. A serverless host migrates on every start, so prebake asks for it:
// - cgroup v2: `favordynmods` is a remount option of the unified hierarchy (Documentation/admin-guide/cgroup-v2.rst),
//   given with the mount's other options;
// - cgroup v1: a hierarchy's options cannot change on remount, so prebake mounts a named hierarchy of its own with
//   no controllers and the option (the semaphore is global: one such hierarchy serves every controller).
// PREBAKE_CGROUP_FAVORDYNMODS=0 leaves the host as it is (starts are then ~10 ms slower, bimodal).
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { allOptions, type MountEntry, ownMounts } from '../files/mountinfo.ts';

/** Where prebake mounts its named v1 hierarchy (no controllers, no processes of its own). */
export const FAVOR_HIERARCHY_DIR = '/run/prebake/cgroup-favordynmods';
const FAVOR_HIERARCHY_NAME = 'prebake-favordynmods';

export type MigrationMode =
  /** A cgroup mount has favordynmods: migrations are cheap. */
  | 'fast'
  /** Left as it is (PREBAKE_CGROUP_FAVORDYNMODS=0, or the mount was refused: e.g. a container without it). */
  | 'slow';

export interface MigrationState {
  mode: MigrationMode;
  /** What was done or why not, for doctor. */
  detail: string;
}

/** True when some cgroup mount in `mounts` carries favordynmods. */
export function favorsDynamicMods(mounts: MountEntry[]): boolean {
  return mounts.some((mount) => (mount.fsType === 'cgroup' || mount.fsType === 'cgroup2') && allOptions(mount).includes('favordynmods'));
}

/** The options of the cgroup2 mount at `root` in `mounts`, if there is one. */
export function cgroup2Options(mounts: MountEntry[], root: string): string | undefined {
  const mount = mounts.find((entry) => entry.fsType === 'cgroup2' && entry.mountPoint === root);
  return mount && allOptions(mount).join(',');
}

/**
 * The `mount` invocation that turns favordynmods on for a host with cgroup `version` mounted at `root`. On v2
 * the remount repeats the mount's current options (`currentOptions`), so that systemd's `nsdelegate` and
 * `memory_recursiveprot` stay whatever the remount's semantics (util-linux 2.38 on Linux 6.18 keeps them on a
 * bare `remount,favordynmods` too: verified on this VM's empty /sys/fs/cgroup/unified).
 */
export function favorCommand(version: 1 | 2, root: string, currentOptions = 'rw'): string[] {
  return version === 2
    ? ['-o', `remount,${currentOptions},favordynmods`, root]
    : ['-t', 'cgroup', '-o', `none,name=${FAVOR_HIERARCHY_NAME},favordynmods`, 'cgroup', FAVOR_HIERARCHY_DIR];
}

/**
 * Makes cgroup migrations cheap on this host if they are not already (see above); never throws: on a host that
 * refuses, instances still start, only slower, and `detail` says why.
 */
export function favorDynamicMods(version: 1 | 2, root: string, env: NodeJS.ProcessEnv = process.env): MigrationState {
  if (favorsDynamicMods(ownMounts())) return { mode: 'fast', detail: 'favordynmods is on' };
  if (env.PREBAKE_CGROUP_FAVORDYNMODS === '0') return { mode: 'slow', detail: 'favordynmods left off (PREBAKE_CGROUP_FAVORDYNMODS=0)' };
  try {
    if (version === 1) mkdirSync(FAVOR_HIERARCHY_DIR, { recursive: true, mode: 0o755 });
    execFileSync('mount', favorCommand(version, root, cgroup2Options(ownMounts(), root)), { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    return { mode: 'slow', detail: `cannot turn favordynmods on (${stderr || (error as Error).message})` };
  }
  return favorsDynamicMods(ownMounts())
    ? {
        mode: 'fast',
        detail:
          version === 2
            ? `favordynmods turned on (${root} remounted)`
            : `favordynmods turned on (named hierarchy at ${FAVOR_HIERARCHY_DIR})`,
      }
    : { mode: 'slow', detail: 'the kernel did not take favordynmods (Linux 6.0 or later has it)' };
}
