// What a build says while it runs: each phase as it begins and ends, and for a phase still running, that it is
// and for how long: redrawn in place every 5 s on a terminal, a plain line every 30 s elsewhere.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type BuildEvent, createBuildReporter, describeBuildEvent, TICK_MS } from '../../src/bake/progress.ts';

function sink(isTTY: boolean) {
  const written: string[] = [];
  return { isTTY, columns: 80, written, write: (text: string) => written.push(text) };
}

const begin = (phase: 'init' | 'dump', detail: string): BuildEvent => ({ functionName: 'hello', kind: 'begin', phase, detail });
const end = (phase: 'init' | 'dump', detail: string): BuildEvent => ({ functionName: 'hello', kind: 'end', phase, detail });

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('a build reporter', () => {
  it('says a phase as it begins and as it ends', () => {
    expect(describeBuildEvent(begin('dump', 'criu writes the image of 40.1 MB of resident memory'))).toBe(
      'dump: criu writes the image of 40.1 MB of resident memory...',
    );
    expect(describeBuildEvent(end('dump', 'dump done in 210 ms: image 12.3 MB'))).toBe('dump done in 210 ms: image 12.3 MB');
    expect(describeBuildEvent({ functionName: 'hello', kind: 'note', detail: 'image 12.3 MB published' })).toBe('image 12.3 MB published');
  });

  it('on a terminal, redraws "still running" in place every 5 s, and clears it before the next line', () => {
    const out = sink(true);
    const reporter = createBuildReporter(out, () => Date.now());
    reporter.listener(begin('dump', 'criu writes the image'));
    vi.advanceTimersByTime(TICK_MS.tty - 1);
    expect(out.written).toEqual(['hello: dump: criu writes the image...\n']);
    vi.advanceTimersByTime(1 + TICK_MS.tty * 2);
    expect(out.written.slice(1)).toEqual([
      '\rhello: dump: still running after 5 s\x1b[K',
      '\rhello: dump: still running after 10 s\x1b[K',
      '\rhello: dump: still running after 15 s\x1b[K',
    ]);
    reporter.listener(end('dump', 'dump done in 15000 ms'));
    expect(out.written.slice(4)).toEqual(['\r\x1b[K', 'hello: dump done in 15000 ms\n']);
    // Nothing runs after an end: no more ticks.
    vi.advanceTimersByTime(TICK_MS.tty * 4);
    expect(out.written).toHaveLength(6);
    reporter.finish();
  });

  it('elsewhere, writes plain lines without control characters, one every 30 s', () => {
    const out = sink(false);
    const reporter = createBuildReporter(out, () => Date.now());
    reporter.listener(begin('init', "starting node and running the function's init"));
    vi.advanceTimersByTime(TICK_MS.plain * 2);
    reporter.listener(end('init', 'init done in 60000.0 ms'));
    expect(out.written).toEqual([
      "hello: init: starting node and running the function's init...\n",
      'hello: init: still running after 30 s\n',
      'hello: init: still running after 60 s\n',
      'hello: init done in 60000.0 ms\n',
    ]);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the terminal's escape codes are what is looked for
    expect(out.written.join('')).not.toMatch(/[\r\x1b]/);
  });

  it('stops ticking at finish (a failed build), clearing its line', () => {
    const out = sink(true);
    const reporter = createBuildReporter(out, () => Date.now());
    reporter.listener(begin('dump', 'criu writes the image'));
    vi.advanceTimersByTime(TICK_MS.tty);
    reporter.finish();
    expect(out.written.at(-1)).toBe('\r\x1b[K');
    vi.advanceTimersByTime(TICK_MS.tty * 3);
    expect(out.written).toHaveLength(3);
    expect(vi.getTimerCount()).toBe(0);
  });
});
