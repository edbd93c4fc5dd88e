// The run loop's order: every arm once per run, rotating, warm-ups first and unrecorded; arms always closed.
import { describe, expect, it } from 'vitest';
import type { Arm, Sample } from '../../src/bench/arms.ts';
import { rotate, runInterleaved } from '../../src/bench/run.ts';

function recordingArm(mode: string, order: string[], failOn?: number, openFails = false): Arm & { closed: number } {
  const arm = {
    functionName: 'f',
    mode,
    closed: 0,
    async open() {
      order.push(`open ${mode}`);
      if (openFails) throw new Error(`${mode} cannot open`);
    },
    async measure(run: number): Promise<Sample> {
      order.push(`${mode} ${run}`);
      if (run === failOn) throw new Error('boom');
      return { run, at: '', ok: true, startMs: 1, e2eMs: 2, handlerMs: 1, teardownMs: 0 };
    },
    async close() {
      arm.closed++;
    },
  };
  return arm;
}

describe('rotate', () => {
  it('rotates left, wrapping around', () => {
    expect(rotate(['a', 'b', 'c'], 0)).toEqual(['a', 'b', 'c']);
    expect(rotate(['a', 'b', 'c'], 1)).toEqual(['b', 'c', 'a']);
    expect(rotate(['a', 'b', 'c'], 5)).toEqual(['c', 'a', 'b']);
    expect(rotate([], 3)).toEqual([]);
  });
});

describe('runInterleaved', () => {
  it('measures every arm once per run, rotating the order, after unrecorded warm-ups', async () => {
    const order: string[] = [];
    const arms = [recordingArm('cold', order), recordingArm('prebaked', order), recordingArm('warm', order)];
    const progress: number[] = [];
    const results = await runInterleaved(arms, { runs: 2, warmups: 1, onMeasured: (e) => progress.push(e.done) });
    expect(order).toEqual([
      'open cold',
      'open prebaked',
      'open warm',
      'cold 0',
      'prebaked 0',
      'warm 0',
      'prebaked 1',
      'warm 1',
      'cold 1',
      'warm 2',
      'cold 2',
      'prebaked 2',
    ]);
    expect(results.map((r) => r.samples.map((s) => s.run))).toEqual([
      [1, 2],
      [1, 2],
      [1, 2],
    ]);
    expect(progress).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(arms.map((a) => a.closed)).toEqual([1, 1, 1]);
  });

  it('leaves out an arm that fails to open, says so, closes it, and runs the others', async () => {
    const order: string[] = [];
    const arms = [recordingArm('prebaked', order), recordingArm('fork', order, undefined, true), recordingArm('warm', order)];
    const refused: string[] = [];
    let measurements = 0;
    const results = await runInterleaved(arms, {
      runs: 1,
      warmups: 0,
      onOpenFailed: (arm, error) => refused.push(`${arm.mode}: ${(error as Error).message}`),
      onOpened: (total) => (measurements = total),
    });
    expect(refused).toEqual(['fork: fork cannot open']);
    expect(measurements).toBe(2);
    expect(results.map((r) => r.arm.mode)).toEqual(['prebaked', 'warm']);
    expect(order).toEqual(['open prebaked', 'open fork', 'open warm', 'prebaked 1', 'warm 1']);
    expect(arms.map((a) => a.closed)).toEqual([1, 1, 1]);
    // Without onOpenFailed, the failure ends the loop, every arm still closed.
    const again = [recordingArm('prebaked', []), recordingArm('fork', [], undefined, true)];
    await expect(runInterleaved(again, { runs: 1, warmups: 0 })).rejects.toThrow('fork cannot open');
    expect(again.map((a) => a.closed)).toEqual([1, 1]);
  });

  it('closes every arm when a measurement throws', async () => {
    const order: string[] = [];
    const arms = [recordingArm('cold', order), recordingArm('prebaked', order, 1)];
    await expect(runInterleaved(arms, { runs: 2, warmups: 0 })).rejects.toThrow('boom');
    expect(arms.map((a) => a.closed)).toEqual([1, 1]);
  });
});
