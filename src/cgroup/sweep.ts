// cgroups left by a prebake process that died (kill -9, a crash) with instances running: their processes are
// killed, whatever state they are in, and the cgroups removed. A cgroup is a leftover when the pid in its
// name (see instanceCgroupName) is gone from our pid namespace.
import { processAlive } from '../store/store.ts';
import type { CgroupHierarchy } from './hierarchy.ts';
import { hostCgroups, PID_NAMESPACE } from './host.ts';

/** The owner's pid when `name` is an instance cgroup made in our pid namespace. */
export function cgroupOwner(name: string): number | undefined {
  const match = /^(\d+)-(\d+)-[0-9a-f]+$/.exec(name);
  return match && match[1] === PID_NAMESPACE ? Number(match[2]) : undefined;
}

/** Ends every leftover instance cgroup; returns how many. */
export async function sweepLeftoverCgroups(hierarchy: CgroupHierarchy | undefined = hostCgroups()): Promise<number> {
  if (!hierarchy) return 0;
  let swept = 0;
  for (const name of hierarchy.names()) {
    const owner = cgroupOwner(name);
    if (owner === undefined || processAlive(owner)) continue;
    await hierarchy.open(name).end();
    swept++;
  }
  return swept;
}
