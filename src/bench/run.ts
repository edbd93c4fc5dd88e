// The run loop. Arms are interleaved run by run (run i measures every arm once before run i + 1 starts), so
// that drift on a shared machine (another tenant's load, the page cache, CPU frequency) hits every arm alike
// rather than whichever happened to run during it. The order within a run rotates by one each run, so no arm
// always follows the same other arm (a restore right after a cold start finds different caches than one after
// a restore). Warm-up runs go first and are not recorded.
import type { Arm, Sample } from './arms.ts';

export interface RunLoopOptions {
  runs: number;
  /** Unrecorded runs of every arm before the recorded ones. */
  warmups: number;
  /** Called after every measurement, warm-ups included. */
  onMeasured?: (event: { arm: Arm; sample: Sample; warmup: boolean; done: number; total: number }) => void;
  /**
   * Called for an arm whose open failed (a fork template refused, say): the arm is closed and left out, the
   * others run. Without it, such a failure ends the loop.
   */
  onOpenFailed?: (arm: Arm, error: unknown) => void;
  /** Once the arms are open: how many measurements the loop will take. */
  onOpened?: (measurements: number) => void;
}

export interface ArmSamples {
  arm: Arm;
  samples: Sample[];
}

/** Rotates `items` left by `by` places. */
export function rotate<T>(items: readonly T[], by: number): T[] {
  if (items.length === 0) return [];
  const shift = ((by % items.length) + items.length) % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

/** Opens every arm, runs the loop, closes every arm (also on failure, and an arm whose open failed). */
export async function runInterleaved(arms: readonly Arm[], options: RunLoopOptions): Promise<ArmSamples[]> {
  const results: ArmSamples[] = [];
  try {
    for (const arm of arms) {
      try {
        await arm.open();
        results.push({ arm, samples: [] });
      } catch (error) {
        if (!options.onOpenFailed) throw error;
        options.onOpenFailed(arm, error);
      }
    }
    await runRounds(results, options);
  } finally {
    for (const arm of arms) await arm.close();
  }
  return results;
}

async function runRounds(results: ArmSamples[], options: RunLoopOptions): Promise<void> {
  const total = results.length * (options.runs + options.warmups);
  options.onOpened?.(total);
  let done = 0;
  for (let round = 0; round < options.warmups + options.runs; round++) {
    const warmup = round < options.warmups;
    const run = round - options.warmups + 1;
    for (const result of rotate(results, round)) {
      const sample = await result.arm.measure(warmup ? 0 : run);
      if (!warmup) result.samples.push(sample);
      done++;
      options.onMeasured?.({ arm: result.arm, sample, warmup, done, total });
    }
  }
}
