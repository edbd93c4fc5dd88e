// Small synchronous and polling helpers over cgroup interface files, shared by the v1 and v2 drivers.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

export function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

export function writeText(file: string, value: string): void {
  writeFileSync(file, value);
}

export function has(file: string): boolean {
  return existsSync(file);
}

/** The pids a cgroup.procs file lists (none when it is gone). */
export async function pidsIn(procsFile: string): Promise<number[]> {
  const text = await readFile(procsFile, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map(Number);
}

export function pidsInSync(procsFile: string): number[] {
  return (readText(procsFile) ?? '').split('\n').filter(Boolean).map(Number);
}

/** `key N` from a flat-keyed file (memory.events, memory.oom_control, cgroup.events); 0 when absent. */
export function keyedValue(text: string | undefined, key: string): number {
  const match = new RegExp(`^${key} (\\d+)$`, 'm').exec(text ?? '');
  return match ? Number(match[1]) : 0;
}

export function killAllSync(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Polls `done` every few ms until it holds or `timeoutMs` passes; returns whether it held. */
export async function waitUntil(done: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  for (;;) {
    if (await done()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 50);
  }
}
