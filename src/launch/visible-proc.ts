// A user namespace may mount a new proc only while its mount namespace holds a proc that is fully visible: one
// mounted whole, read-write, with nothing mounted over its files (fs/namespace.c, mount_too_revealing). A
// container runtime masks parts of the container's /proc (Docker: /proc/keys, /proc/sys read-only, ...), so every
// sandbox would fail to mount its own. Where the orchestrator cannot lift the masks (a Swarm service has no
// `systempaths=unconfined`), prebake mounts a second, unmasked proc of its own PID namespace where only root can
// reach it. Allowed because the container's mount namespace belongs to the initial user namespace; the
// instances never see it (their view is pivoted away from the container's root).
import { mkdir, readFile } from 'node:fs/promises';
import { execa } from 'execa';
import { type MountEntry, parseMountinfo } from '../files/mountinfo.ts';

export const VISIBLE_PROC_DIR = '/run/prebake/proc';

// Mounts the kernel makes inside every proc (an empty, permanent directory), which do not hide anything.
const HARMLESS_CHILDREN = new Set(['binfmt_misc']);

/** A proc mount a user namespace's new proc may be measured against: whole, read-write, nothing over it. */
export function fullyVisibleProc(mounts: MountEntry[]): MountEntry | undefined {
  return mounts.find(
    (mount) =>
      mount.fsType === 'proc' &&
      mount.root === '/' &&
      mount.mountOptions.includes('rw') &&
      !mounts.some(
        (child) => child !== mount && child.mountPoint.startsWith(`${mount.mountPoint}/`) && !HARMLESS_CHILDREN.has(child.fsType),
      ),
  );
}

export interface VisibleProc {
  /** Where a fully visible proc is; undefined when there is none and none could be mounted. */
  mountPoint?: string;
  /** True when prebake mounted it (the container masks /proc). */
  mounted: boolean;
  /** Why instances cannot mount their own proc here, with what to do. */
  problem?: string;
}

let ensured: Promise<VisibleProc> | undefined;

/**
 * Finds a fully visible proc, or mounts one at VISIBLE_PROC_DIR; once per process. Never throws: where neither
 * works, every sandbox fails to start with prebake-exec's own message, and `problem` says why ahead of time.
 */
export function ensureVisibleProc(): Promise<VisibleProc> {
  ensured ??= (async () => {
    const found = fullyVisibleProc(parseMountinfo(await readFile('/proc/self/mountinfo', 'utf8')));
    if (found) return { mountPoint: found.mountPoint, mounted: false };
    await mkdir(VISIBLE_PROC_DIR, { recursive: true, mode: 0o700 });
    const result = await execa('mount', ['-t', 'proc', '-o', 'rw,nosuid,nodev,noexec', 'proc', VISIBLE_PROC_DIR], { reject: false });
    if (result.exitCode === 0) return { mountPoint: VISIBLE_PROC_DIR, mounted: true };
    return {
      mounted: false,
      problem:
        `/proc is masked (a container's masked paths), so no sandbox can mount its own proc, and a whole proc could not ` +
        `be mounted at ${VISIBLE_PROC_DIR}: ${result.stderr.trim() || `mount exited ${result.exitCode}`}; run the container ` +
        'with --security-opt systempaths=unconfined, or with CAP_SYS_ADMIN and no AppArmor profile that denies mount (docs/DEPLOY.md)',
    };
  })();
  return ensured;
}
