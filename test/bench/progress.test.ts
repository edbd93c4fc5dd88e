// Progress on a terminal (a bar redrawn in place) and elsewhere (a few plain lines).
import { describe, expect, it } from 'vitest';
import type { Sample } from '../../src/bench/arms.ts';
import { createProgress, renderBar } from '../../src/bench/progress.ts';

const sample: Sample = { run: 1, at: '', ok: true, startMs: 10, e2eMs: 12, handlerMs: 2, teardownMs: 1 };

function sink(isTTY: boolean) {
  const written: string[] = [];
  return { isTTY, columns: 80, written, write: (text: string) => written.push(text) };
}

describe('progress', () => {
  it('draws a bar of the done share', () => {
    expect(renderBar(0, 4, 8)).toBe('[........]');
    expect(renderBar(1, 4, 8)).toBe('[##......]');
    expect(renderBar(4, 4, 8)).toBe('[########]');
  });

  it('redraws one line on a terminal and clears it at the end', () => {
    const out = sink(true);
    const progress = createProgress(out);
    progress.functionStarted('hello-node', 2);
    progress.measured({ arm: { mode: 'cold' }, sample, warmup: false, done: 1, total: 2 });
    progress.finish();
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the terminal's escape codes are what is looked for
    expect(out.written[0]).toMatch(/^\r\[#+\.+\] 1\/2 hello-node cold run 1: 12\.0 ms\x1b\[K$/);
    expect(out.written.at(-1)).toBe('\r\x1b[K');
  });

  it('writes a few plain lines without control characters elsewhere', () => {
    const out = sink(false);
    const progress = createProgress(out);
    progress.functionStarted('hello-node', 8);
    for (let done = 1; done <= 8; done++) progress.measured({ arm: { mode: 'cold' }, sample, warmup: false, done, total: 8 });
    progress.finish();
    expect(out.written).toEqual([
      'hello-node: 8 measurements (warm-ups included)\n',
      'hello-node: 2/8 done\n',
      'hello-node: 4/8 done\n',
      'hello-node: 6/8 done\n',
      'hello-node: 8/8 done\n',
    ]);
  });
});
