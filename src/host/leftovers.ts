// Instances that a previous daemon (or CLI) on this home left running when it died (kill -9, a crash): criu
// restores, `prebake-exec` launchers and restored PID-namespace inits. They are found by their command lines, which
// name the home or a function's directory, and are leftovers only when whoever started them is gone.
import path from 'node:path';
import { sweepLeftoverCgroups } from '../cgroup/sweep.ts';
import { descendants, isNodeProcess, listProcesses, type ProcessInfo } from '../launch/proc.ts';
import type { ImageStore } from '../store/store.ts';
import { sweepUnreferenced } from '../store/unreferenced.ts';

/** Something prebake starts for an instance: prebake-exec, criu, or an instance's root. */
function isInstanceProcess(info: ProcessInfo): boolean {
  const names = info.argv.map((arg) => path.basename(arg));
  if (names.includes('prebake-exec')) return true;
  if (names.some((name) => name === 'criu') && info.argv.some((arg) => arg === 'restore' || arg === 'dump' || arg === 'lazy-pages'))
    return true;
  return info.namespaceInit;
}

/**
 * Kills leftover instances whose command line mentions one of `marks` (the home, the functions' source
 * directories). An instance is left over when the process above it is no longer a Node process (prebake):
 * the CLI or daemon that owned it died and it was re-parented. Returns how many process trees were killed.
 */
export async function killLeftoverInstances(marks: string[]): Promise<number> {
  const all = await listProcesses();
  const mentions = (info: ProcessInfo) => info.argv.some((arg) => marks.some((mark) => arg.includes(mark)));
  const ours = new Set([...all.values()].filter((info) => mentions(info) && isInstanceProcess(info)).map((info) => info.pid));

  let killed = 0;
  for (const pid of ours) {
    const info = all.get(pid)!;
    // Only the top of each tree of ours decides; its descendants go with it.
    if (ours.has(info.ppid)) continue;
    if (await isNodeProcess(info.ppid)) continue;
    for (const victim of [pid, ...descendants(pid, all)]) {
      try {
        process.kill(victim, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    killed++;
  }
  return killed;
}

/**
 * Sweeps what a dead daemon or CLI left on `store`'s home: its instances' cgroups (ending every process in
 * them), instances outside any cgroup (by the home and the built functions' directories), then its work dirs;
 * and the skeletons and prepared dirs that no image names and nothing uses (store/unreferenced.ts).
 * Every daemon start and every CLI command on the home runs it, so that a SIGKILL'd `prebake invoke` leaves
 * nothing for long.
 */
export async function sweepLeftovers(store: ImageStore): Promise<{ cgroups: number; killed: number; removedDirs: number }> {
  const metas = await store.list();
  const cgroups = await sweepLeftoverCgroups(store.home);
  // An imported function's directory is a path its bundle named: never a reason to kill anything here.
  const sourceDirs = metas.filter((meta) => meta.importedAt === undefined).map((meta) => meta.spec.dir);
  const killed = await killLeftoverInstances([store.home, ...sourceDirs]);
  const removedDirs = (await store.sweep()) + (await sweepUnreferenced(store.home, metas));
  return { cgroups, killed, removedDirs };
}
