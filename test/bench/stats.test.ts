// Percentiles and speed-ups on samples whose answers are known by hand.
import { describe, expect, it } from 'vitest';
import type { Sample } from '../../src/bench/arms.ts';
import { percentile, speedup, summarize } from '../../src/bench/stats.ts';
import { speedups, summarizeArm } from '../../src/bench/summary.ts';

describe('percentile (linear interpolation between closest ranks)', () => {
  const oneToTen = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

  it('gives the middle value, or the mean of the two middle values, as p50', () => {
    expect(percentile([3, 5, 9], 50)).toBe(5);
    expect(percentile(oneToTen, 50)).toBe(5.5);
  });

  it('interpolates between ranks: rank h = (n - 1) p / 100', () => {
    // h = 9 * 0.95 = 8.55: 9 + 0.55 * (10 - 9)
    expect(percentile(oneToTen, 95)).toBeCloseTo(9.55, 10);
    // h = 9 * 0.99 = 8.91
    expect(percentile(oneToTen, 99)).toBeCloseTo(9.91, 10);
    // h = 9 * 0.25 = 2.25: 3 + 0.25 * (4 - 3)
    expect(percentile(oneToTen, 25)).toBeCloseTo(3.25, 10);
    // numpy.percentile([10, 20, 40, 80], 90) == 68.0
    expect(percentile([10, 20, 40, 80], 90)).toBeCloseTo(68, 10);
  });

  it('gives min at 0 and max at 100, and the value itself for one sample', () => {
    expect(percentile(oneToTen, 0)).toBe(1);
    expect(percentile(oneToTen, 100)).toBe(10);
    expect(percentile([42], 99)).toBe(42);
  });

  it('refuses no values and percentiles outside 0..100', () => {
    expect(() => percentile([], 50)).toThrow(RangeError);
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(() => percentile([1], Number.NaN)).toThrow(RangeError);
  });
});

describe('summarize', () => {
  it('sorts first, so the order of the samples does not matter', () => {
    expect(summarize([10, 1, 7, 3, 5, 9, 2, 8, 4, 6])).toEqual({ n: 10, p50: 5.5, p95: 9.55, p99: 9.91, min: 1, max: 10, mean: 5.5 });
  });

  it('is undefined for no samples', () => {
    expect(summarize([])).toBeUndefined();
  });
});

describe('speedup', () => {
  it('is baseline / candidate', () => {
    expect(speedup(120, 30)).toBe(4);
    expect(speedup(30, 60)).toBe(0.5);
  });

  it('is undefined without both values or for a zero candidate', () => {
    expect(speedup(undefined, 3)).toBeUndefined();
    expect(speedup(3, undefined)).toBeUndefined();
    expect(speedup(3, 0)).toBeUndefined();
  });
});

function sample(run: number, startMs: number, e2eMs: number, ok = true): Sample {
  return { run, at: '2026-01-01T00:00:00.000Z', ok, startMs, e2eMs, handlerMs: e2eMs - startMs, teardownMs: 1 };
}

describe('arm summaries and speed-ups over cold', () => {
  const cold = {
    functionName: 'f',
    runtime: 'node',
    mode: 'cold',
    samples: [sample(1, 100, 110), sample(2, 200, 210), sample(3, 300, 310)],
  };
  const prebaked = {
    functionName: 'f',
    runtime: 'node',
    mode: 'prebaked',
    samples: [sample(1, 20, 30), sample(2, 50, 55), sample(3, 0, 0, false)],
  };
  const warm = { functionName: 'f', runtime: 'node', mode: 'warm', samples: [sample(1, 0, 2), sample(2, 0, 2)] };

  it('leaves failed runs out of the statistics and counts them', () => {
    const summary = summarizeArm(prebaked);
    expect(summary.runs).toBe(3);
    expect(summary.failures).toBe(1);
    expect(summary.startup?.n).toBe(2);
    expect(summary.startup?.p50).toBe(35);
  });

  it('divides cold by each other mode, with no start ratio for warm', () => {
    const ratios = speedups([cold, prebaked, warm].map(summarizeArm));
    const vsPrebaked = ratios.find((r) => r.mode === 'prebaked')!;
    expect(vsPrebaked.startupP50).toBeCloseTo(200 / 35, 10);
    expect(vsPrebaked.e2eP50).toBeCloseTo(210 / 42.5, 10);
    const vsWarm = ratios.find((r) => r.mode === 'warm')!;
    expect(vsWarm.startupP50).toBeUndefined();
    expect(vsWarm.e2eP50).toBe(105);
  });
});
