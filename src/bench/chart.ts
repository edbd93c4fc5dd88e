// The bench's charts, as SVG. benchChart: per function and mode, the distribution of start-up and end-to-end
// times as box plots with every run as a dot, so the gap between a cold start and a restore shows at a glance.
// lineChart: a value against a numeric x (the reproduction's speed-up against code size).
import type { BenchRun } from './bench.ts';
import { percentile } from './stats.ts';
import { speedups, summarizeArm } from './summary.ts';
import { colourFor, escapeXml, formatTick, makeScale, type Scale, svgDocument, text } from './svg.ts';

const WIDTH = 1000;
const LABEL_WIDTH = 190;
const RIGHT_MARGIN = 16;
const COLUMN_GAP = 36;
const MEDIAN_GUTTER = 74;
const HEADER_ROW = 24;
const ARM_ROW = 26;
const GROUP_GAP = 10;

interface Distribution {
  values: number[];
  p25: number;
  p50: number;
  p75: number;
  min: number;
  max: number;
}

function distribution(values: number[]): Distribution | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return {
    values,
    p25: percentile(sorted, 25),
    p50: percentile(sorted, 50),
    p75: percentile(sorted, 75),
    min: sorted[0]!,
    max: sorted[sorted.length - 1]!,
  };
}

function boxPlot(d: Distribution, scale: Scale, cy: number, colour: string, medianX: number): string[] {
  const x = (v: number) => scale.at(v).toFixed(1);
  const parts = [
    `<line x1="${x(d.min)}" x2="${x(d.max)}" y1="${cy}" y2="${cy}" stroke="${colour}" stroke-width="1.2"/>`,
    `<line x1="${x(d.min)}" x2="${x(d.min)}" y1="${cy - 5}" y2="${cy + 5}" stroke="${colour}" stroke-width="1.2"/>`,
    `<line x1="${x(d.max)}" x2="${x(d.max)}" y1="${cy - 5}" y2="${cy + 5}" stroke="${colour}" stroke-width="1.2"/>`,
    `<rect x="${x(d.p25)}" y="${cy - 8}" width="${Math.max(1, scale.at(d.p75) - scale.at(d.p25)).toFixed(1)}" height="16" ` +
      `fill="${colour}" fill-opacity="0.22" stroke="${colour}" stroke-width="1.2"/>`,
  ];
  d.values.forEach((value, i) => {
    // A fixed jitter pattern: the same data always draws the same picture.
    const jitter = ((i * 7) % 11) - 5;
    parts.push(`<circle cx="${x(value)}" cy="${(cy + jitter).toFixed(1)}" r="2" fill="${colour}" fill-opacity="0.55"/>`);
  });
  parts.push(`<line x1="${x(d.p50)}" x2="${x(d.p50)}" y1="${cy - 9}" y2="${cy + 9}" stroke="#222222" stroke-width="2.4"/>`);
  parts.push(text(medianX, cy + 4, `${formatMs(d.p50)} ms`, 'font-size="11" fill="#222222"'));
  return parts;
}

/** Joins `items` with "; " into lines of at most `width` characters (the first item starts every line's text). */
function wrap(items: string[], width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const item of items) {
    const next = line === '' ? item : line.endsWith(':') ? `${line} ${item}` : `${line}; ${item}`;
    if (next.length > width && line !== '') {
      lines.push(`${line};`);
      line = item;
    } else {
      line = next;
    }
  }
  if (line) lines.push(line);
  return lines;
}

function formatMs(value: number): string {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

function axis(scale: Scale, top: number, bottom: number, label: string): string[] {
  const parts: string[] = [];
  for (const tick of scale.ticks) {
    const x = scale.at(tick).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${top}" y2="${bottom}" stroke="#e3e3e3" stroke-width="1"/>`);
    parts.push(text(Number(x), bottom + 15, formatTick(tick), 'text-anchor="middle" font-size="11" fill="#444444"'));
  }
  const [from, to] = [scale.at(scale.domain[0]), scale.at(scale.domain[1])];
  parts.push(`<line x1="${from.toFixed(1)}" x2="${to.toFixed(1)}" y1="${bottom}" y2="${bottom}" stroke="#888888"/>`);
  parts.push(
    text(
      (from + to) / 2,
      bottom + 33,
      `${label} (ms${scale.log ? ', log scale' : ''})`,
      'text-anchor="middle" font-size="12" fill="#222222"',
    ),
  );
  return parts;
}

export interface ChartOptions {
  title?: string;
}

/** Box plots of start-up and end-to-end times per function and mode. */
export function benchChart(run: BenchRun, options: ChartOptions = {}): string {
  const summaries = run.arms.map(summarizeArm);
  const ratios = speedups(summaries);
  const modes = [...new Set(run.arms.map((a) => a.mode))];
  const columnWidth = (WIDTH - LABEL_WIDTH - RIGHT_MARGIN - COLUMN_GAP) / 2;
  const plotWidth = columnWidth - MEDIAN_GUTTER;
  const columns = [
    { label: 'start-up time', left: LABEL_WIDTH },
    { label: 'end-to-end time (request to result)', left: LABEL_WIDTH + columnWidth + COLUMN_GAP },
  ];
  const distributions = run.arms.map((arm) => {
    const ok = arm.samples.filter((s) => s.ok);
    return {
      startup: arm.mode === 'warm' ? undefined : distribution(ok.map((s) => s.startMs)),
      e2e: distribution(ok.map((s) => s.e2eMs)),
    };
  });
  const columnValues = [distributions.flatMap((d) => d.startup?.values ?? []), distributions.flatMap((d) => d.e2e?.values ?? [])];
  let scales = columnValues.map((values, c) => makeScale(values, columns[c]!.left, columns[c]!.left + plotWidth));
  // Both columns log or both linear: the same distance means the same thing on either side.
  if (scales.some((s) => s.log))
    scales = columnValues.map((values, c) => makeScale(values, columns[c]!.left, columns[c]!.left + plotWidth, 1));

  const body: string[] = [];
  const functions = [...new Set(run.arms.map((a) => a.functionName))];
  const top = 96;
  let y = top;
  const backgrounds: string[] = [];
  const rows: string[] = [];
  for (const name of functions) {
    const runtime = run.arms.find((a) => a.functionName === name)?.runtime ?? '';
    const title = `${name} (${runtime})`;
    rows.push(text(12, y + 16, title, 'font-weight="bold" font-size="13" fill="#111111"'));
    const notes = ratios
      .filter((r) => r.functionName === name)
      .map(
        (r) => `${r.mode} ${r.startupP50 !== undefined ? `start ${r.startupP50.toFixed(2)}x, ` : ''}e2e ${r.e2eP50?.toFixed(2) ?? '-'}x`,
      );
    if (notes.length) {
      // Estimated text widths (no font metrics in SVG): about 8 px a character bold at 13 px, 6.2 at 11 px.
      const notesX = Math.max(LABEL_WIDTH, 12 + title.length * 8 + 16);
      const lines = wrap(['faster than cold (p50):', ...notes], Math.floor((WIDTH - 16 - notesX) / 6.2));
      for (const [l, line] of lines.entries()) rows.push(text(notesX, y + 16 + l * 14, line, 'font-size="11" fill="#555555"'));
      y += (lines.length - 1) * 14;
    }
    y += HEADER_ROW;
    run.arms.forEach((arm, i) => {
      if (arm.functionName !== name) return;
      const colour = colourFor(arm.mode, modes.indexOf(arm.mode));
      const cy = y + ARM_ROW / 2;
      backgrounds.push(`<rect x="8" y="${y}" width="${WIDTH - 16}" height="${ARM_ROW}" fill="${i % 2 ? '#fafafa' : '#f2f2f2'}"/>`);
      rows.push(`<rect x="22" y="${cy - 5}" width="10" height="10" fill="${colour}"/>`);
      const failed = summaries[i]!.failures;
      rows.push(text(38, cy + 4, `${arm.mode}${failed ? ` (${failed} failed)` : ''}`, 'font-size="12" fill="#222222"'));
      const d = distributions[i]!;
      [d.startup, d.e2e].forEach((dist, c) => {
        const column = columns[c]!;
        if (c === 0 && arm.mode === 'warm') {
          rows.push(text(column.left + 4, cy + 4, 'already running: no start (0 ms)', 'font-size="11" font-style="italic" fill="#666666"'));
        } else if (!dist) {
          rows.push(text(column.left + 4, cy + 4, 'no successful run', 'font-size="11" font-style="italic" fill="#b00000"'));
        } else {
          rows.push(...boxPlot(dist, scales[c]!, cy, colour, column.left + plotWidth + 8));
        }
      });
      y += ARM_ROW;
    });
    y += GROUP_GAP;
  }
  const bottom = y;
  body.push(...backgrounds);
  columns.forEach((column, c) => {
    body.push(...axis(scales[c]!, top - 6, bottom, column.label));
    body.push(
      text(column.left + plotWidth / 2, top - 14, column.label, 'text-anchor="middle" font-weight="bold" font-size="13" fill="#111111"'),
    );
  });
  body.push(...rows);

  const title = options.title ?? `prebake bench: start-up and end-to-end latency (lower is better), ${run.runs} runs per mode`;
  const m = run.machine;
  const subtitle = `${m.cpuModel}, ${m.cores} cores, ${m.kernel}, ${m.distro}; criu ${m.criu}; node ${m.instanceNode}; ${run.startedAt.slice(0, 16).replace('T', ' ')} UTC`;
  body.unshift(
    text(12, 26, title, 'font-weight="bold" font-size="17" fill="#111111"'),
    text(12, 46, subtitle, 'font-size="11" fill="#555555"'),
  );

  let legendX = 12;
  const legendY = bottom + 58;
  modes.forEach((mode, i) => {
    body.push(`<rect x="${legendX}" y="${legendY - 10}" width="12" height="12" fill="${colourFor(mode, i)}"/>`);
    body.push(text(legendX + 17, legendY, mode, 'font-size="12" fill="#222222"'));
    legendX += 30 + mode.length * 7.5;
  });
  body.push(
    text(
      12,
      legendY + 20,
      'box: 25th to 75th percentile; black bar and label: median; whiskers: min to max; dots: every run',
      'font-size="11" fill="#555555"',
    ),
  );
  return svgDocument(WIDTH, legendY + 32, body);
}

export interface LineSeries {
  label: string;
  points: { x: number; y: number }[];
  dashed?: boolean;
  /** Default: the palette, in order. */
  colour?: string;
}

export interface LineChartOptions {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  /** A horizontal reference line (1 for a speed-up: no faster, no slower). */
  reference?: { y: number; label: string };
  logX?: boolean;
  width?: number;
  height?: number;
}

/** Lines with markers, one per series, with a legend on the right. */
export function lineChart(series: LineSeries[], options: LineChartOptions): string {
  const width = options.width ?? 900;
  const height = options.height ?? 520;
  const left = 70;
  const right = width - 250;
  const top = 70;
  const bottom = height - 60;
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const ys = series.flatMap((s) => s.points.map((p) => p.y)).concat(options.reference ? [options.reference.y] : []);
  const xScale = makeScale(xs, left, right, options.logX === false ? Infinity : 8);
  // y from the bottom up: build the scale on [0, h] and flip.
  const yRaw = makeScale(ys, 0, bottom - top);
  const yAt = (v: number) => bottom - yRaw.at(v);
  const body: string[] = [text(12, 26, options.title, 'font-weight="bold" font-size="17" fill="#111111"')];
  if (options.subtitle) body.push(text(12, 46, options.subtitle, 'font-size="11" fill="#555555"'));
  for (const tick of yRaw.ticks) {
    const y = yAt(tick).toFixed(1);
    body.push(`<line x1="${left}" x2="${right}" y1="${y}" y2="${y}" stroke="#e3e3e3"/>`);
    body.push(text(left - 6, Number(y) + 4, formatTick(tick), 'text-anchor="end" font-size="11" fill="#444444"'));
  }
  for (const tick of xScale.ticks) {
    const x = xScale.at(tick).toFixed(1);
    body.push(`<line x1="${x}" x2="${x}" y1="${top}" y2="${bottom}" stroke="#eeeeee"/>`);
    body.push(text(Number(x), bottom + 16, formatTick(tick), 'text-anchor="middle" font-size="11" fill="#444444"'));
  }
  body.push(`<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" fill="none" stroke="#888888"/>`);
  body.push(
    text(
      (left + right) / 2,
      bottom + 38,
      `${options.xLabel}${xScale.log ? ' (log scale)' : ''}`,
      'text-anchor="middle" font-size="12" fill="#222222"',
    ),
  );
  body.push(
    `<text transform="translate(20 ${((top + bottom) / 2).toFixed(1)}) rotate(-90)" text-anchor="middle" font-size="12" fill="#222222">` +
      `${escapeXml(`${options.yLabel}${yRaw.log ? ' (log scale)' : ''}`)}</text>`,
  );
  if (options.reference) {
    const y = yAt(options.reference.y).toFixed(1);
    body.push(`<line x1="${left}" x2="${right}" y1="${y}" y2="${y}" stroke="#444444" stroke-dasharray="2 3"/>`);
    body.push(text(right - 6, Number(y) - 5, options.reference.label, 'text-anchor="end" font-size="11" fill="#444444"'));
  }
  series.forEach((s, i) => {
    const colour = s.colour ?? colourFor(s.label, i);
    const points = [...s.points].sort((a, b) => a.x - b.x);
    const d = points.map((p, j) => `${j ? 'L' : 'M'}${xScale.at(p.x).toFixed(1)} ${yAt(p.y).toFixed(1)}`).join(' ');
    if (points.length > 1) {
      body.push(`<path d="${d}" fill="none" stroke="${colour}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    }
    for (const p of points) body.push(`<circle cx="${xScale.at(p.x).toFixed(1)}" cy="${yAt(p.y).toFixed(1)}" r="3.5" fill="${colour}"/>`);
    const ly = top + 10 + i * 20;
    body.push(
      `<line x1="${right + 16}" x2="${right + 40}" y1="${ly}" y2="${ly}" stroke="${colour}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    body.push(`<circle cx="${right + 28}" cy="${ly}" r="3.5" fill="${colour}"/>`);
    body.push(text(right + 46, ly + 4, s.label, 'font-size="12" fill="#222222"'));
  });
  return svgDocument(width, height, body);
}
