// The log collector bounds what a function's output can cost the controller: its limit is in bytes.
import { closeSync, writeSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LogCollector } from '../../src/instance/logs.ts';
import { createPipe } from '../../src/launch/pipes.ts';

async function collect(write: (stdout: number, stderr: number) => void, limitBytes: number): Promise<string> {
  const [stdout, stderr] = [createPipe(), createPipe()];
  const logs = new LogCollector(stdout.read, stderr.read, limitBytes);
  write(stdout.write, stderr.write);
  closeSync(stdout.write);
  closeSync(stderr.write);
  await logs.drained(5_000);
  const text = logs.text();
  logs.close();
  return text;
}

describe('LogCollector', () => {
  it('counts bytes, not characters, against its limit', async () => {
    // 100 two-byte characters: 200 bytes, 100 UTF-16 units.
    const text = await collect((out) => writeSync(out, 'é'.repeat(100)), 150);
    const [kept] = text.split('\n[prebake: logs truncated');
    expect(Buffer.byteLength(kept!)).toBe(150);
    expect(kept).toBe('é'.repeat(75));
    expect(text).toContain('[prebake: logs truncated at 150 bytes per stream]');
  });

  it('keeps a character split across two writes whole', async () => {
    const bytes = Buffer.from('añb');
    const text = await collect((out) => {
      writeSync(out, bytes.subarray(0, 2));
      writeSync(out, bytes.subarray(2));
    }, 1024);
    expect(text).toBe('añb');
  });

  it('never keeps half a character cut at the limit', async () => {
    const text = await collect((out) => writeSync(out, 'aé'), 2);
    expect(text.startsWith('a\n[prebake: logs truncated')).toBe(true);
  });
});
