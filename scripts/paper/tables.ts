// The reproduction's own views of its results: a Markdown table in the paper's terms (speed-up of a restore
// over a standard start, per runtime, code size and snapshot point) and the speed-up against code size.
import { type LineSeries, lineChart } from '../../src/bench/chart.ts';
import { speedup } from '../../src/bench/stats.ts';
import type { ArmSummary } from '../../src/bench/summary.ts';

export interface SyntheticCase {
  functionName: string;
  runtime: string;
  units: number;
  sourceBytes: number;
}

export const SNAPSHOT_ARMS = [
  { mode: 'prebaked-ready', label: 'CRIU, ready' },
  { mode: 'prebaked-1req', label: 'CRIU, after 1 req.' },
  { mode: 'node-snapshot-ready', label: 'V8 snapshot, ready' },
  { mode: 'node-snapshot-1req', label: 'V8 snapshot, after 1 req.' },
] as const;

// One colour per runtime for CRIU, one for Node's own snapshot; dashed lines for snapshots at readiness.
const SERIES_COLOURS: Record<string, string> = { node: '#1f77b4', python: '#ff7f0e', java: '#2ca02c', 'node-snapshot': '#9467bd' };

const fmt = (v: number | undefined, digits = 1) => (v === undefined ? '-' : v.toFixed(digits));
const ratio = (v: number | undefined) => (v === undefined ? '-' : `${v.toFixed(2)}x`);

function find(summaries: ArmSummary[], functionName: string, mode: string): ArmSummary | undefined {
  return summaries.find((s) => s.functionName === functionName && s.mode === mode);
}

/**
 * Two Markdown tables (start-up time, time to first response): one row per runtime and code size, the cold
 * median and each snapshot's median with its speed-up (cold p50 / snapshot p50).
 */
export function paperTable(cases: SyntheticCase[], summaries: ArmSummary[]): string {
  const arms = SNAPSHOT_ARMS.filter((arm) => summaries.some((s) => s.mode === arm.mode));
  const out: string[] = [];
  for (const [measure, title] of [
    ['startup', 'Start-up time'],
    ['e2e', 'Time to first response (request to result)'],
  ] as const) {
    const header = ['runtime', 'units', 'source', 'cold', ...arms.map((a) => a.label)];
    const rows = [header, header.map((_, i) => (i < 2 ? '---' : '---:'))];
    for (const c of cases) {
      const cold = find(summaries, c.functionName, 'cold')?.[measure]?.p50;
      const cells = arms.map((arm) => {
        const value = find(summaries, c.functionName, arm.mode)?.[measure]?.p50;
        return value === undefined ? '' : `${fmt(value)} (${ratio(speedup(cold, value))})`;
      });
      rows.push([c.runtime, String(c.units), `${(c.sourceBytes / 1e3).toFixed(0)} kB`, fmt(cold), ...cells]);
    }
    out.push(`**${title}**, p50 in ms (speed-up over cold):\n`, rows.map((r) => `| ${r.join(' | ')} |`).join('\n'), '');
  }
  return `${out.join('\n')}\n`;
}

/** Speed-up (p50 of cold / p50 of the snapshot arm) against source size, one line per runtime and snapshot. */
export function speedupChart(cases: SyntheticCase[], summaries: ArmSummary[], measure: 'startup' | 'e2e', subtitle: string): string {
  const series: LineSeries[] = [];
  const runtimes = [...new Set(cases.map((c) => c.runtime))];
  for (const runtime of runtimes) {
    for (const arm of SNAPSHOT_ARMS) {
      const points = cases
        .filter((c) => c.runtime === runtime)
        .map((c) => ({
          x: c.sourceBytes / 1e3,
          y: speedup(find(summaries, c.functionName, 'cold')?.[measure]?.p50, find(summaries, c.functionName, arm.mode)?.[measure]?.p50),
        }))
        .filter((p): p is { x: number; y: number } => p.y !== undefined);
      if (points.length === 0) continue;
      series.push({
        label: `${runtime}: ${arm.label}`,
        points,
        dashed: arm.mode.endsWith('-ready'),
        colour: SERIES_COLOURS[arm.mode.startsWith('node-snapshot') ? 'node-snapshot' : runtime],
      });
    }
  }
  const what = measure === 'startup' ? 'start-up time' : 'time to first response';
  return lineChart(series, {
    title: `Speed-up of ${what} over a standard (cold) start, by code size`,
    subtitle,
    xLabel: 'generated source code (kB)',
    yLabel: `speed-up: cold p50 / snapshot p50 (${what})`,
    reference: { y: 1, label: '1x: no faster than a cold start' },
    width: 1000,
    height: 560,
  });
}
