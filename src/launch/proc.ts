// Reading processes from /proc: the one place that knows its file formats (mountinfo: files/mountinfo.ts). Launching, restoring, sweeping
// leftovers, the bench's memory figures, scripts and tests all ask here.
import { readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { type MountEntry, mountsOf } from '../files/mountinfo.ts';

export interface ProcessInfo {
  pid: number;
  ppid: number;
  argv: string[];
  /** Init of a PID namespace below ours (a function instance's root). */
  namespaceInit: boolean;
}

/** One process, or undefined when it is gone (or went while being read). */
export async function readProcess(pid: number): Promise<ProcessInfo | undefined> {
  try {
    const [cmdline, status] = await Promise.all([readFile(`/proc/${pid}/cmdline`, 'utf8'), readFile(`/proc/${pid}/status`, 'utf8')]);
    const ppid = Number(/^PPid:\s*(\d+)/m.exec(status)?.[1]);
    const nspid = /^NSpid:\s*(.+)$/m.exec(status)?.[1]?.trim().split(/\s+/) ?? [];
    return { pid, ppid, argv: cmdline.split('\0').filter(Boolean), namespaceInit: nspid.length > 1 && nspid.at(-1) === '1' };
  } catch {
    return undefined;
  }
}

/** Every process on the host but this one, by PID. */
export async function listProcesses(): Promise<Map<number, ProcessInfo>> {
  const all = new Map<number, ProcessInfo>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const info = await readProcess(Number(entry));
    if (info) all.set(info.pid, info);
  }
  return all;
}

/** The PIDs below `root` in `all` (children, their children, ...). */
export function descendants(root: number, all: Map<number, ProcessInfo>): number[] {
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const info of all.values()) {
      if (info.ppid === parent) {
        found.push(info.pid);
        queue.push(info.pid);
      }
    }
  }
  return found;
}

/** The children of process `pid` (of all its threads), by the kernel's own list; empty when it is gone. */
export async function childrenOf(pid: number): Promise<number[]> {
  const children: number[] = [];
  for (const task of await readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const text = await readFile(`/proc/${pid}/task/${task}/children`, 'utf8').catch(() => '');
    for (const child of text.trim().split(/\s+/)) if (child) children.push(Number(child));
  }
  return children;
}

/** The first child of the main thread of `pid` (the one child of unshare, or of criu mid-restore). */
export async function firstChild(pid: number): Promise<number | undefined> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  const child = Number(text.trim().split(/\s+/)[0]);
  return Number.isInteger(child) && child > 0 ? child : undefined;
}

/** `pid` and every process below it, found through the kernel's children lists. */
export async function processTree(rootPid: number): Promise<number[]> {
  const found: number[] = [];
  const pending = [rootPid];
  while (pending.length > 0) {
    const pid = pending.pop()!;
    found.push(pid);
    pending.push(...(await childrenOf(pid)));
  }
  return found;
}

/** The thread IDs of `pid` that are being traced (by criu, while it restores); empty when it is gone. */
export async function tracedThreads(pid: number): Promise<string[]> {
  const traced: string[] = [];
  for (const tid of await readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const status = await readFile(`/proc/${pid}/task/${tid}/status`, 'utf8').catch(() => '');
    const tracer = /^TracerPid:\s*(\d+)/m.exec(status)?.[1];
    if (tracer !== undefined && tracer !== '0') traced.push(tid);
  }
  return traced;
}

/** Whether `pid` runs a node binary (prebake's controller, or a Node instance). */
export async function isNodeProcess(pid: number): Promise<boolean> {
  return path.basename(await readlink(`/proc/${pid}/exe`).catch(() => '')).startsWith('node');
}

/** A field of /proc/<pid>/status in kB (VmRSS, ...), NaN when absent. */
export async function statusKb(pid: number, field: string): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(new RegExp(`^${field}:\\s*(\\d+)`, 'm').exec(status)?.[1] ?? Number.NaN);
}

/** CPU time of one process (user + system), in ms; the clock tick is 100 Hz on Linux. */
export async function processCpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // Fields after the command name (in parentheses, which may hold spaces): utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The mounts of every mount namespace on the host (one process's view each): what instances' views are made of. */
export async function mountsOfAllNamespaces(): Promise<MountEntry[]> {
  const seen = new Set<string>();
  const mounts: MountEntry[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const namespace = await readlink(`/proc/${entry}/ns/mnt`).catch(() => undefined);
    if (!namespace || seen.has(namespace)) continue;
    const namespaceMounts = await mountsOf(Number(entry));
    if (namespaceMounts === undefined) continue;
    seen.add(namespace);
    mounts.push(...namespaceMounts);
  }
  return mounts;
}
