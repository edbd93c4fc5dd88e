// Progress of a bench on stderr: a bar redrawn in place on a terminal, a few plain lines otherwise (a log file
// or CI output gets no control characters).
import type { Sample } from './arms.ts';

export interface ProgressSink {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

export interface Progress {
  functionStarted(functionName: string, measurements: number): void;
  measured(event: { arm: { mode: string }; sample: Sample; warmup: boolean; done: number; total: number }): void;
  /** Clears the bar; call before printing anything else. */
  finish(): void;
}

const BAR_WIDTH = 30;
const PLAIN_STEPS = 4;

export function renderBar(done: number, total: number, width = BAR_WIDTH): string {
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

export function createProgress(sink: ProgressSink = process.stderr): Progress {
  let name = '';
  let shown = false;
  let nextPlain = 0;
  return {
    functionStarted(functionName, measurements) {
      name = functionName;
      nextPlain = 0;
      if (!sink.isTTY) sink.write(`${functionName}: ${measurements} measurements (warm-ups included)\n`);
    },
    measured({ arm, sample, warmup, done, total }) {
      if (sink.isTTY) {
        const what = warmup ? 'warm-up' : `run ${sample.run}`;
        const result = sample.ok ? `${sample.e2eMs.toFixed(1)} ms` : 'failed';
        const line = `${renderBar(done, total)} ${done}/${total} ${name} ${arm.mode} ${what}: ${result}`;
        sink.write(`\r${line.slice(0, (sink.columns ?? 100) - 1)}\x1b[K`);
        shown = true;
        return;
      }
      if (done >= ((nextPlain + 1) * total) / PLAIN_STEPS || done === total) {
        nextPlain = Math.floor((done * PLAIN_STEPS) / total);
        sink.write(`${name}: ${done}/${total} done\n`);
      }
    },
    finish() {
      if (shown) sink.write('\r\x1b[K');
      shown = false;
    },
  };
}
