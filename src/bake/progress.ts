// What a build says while it runs: each phase as it begins and ends, and, for a phase still running after a
// few seconds, that it still is and for how long (issue 23: a quick start once sat silent for 59 minutes on a
// criu that never returned). buildFunction reports events; a surface renders them: lines on a terminal or a
// log (createBuildReporter), structured log lines in the daemon.

export type BuildPhase = 'prepare' | 'init' | 'warm-up' | 'dump' | 'clone check';

export type BuildEvent = { functionName: string } & (
  | { kind: 'begin'; phase: BuildPhase; detail: string }
  | { kind: 'end'; phase: BuildPhase; detail: string }
  /** A fact that is no phase: the image published, the clone check turned off. */
  | { kind: 'note'; detail: string }
);

export type BuildListener = (event: BuildEvent) => void;

/** One event as a line for people (without the function's name). */
export function describeBuildEvent(event: BuildEvent): string {
  if (event.kind === 'note') return event.detail;
  return event.kind === 'begin' ? `${event.phase}: ${event.detail}...` : event.detail;
}

export interface ReporterSink {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

export interface BuildReporter {
  listener: BuildListener;
  /** Stops the ticking and clears a line drawn in place; call before printing anything else, and at the end. */
  finish(): void;
}

// On a terminal the line is redrawn in place every 5 s; a log or CI output gets a line every 30 s, a few for
// a long dump, and never minutes of silence.
export const TICK_MS = { tty: 5_000, plain: 30_000 } as const;

/** Renders builds' events on `sink` (stderr), with "still running" ticks while a phase runs. */
export function createBuildReporter(sink: ReporterSink, now: () => number = () => performance.now()): BuildReporter {
  const tickMs = sink.isTTY ? TICK_MS.tty : TICK_MS.plain;
  let timer: NodeJS.Timeout | undefined;
  let drawn = false;
  const clear = () => {
    if (drawn) sink.write('\r\x1b[K');
    drawn = false;
  };
  const stop = () => {
    clearInterval(timer);
    timer = undefined;
    clear();
  };
  const tick = (name: string, phase: BuildPhase, began: number) => {
    const line = `${name}: ${phase}: still running after ${Math.round((now() - began) / 1000)} s`;
    if (sink.isTTY) {
      sink.write(`\r${line.slice(0, (sink.columns ?? 100) - 1)}\x1b[K`);
      drawn = true;
    } else {
      sink.write(`${line}\n`);
    }
  };
  return {
    listener(event) {
      stop();
      sink.write(`${event.functionName}: ${describeBuildEvent(event)}\n`);
      if (event.kind === 'begin') {
        const began = now();
        timer = setInterval(() => tick(event.functionName, event.phase, began), tickMs);
        timer.unref();
      }
    },
    finish: stop,
  };
}
