// Homes for daemons that come and go under an orchestrator (`prebake serve --task-homes DIR`). A rolling update
// runs the next daemon beside the one it replaces, on the same node and the same volume; two daemons on one
// home would sweep each other's work dirs and each pull its own version of a declared function into it. So each
// daemon gets a home of its own under DIR and holds it with a lock while it runs; a starting daemon removes the
// homes that no running daemon holds (their daemon went with its container), so the volume does not fill up.
// The lock is proper-lockfile's (a directory whose mtime its holder renews): it works across the containers
// sharing a volume, which do not see each other's processes.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import lockfile from 'proper-lockfile';

const LOCK_NAME = 'daemon.lock';
// A holder renews its lock every STALE_MS / 2; one that missed that long (stopped, or its container gone) is dead.
const STALE_MS = 60_000;
const HOME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}-[0-9a-f]{8}$/;

const lockOptions = (home: string) => ({ realpath: false, lockfilePath: path.join(home, LOCK_NAME), stale: STALE_MS });

export interface TaskHome {
  home: string;
  /** Homes of daemons gone, removed at the start. */
  removed: string[];
  release(): Promise<void>;
}

/**
 * Makes a home of this daemon's own under `root` (named after the host name, which is the container's id under
 * Docker, plus a random part), holds it, and removes the homes under `root` that nobody holds.
 * `onLost` hears when the lock could not be renewed (a volume that stopped answering): the daemon keeps
 * serving, but another may then take the home for dead.
 */
export async function takeTaskHome(root: string, onLost: (error: Error) => void): Promise<TaskHome> {
  const name = `${os
    .hostname()
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .slice(0, 64)}-${randomBytes(4).toString('hex')}`;
  const home = path.join(root, name);
  await mkdir(home, { recursive: true, mode: 0o711 });
  const release = await lockfile.lock(home, { ...lockOptions(home), onCompromised: onLost });
  const removed: string[] = [];
  for (const entry of await readdir(root, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name === name || !HOME_PATTERN.test(entry.name)) continue;
    const other = path.join(root, entry.name);
    // A home made in the last minute may belong to a daemon between its mkdir and its lock.
    const made = await stat(other).then(
      (s) => s.mtimeMs,
      () => 0,
    );
    if (Date.now() - made < STALE_MS) continue;
    if (await lockfile.check(other, lockOptions(other)).catch(() => true)) continue;
    await rm(other, { recursive: true, force: true });
    removed.push(other);
  }
  return { home, removed, release };
}
