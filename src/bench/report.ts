// The text report: one table per function, then the speed-ups over the cold start.
import { DEFAULTS } from '../manager/config.ts';
import type { BenchRun } from './bench.ts';
import { describeSkip } from './skipped.ts';
import type { Summary } from './stats.ts';
import { type ArmSummary, speedups, summarizeArm } from './summary.ts';

function ms(value: number | undefined): string {
  if (value === undefined) return '-';
  return value >= 1000 ? value.toFixed(0) : value >= 100 ? value.toFixed(1) : value.toFixed(2);
}

function ratio(value: number | undefined): string {
  return value === undefined ? '-' : `${value.toFixed(2)}x`;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** Lays out rows in columns: the first left-aligned, the rest right-aligned. */
export function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function timeColumns(summary: Summary | undefined, isWarmStart: boolean): string[] {
  if (isWarmStart) return ['0', '0', '0', '0', '0'];
  return [ms(summary?.p50), ms(summary?.p95), ms(summary?.p99), ms(summary?.min), ms(summary?.max)];
}

function functionTable(summaries: ArmSummary[]): string {
  const rows = [
    ['mode', 'start p50', 'p95', 'p99', 'min', 'max', '|', 'e2e p50', 'p95', 'p99', 'min', 'max', '|', 'RSS MB', 'PSS MB', 'ok/runs'],
  ];
  for (const s of summaries) {
    rows.push([
      s.mode,
      ...timeColumns(s.startup, s.mode === 'warm'),
      '|',
      ...timeColumns(s.e2e, false),
      '|',
      s.rss ? s.rss.p50.toFixed(1) : '-',
      s.pss ? s.pss.p50.toFixed(1) : '-',
      `${s.runs - s.failures}/${s.runs}`,
    ]);
  }
  return formatTable(rows);
}

/** The names of the functions a bench reached, in order: those measured and those skipped whole. */
function functionNames(run: BenchRun): string[] {
  return [...new Set([...run.arms.map((a) => a.functionName), ...run.skipped.map((s) => s.functionName)])];
}

/** One function's part of the report: its table, speed-ups, failures and skipped modes (ends with a blank line). */
export function formatFunctionReport(run: BenchRun, name: string): string {
  const mine = run.arms.filter((a) => a.functionName === name).map(summarizeArm);
  const ratios = speedups(mine);
  const skipped = run.skipped.filter((s) => s.functionName === name);
  const out: string[] = [];
  const images = run.images.filter((i) => i.functionName === name);
  const imageText = images.map((i) => `${i.kind} ${megabytes(i.bytes)} built in ${ms(i.buildMs)} ms`).join(', ');
  if (mine.length === 0) {
    out.push(`${name}: not measured`);
  } else {
    out.push(`${name} (${mine[0]!.runtime}): ${run.runs} runs per mode, times in ms${imageText ? `; ${imageText}` : ''}`);
    out.push(functionTable(mine));
  }
  for (const r of ratios) {
    const start = r.startupP50 === undefined ? '' : `start ${ratio(r.startupP50)} (p50), ${ratio(r.startupP95)} (p95); `;
    out.push(`  ${r.mode} vs ${r.baseline}: ${start}e2e ${ratio(r.e2eP50)} (p50), ${ratio(r.e2eP95)} (p95)`);
  }
  // What start mode pooled holds while the function is not being called: every ready clone's memory.
  for (const s of mine.filter((x) => x.mode === 'pooled' && x.pss)) {
    const size = DEFAULTS.pool.size;
    out.push(
      `  pooled: a pool of ${size} ready clones holds ${size} x ${s.pss!.p50.toFixed(1)} MB PSS = ${(size * s.pss!.p50).toFixed(1)} MB`,
    );
  }
  for (const s of mine.filter((x) => x.failures > 0)) {
    const firstError = run.arms.find((a) => a.functionName === name && a.mode === s.mode)?.samples.find((x) => !x.ok)?.error;
    out.push(`  ${s.mode}: ${s.failures} of ${s.runs} runs failed; first: ${firstError ?? 'unknown'}`);
  }
  for (const skip of skipped) out.push(`  ${skip.mode}: skipped: ${describeSkip(skip)}`);
  out.push('');
  return `${out.join('\n')}\n`;
}

/** What follows the functions' parts: the machine and what the columns mean (ends with a newline). */
export function formatReportFooter(run: BenchRun): string {
  const m = run.machine;
  return [
    `machine: ${m.cpuModel}, ${m.cores} cores, ${(m.memoryMb / 1e3).toFixed(1)} GB, ${m.kernel}, ${m.distro}, ${m.virtualization}; ` +
      `criu ${m.criu}; load average (1 min) ${run.load.start[0]?.toFixed(2)} at start, ${run.load.end[0]?.toFixed(2)} at end`,
    'start: request until the instance can run the handler (spawn + init, restore + resume; a take from the pool; 0 when warm). ' +
      'e2e: request until the result (= time to first response). Percentiles: linear interpolation. ' +
      'Speed-up: cold time / mode time.',
    '',
  ].join('\n');
}

/** The whole report as text (ends with a newline). */
export function formatReport(run: BenchRun): string {
  return (
    functionNames(run)
      .map((name) => formatFunctionReport(run, name))
      .join('') + formatReportFooter(run)
  );
}
