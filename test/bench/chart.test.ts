// The charts' scales, and a chart drawn from a made-up bench run: well-formed, labelled, every arm drawn.
import { describe, expect, it } from 'vitest';
import type { Sample } from '../../src/bench/arms.ts';
import type { BenchRun } from '../../src/bench/bench.ts';
import { benchChart, lineChart } from '../../src/bench/chart.ts';
import { formatReport } from '../../src/bench/report.ts';
import { escapeXml, makeScale } from '../../src/bench/svg.ts';

describe('scales', () => {
  it('are linear from 0 for values of one order of magnitude, with 1-2-5 ticks', () => {
    const scale = makeScale([20, 45, 90], 0, 100);
    expect(scale.log).toBe(false);
    expect(scale.ticks).toEqual([0, 20, 40, 60, 80, 100]);
    expect(scale.at(0)).toBe(0);
    expect(scale.at(50)).toBe(50);
  });

  it('are log10 for values spread over more than the threshold', () => {
    const scale = makeScale([0.5, 300], 0, 100);
    expect(scale.log).toBe(true);
    expect(scale.ticks).toEqual([1, 3, 10, 30, 100, 300]);
    expect(scale.at(1)).toBeLessThan(scale.at(10));
    expect(scale.at(10) - scale.at(1)).toBeCloseTo(scale.at(100) - scale.at(10), 6);
  });

  it('escape text for XML', () => {
    expect(escapeXml('a < b & "c"')).toBe('a &lt; b &amp; &quot;c&quot;');
  });
});

function samples(values: [number, number][]): Sample[] {
  return values.map(([startMs, e2eMs], i) => ({
    run: i + 1,
    at: '',
    ok: true,
    startMs,
    e2eMs,
    handlerMs: e2eMs - startMs,
    teardownMs: 1,
    rssMb: 50,
    pssMb: 20,
  }));
}

const run: BenchRun = {
  startedAt: '2026-01-01T00:00:00.000Z',
  finishedAt: '2026-01-01T00:01:00.000Z',
  complete: true,
  runs: 3,
  warmups: 1,
  modes: ['cold', 'prebaked', 'warm'],
  machine: {
    cpuModel: 'Test CPU <x86>',
    cores: 2,
    memoryMb: 4000,
    kernel: 'Linux 6.1',
    distro: 'Debian',
    virtualization: 'kvm',
    node: 'v24.9.0',
    instanceNode: 'v24.9.0',
    criu: '4.1',
    criuKdatCache: 'present',
    criuBuild: 'lean static, sha256 0123456789abcdef',
    hugePageFill: 'on: huge pages of 64 kB',
    hardwareBreakpoints: 'working',
    pageFault4kUs: 1.9,
    pageFaultHugeUs: 0.3,
    pageFaults: '1.90 us per 4 KiB fault',
    runtimes: { node: 'node v24.9.0' },
  },
  load: { start: [0.5, 0.4, 0.3], end: [0.6, 0.4, 0.3] },
  arms: [
    {
      functionName: 'fn-a',
      runtime: 'node',
      mode: 'cold',
      samples: samples([
        [200, 230],
        [210, 240],
        [190, 220],
      ]),
    },
    {
      functionName: 'fn-a',
      runtime: 'node',
      mode: 'prebaked',
      samples: samples([
        [50, 55],
        [60, 66],
        [55, 60],
      ]),
    },
    {
      functionName: 'fn-a',
      runtime: 'node',
      mode: 'warm',
      samples: samples([
        [0, 2],
        [0, 3],
        [0, 2.5],
      ]),
    },
  ],
  images: [{ functionName: 'fn-a', kind: 'criu', bytes: 12_000_000, buildMs: 300, warmups: 1 }],
  skipped: [],
};

describe('benchChart', () => {
  it('draws a box per measured distribution, labelled, with a legend', () => {
    const svg = benchChart(run);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('Test CPU &lt;x86&gt;');
    expect(svg).toContain('start-up time (ms, log scale)');
    expect(svg).toContain('already running: no start (0 ms)');
    // Five boxes (cold and prebaked twice, warm once), drawn with a fill opacity of their own.
    expect(svg.match(/fill-opacity="0.22"/g)).toHaveLength(5);
    expect(svg).toContain('prebaked start 3.64x, e2e 3.83x');
  });
});

describe('lineChart', () => {
  it('draws a path per series with two or more points, a legend and the reference line', () => {
    const svg = lineChart(
      [
        {
          label: 'node: CRIU',
          points: [
            { x: 2, y: 1.5 },
            { x: 200, y: 3 },
          ],
        },
        { label: 'java: CRIU', points: [{ x: 2, y: 4 }], dashed: true },
      ],
      { title: 'Speed-up', xLabel: 'source (kB)', yLabel: 'speed-up', reference: { y: 1, label: '1x' } },
    );
    expect(svg.match(/<path /g)).toHaveLength(1);
    expect(svg).toContain('>node: CRIU<');
    expect(svg).toContain('>java: CRIU<');
    expect(svg).toContain('source (kB) (log scale)');
    expect(svg).toContain('stroke-dasharray="2 3"');
  });
});

describe('formatReport', () => {
  it('prints a table per function with the ratios and the machine', () => {
    const text = formatReport(run);
    expect(text).toContain('fn-a (node): 3 runs per mode, times in ms; criu 12.0 MB built in 300.0 ms');
    expect(text).toMatch(/^prebaked\s+55\.00\s+59\.50\s+59\.90\s+50\.00\s+60\.00\s+\|\s+60\.00/m);
    expect(text).toContain('prebaked vs cold: start 3.64x (p50), 3.51x (p95); e2e 3.83x (p50)');
    expect(text).toContain('load average (1 min) 0.50 at start, 0.60 at end');
  });
});
