// From samples to what a report shows: per arm, percentiles of each measure over its successful runs; per
// function, the speed-up of every other mode over the cold start.
import type { Sample } from './arms.ts';
import { type Summary, speedup, summarize } from './stats.ts';

/** One series of a bench: a function started one way, and what every run measured. */
export interface ArmResult {
  functionName: string;
  runtime: string;
  mode: string;
  samples: Sample[];
}

export interface ArmSummary {
  functionName: string;
  runtime: string;
  mode: string;
  runs: number;
  failures: number;
  startup?: Summary;
  e2e?: Summary;
  handler?: Summary;
  teardown?: Summary;
  rss?: Summary;
  pss?: Summary;
}

/** How much faster `mode` is than `baseline` (a ratio of durations: baseline / mode). */
export interface Speedup {
  functionName: string;
  baseline: string;
  mode: string;
  startupP50?: number;
  startupP95?: number;
  e2eP50?: number;
  e2eP95?: number;
}

function over(samples: Sample[], pick: (s: Sample) => number | undefined): Summary | undefined {
  return summarize(samples.map(pick).filter((v): v is number => v !== undefined && Number.isFinite(v)));
}

export function summarizeArm(arm: ArmResult): ArmSummary {
  const ok = arm.samples.filter((s) => s.ok);
  return {
    functionName: arm.functionName,
    runtime: arm.runtime,
    mode: arm.mode,
    runs: arm.samples.length,
    failures: arm.samples.length - ok.length,
    startup: over(ok, (s) => s.startMs),
    e2e: over(ok, (s) => s.e2eMs),
    handler: over(ok, (s) => s.handlerMs),
    teardown: over(ok, (s) => s.teardownMs),
    rss: over(ok, (s) => s.rssMb),
    pss: over(ok, (s) => s.pssMb),
  };
}

/** Speed-ups of every mode of a function over its `baseline` mode (cold unless told). */
export function speedups(summaries: ArmSummary[], baseline = 'cold'): Speedup[] {
  const found: Speedup[] = [];
  for (const base of summaries.filter((s) => s.mode === baseline)) {
    for (const other of summaries.filter((s) => s.functionName === base.functionName && s.mode !== baseline)) {
      found.push({
        functionName: base.functionName,
        baseline,
        mode: other.mode,
        // A warm instance has no start: no ratio of start times.
        startupP50: other.mode === 'warm' ? undefined : speedup(base.startup?.p50, other.startup?.p50),
        startupP95: other.mode === 'warm' ? undefined : speedup(base.startup?.p95, other.startup?.p95),
        e2eP50: speedup(base.e2e?.p50, other.e2e?.p50),
        e2eP95: speedup(base.e2e?.p95, other.e2e?.p95),
      });
    }
  }
  return found;
}
