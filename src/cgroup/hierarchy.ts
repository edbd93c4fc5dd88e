// The host's cgroup hierarchy as prebake uses it: v1 (a hierarchy per controller) or v2 (unified), behind
// one interface. prebake only ever creates, limits, kills and removes cgroups under its own `prebake` parent.

import type { InstanceCgroup } from './instance-cgroup.ts';
import type { CgroupLimits } from './limits.ts';

export const PARENT_NAME = 'prebake';

/** Which of an instance's limits the kernel can enforce on this host. */
export interface Enforceable {
  memory: boolean;
  /** Swap counted in the memory limit (v1 memsw) or forbidden (v2 memory.swap.max). */
  swap: boolean;
  pids: boolean;
  cpu: boolean;
}

export interface CgroupHierarchy {
  readonly version: 1 | 2;
  /** Where the hierarchy is mounted (/sys/fs/cgroup). */
  readonly root: string;
  enforceable(): Enforceable;
  /** Creates the cgroup `name` under prebake's parent with `limits`; PREBAKE_ERR_CGROUP when it cannot. */
  create(name: string, limits: CgroupLimits): InstanceCgroup;
  /** The names of the cgroups under prebake's parent (ours and other prebake processes'). */
  names(): string[];
  /** An existing cgroup under prebake's parent, to end it (a sweep). */
  open(name: string): InstanceCgroup;
}
