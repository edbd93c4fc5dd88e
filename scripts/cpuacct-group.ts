// A cpuacct cgroup (v1) of a measuring script's own: the script joins it, and everything it starts afterwards
// (criu, the clones, a fork template and its children) inherits it, since prebake moves instances in the
// memory, pids, freezer and cpu hierarchies only. Without cgroup v1 cpuacct, usageNs() is NaN.
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

const CPUACCT = '/sys/fs/cgroup/cpuacct';

export interface CpuacctGroup {
  /** CPU (ns) of the script and everything it started since it joined. */
  usageNs(): Promise<number>;
  /** Moves the script back to the root and removes the group. */
  leave(): Promise<void>;
}

export async function joinCpuacctGroup(name: string): Promise<CpuacctGroup> {
  const group = path.join(CPUACCT, `${name}-${process.pid}`);
  const joined = await mkdir(group).then(
    () => writeFile(path.join(group, 'cgroup.procs'), String(process.pid)).then(() => true),
    () => false,
  );
  return {
    usageNs: async () => (joined ? Number(await readFile(path.join(group, 'cpuacct.usage'), 'utf8')) : Number.NaN),
    async leave() {
      if (!joined) return;
      await writeFile(path.join(CPUACCT, 'cgroup.procs'), String(process.pid));
      await rmdir(group);
    },
  };
}
