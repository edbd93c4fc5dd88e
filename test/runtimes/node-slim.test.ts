import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SLIM = path.resolve('src/runtimes/node/slim.mjs');

// Runs in a node process of its own: what slimForSnapshot does (expose gc, malloc_trim) must not leak into
// the test runner.
const run = (script: string) =>
  JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as Record<
    string,
    number | boolean | string
  >;

describe('slimming a Node instance before its snapshot', () => {
  it('hands memory freed in the C heap back to the kernel, and leaves no gc in the global scope', () => {
    const result = run(`
      import { readFileSync } from 'node:fs';
      import { slimForSnapshot } from ${JSON.stringify(SLIM)};
      const rssMb = () => Number(/VmRSS:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
      // 64 KiB buffers come from glibc's heap (below its mmap threshold), as V8's and Node's C++ allocations do.
      let buffers = Array.from({ length: 2000 }, () => Buffer.allocUnsafeSlow(64 * 1024).fill(1));
      const filled = rssMb();
      buffers = undefined;
      await slimForSnapshot();
      console.log(JSON.stringify({ filled, slimmed: rssMb(), gc: typeof globalThis.gc }));
    `);
    expect(result.gc).toBe('undefined');
    expect(Number(result.filled) - Number(result.slimmed)).toBeGreaterThan(64);
  });
});
