import { PrebakeError } from '../errors.ts';

/**
 * How a bench starts each measured instance:
 * - cold: a plain start (spawn the runtime, run the function's init) for every invocation;
 * - prebaked: a fresh `criu restore` of the function's image for every invocation;
 * - warm: one instance started before the runs and reused (start time 0): the floor no start can beat;
 * - node-snapshot: a plain start of Node from a V8 startup snapshot of the function (Node functions only);
 * - pooled: a fresh clone taken from a clone pool (src/manager/clone-pool.ts) filled off the clock, and
 *   refilled between runs, off the clock too: what the daemon's start mode pooled costs while its pool lasts.
 * - fork: a fresh child of a fork template for every invocation, the template restored before the runs (Python
 *   functions only).
 */
export const BENCH_MODES = ['cold', 'prebaked', 'warm', 'node-snapshot', 'pooled', 'fork'] as const;
export type BenchMode = (typeof BENCH_MODES)[number];
export const DEFAULT_MODES: readonly BenchMode[] = ['cold', 'prebaked', 'warm'];

function isBenchMode(text: string): text is BenchMode {
  return (BENCH_MODES as readonly string[]).includes(text);
}

/** Parses "cold,prebaked,warm": known modes, no duplicates, at least one. */
export function parseModes(text: string): BenchMode[] {
  const modes: BenchMode[] = [];
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    if (!isBenchMode(part)) {
      throw new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `unknown bench mode "${part}"`, { hint: `modes: ${BENCH_MODES.join(', ')}` });
    }
    if (!modes.includes(part)) modes.push(part);
  }
  if (modes.length === 0) {
    throw new PrebakeError('PREBAKE_ERR_INVALID_INPUT', 'no bench mode given', { hint: `modes: ${BENCH_MODES.join(', ')}` });
  }
  return modes;
}
