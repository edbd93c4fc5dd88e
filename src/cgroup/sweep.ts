// cgroups left by a prebake process that died (kill -9, a crash) with instances running: their processes are
// killed, whatever state they are in, and the cgroups removed. A cgroup is a leftover when the pid in its
// name (see instanceCgroupName) is gone from our pid namespace. One that still holds processes is swept only
// by a prebake on the home it served (its tag in the name): another home's daemon or CLI sweeps its own.
import { processAlive } from '../process-alive.ts';
import type { CgroupHierarchy } from './hierarchy.ts';
import { homeTag, hostCgroups, pidNamespace } from './host.ts';

/** Who made the instance cgroup `name`, when it was made in our pid namespace. */
export function cgroupOwner(name: string): { pid: number; homeTag: string } | undefined {
  const match = /^(\d+)-(\d+)-([0-9a-f]{8})-[0-9a-f]+$/.exec(name);
  return match && match[1] === pidNamespace() ? { pid: Number(match[2]), homeTag: match[3]! } : undefined;
}

/** Ends every leftover instance cgroup of `home`, and every empty one; returns how many. */
export async function sweepLeftoverCgroups(home: string, hierarchy: CgroupHierarchy | undefined = hostCgroups()): Promise<number> {
  if (!hierarchy) return 0;
  const tag = homeTag(home);
  let swept = 0;
  for (const name of hierarchy.names()) {
    const owner = cgroupOwner(name);
    if (owner === undefined || processAlive(owner.pid)) continue;
    const cgroup = hierarchy.open(name);
    if (owner.homeTag !== tag && (await cgroup.processes()).length > 0) continue;
    await cgroup.end();
    swept++;
  }
  return swept;
}
