// scripts/load-daemon.ts refuses what it cannot run before it starts anything: fork mode for a function whose
// runtime cannot fork, a function that does not exist. (Its load levels themselves are a benchmark, run by hand.)
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.ts';

// The script's temp dir (home, daemon log) goes under TMPDIR: a fresh one shows whether it made any.
let tmp: string;
beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'prebake-load-test-'));
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const loadDaemon = (...args: string[]) =>
  execa(process.execPath, [path.join(ROOT, 'scripts', 'load-daemon.ts'), ...args], { reject: false, env: { TMPDIR: tmp } });

describe('scripts/load-daemon.ts', () => {
  it('refuses fork mode for a function that is not Python, naming it, before starting a daemon', async () => {
    const run = await loadDaemon('--functions', 'hello-python,hello-node', '--modes', 'prebaked,fork', '--seconds', '1');
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toMatch(/^load-daemon: --modes fork: function "hello-node": fork mode needs a single-threaded runtime \(Python\)/);
    expect(run.stdout).toBe('');
    expect(await readdir(tmp)).toEqual([]);
  });

  it('refuses a function that does not exist, naming it', async () => {
    const run = await loadDaemon('--functions', 'no-such-function', '--modes', 'fork');
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain('load-daemon: --functions no-such-function:');
    expect(run.stderr).toContain(path.join(ROOT, 'functions', 'no-such-function'));
    expect(await readdir(tmp)).toEqual([]);
  });
});
