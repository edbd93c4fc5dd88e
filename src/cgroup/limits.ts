// What the kernel enforces on an instance, from its function's manifest.
import type { FunctionSpec } from '../manifest/schema.ts';
import { DEFAULT_MAX_PROCESSES } from '../manifest/schema.ts';

export interface CgroupLimits {
  /** Every kind of memory of every process in the instance, swap excluded (none may be used). */
  memoryBytes: number;
  /** Processes and threads, as Lambda counts them. */
  maxProcesses: number;
  /** CPU time as a number of CPUs (0.5: half of one); none when unset. */
  cpus?: number;
}

// "outbound": slirp4netns in the instance's cgroup, and the child it forks for a moment to enter the
// instance's network namespace (one thread each): the function's own maxProcesses stays its own.
const OUTBOUND_HELPER_PROCESSES = 2;

// CFS bandwidth: the quota is counted per period; 100 ms is the kernel's default period.
export const CPU_PERIOD_US = 100_000;

export function instanceLimits(fn: FunctionSpec): CgroupLimits {
  return {
    memoryBytes: fn.memoryMb * 1024 * 1024,
    // Images built before maxProcesses existed carry a spec without it.
    maxProcesses: (fn.maxProcesses ?? DEFAULT_MAX_PROCESSES) + (fn.network === 'outbound' ? OUTBOUND_HELPER_PROCESSES : 0),
    ...(fn.cpus !== undefined && { cpus: fn.cpus }),
  };
}

export function cpuQuotaUs(cpus: number): number {
  return Math.max(1000, Math.round(cpus * CPU_PERIOD_US));
}
