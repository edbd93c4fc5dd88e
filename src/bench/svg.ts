// What the bench's charts share: SVG text escaping, scales (linear or log10) and their tick marks, colours.
// Written by hand: box plots and lines are a few rectangles and paths, not worth a charting dependency.

export function escapeXml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

export interface Scale {
  log: boolean;
  domain: [number, number];
  /** Maps a value to a coordinate between range[0] and range[1]. */
  at(value: number): number;
  ticks: number[];
}

/**
 * A scale over `values` onto [from, to]. Log10 when the values spread over more than `logAbove` times (and are
 * all positive); otherwise linear from 0. Ticks at 1-2-5 steps (fewer on a log scale of many decades).
 */
export function makeScale(values: number[], from: number, to: number, logAbove = 8): Scale {
  const positive = values.filter((v) => v > 0 && Number.isFinite(v));
  const low = positive.length ? Math.min(...positive) : 1;
  const high = positive.length ? Math.max(...positive) : 10;
  if (high / low > logAbove && high > low) {
    const lo = Math.log10(low) - 0.05;
    const hi = Math.log10(high) + 0.05;
    const ticks: number[] = [];
    // Fewer ticks a decade as the decades add up, so that their labels never run into each other.
    const steps = hi - lo <= 2.2 ? [1, 2, 5] : hi - lo <= 3.6 ? [1, 3] : [1];
    for (let decade = Math.floor(lo); decade <= Math.ceil(hi); decade++) {
      for (const step of steps) {
        const tick = step * 10 ** decade;
        if (Math.log10(tick) >= lo && Math.log10(tick) <= hi) ticks.push(tick);
      }
    }
    return {
      log: true,
      domain: [10 ** lo, 10 ** hi],
      at: (v) => from + ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * (to - from),
      ticks,
    };
  }
  const step = niceStep(high / 5);
  const top = Math.ceil((high * 1.05) / step) * step;
  const ticks: number[] = [];
  for (let tick = 0; tick <= top + step / 2; tick += step) ticks.push(Number(tick.toPrecision(12)));
  return { log: false, domain: [0, top], at: (v) => from + (v / top) * (to - from), ticks };
}

function niceStep(rough: number): number {
  const power = 10 ** Math.floor(Math.log10(rough));
  for (const step of [1, 2, 5, 10]) if (step * power >= rough) return step * power;
  return 10 * power;
}

export function formatTick(value: number): string {
  if (value >= 1000) return `${Number((value / 1000).toPrecision(3))}k`;
  return String(Number(value.toPrecision(3)));
}

const MODE_COLOURS: Record<string, string> = {
  cold: '#d62728',
  prebaked: '#1f77b4',
  warm: '#2ca02c',
  'node-snapshot': '#9467bd',
  pooled: '#ff7f0e',
  fork: '#8c564b',
};
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f', '#d62728'];

/** A colour per label: the modes keep theirs in every chart; other labels take the palette in order. */
export function colourFor(label: string, index: number): string {
  return MODE_COLOURS[label] ?? PALETTE[index % PALETTE.length]!;
}

export function svgDocument(width: number, height: number, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      `font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

export function text(x: number, y: number, content: string, attributes = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attributes}>${escapeXml(content)}</text>`;
}
