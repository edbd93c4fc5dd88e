// An instance's cgroup, in whichever hierarchy the host has: what it takes to join it, to tell an
// out-of-memory kill, and to end it as a whole. Its owner (an Instance, or a sweep of a dead predecessor's
// leftovers) ends it on every path.
import { rmdir } from 'node:fs/promises';
import path from 'node:path';
import { PrebakeError } from '../errors.ts';
import { pidsIn, waitUntil } from './files.ts';

// How long the processes of a killed cgroup may take to exit, and an emptied cgroup to be removable.
export const EMPTY_TIMEOUT_MS = 5_000;

export abstract class InstanceCgroup {
  /** The cgroup's name under prebake's parent: `<pid namespace inode>-<owner pid>-<random>`. */
  readonly name: string;
  /** Its directory in each hierarchy (v1: one per controller; v2: one). */
  readonly dirs: string[];
  private ending: Promise<void> | undefined;

  constructor(name: string, dirs: string[]) {
    this.name = name;
    this.dirs = dirs;
  }

  /** The files a child writes itself into before exec (SpawnOptions.cgroupProcs). */
  get procsFiles(): string[] {
    return this.dirs.map((dir) => path.join(dir, 'cgroup.procs'));
  }

  /** How many processes the kernel's OOM killer ended in this cgroup. */
  abstract oomKills(): number;

  /** SIGKILLs every process in the cgroup, whatever its state (stopped, ptraced, mid-fork). */
  protected abstract killEveryProcess(): Promise<void>;

  /** The same, synchronously, without waiting: the last resort when the controller exits. */
  abstract killNow(): void;

  /** The pids in the cgroup, in any of its hierarchies. */
  async processes(): Promise<number[]> {
    const lists = await Promise.all(this.procsFiles.map(pidsIn));
    return [...new Set(lists.flat())];
  }

  /** Kills every process, waits until none is left, and removes the cgroup. Idempotent. */
  end(): Promise<void> {
    this.ending ??= this.killAndRemove();
    return this.ending;
  }

  private async killAndRemove(): Promise<void> {
    if ((await this.processes()).length > 0) await this.killEveryProcess();
    const emptied = await waitUntil(async () => (await this.processes()).length === 0, EMPTY_TIMEOUT_MS);
    if (!emptied) {
      throw new PrebakeError(
        'PREBAKE_ERR_CGROUP',
        `cgroup ${this.name}: processes ${(await this.processes()).join(', ')} did not exit after SIGKILL`,
        {
          hint: 'a process stuck in the kernel (state D) cannot die until its I/O ends; the next prebake on this home sweeps the cgroup',
        },
      );
    }
    for (const dir of this.dirs) await removeDir(dir);
  }
}

// An empty cgroup can still be busy for a moment while the kernel lets go of its last task.
async function removeDir(dir: string): Promise<void> {
  let failure: NodeJS.ErrnoException | undefined;
  const removed = await waitUntil(async () => {
    try {
      await rmdir(dir);
      return true;
    } catch (error) {
      failure = error as NodeJS.ErrnoException;
      return failure.code === 'ENOENT';
    }
  }, EMPTY_TIMEOUT_MS);
  if (!removed) {
    throw new PrebakeError('PREBAKE_ERR_CGROUP', `cannot remove the cgroup ${dir}: ${failure?.message}`, { cause: failure });
  }
}
