// An instance's memory, from the kernel's own accounting: /proc/<pid>/smaps_rollup of every process in the
// instance (its PID-namespace init and whatever the init started). RSS counts every resident page a process
// maps; PSS divides each shared page among the processes that map it, so a runtime binary's text shared by
// many plain starts weighs less in PSS, while the pages a restore read from the image are private to it.
import { readFile } from 'node:fs/promises';
import { processTree } from '../launch/proc.ts';

export interface InstanceMemory {
  /** Resident set size, in MB (10^6 bytes), summed over the instance's processes. */
  rssMb: number;
  /** Proportional set size, in MB (10^6 bytes), summed likewise. */
  pssMb: number;
  processes: number;
}

/** Reads the memory of the process tree rooted at `rootPid` (host PIDs). */
export async function readInstanceMemory(rootPid: number): Promise<InstanceMemory> {
  let rssKb = 0;
  let pssKb = 0;
  const pids = await processTree(rootPid);
  for (const pid of pids) {
    const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
    rssKb += field(rollup, 'Rss');
    pssKb += field(rollup, 'Pss');
  }
  return { rssMb: (rssKb * 1024) / 1e6, pssMb: (pssKb * 1024) / 1e6, processes: pids.length };
}

function field(rollup: string, name: string): number {
  const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(rollup);
  return match ? Number(match[1]) : 0;
}
