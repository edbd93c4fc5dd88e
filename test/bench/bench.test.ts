// A short real bench through the CLI: real criu, a real runtime, two runs. Its JSON is checked for shape and
// sanity, never for speed.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, ROOT, runPrebake, type Sandbox } from '../helpers.ts';

let sandbox: Sandbox;
let helloDir: string;

beforeAll(async () => {
  sandbox = await makeSandbox();
  helloDir = await sandbox.addFunction('hello-node', 'bundled');
});

afterAll(async () => {
  try {
    await sandbox.expectClean();
  } finally {
    await sandbox.cleanup();
  }
});

const prebake = (...args: string[]) => runPrebake(['--home', sandbox.home, ...args]);
// The real CLI, for the test that interrupts it with a signal.
const spawnPrebake = (...args: string[]) =>
  execa(process.execPath, [path.join(ROOT, 'src', 'cli', 'main.ts'), '--home', sandbox.home, ...args], { reject: false });

interface Stats {
  p50: number;
  p95: number;
  p99: number;
  min: number;
  max: number;
}

interface BenchDocument {
  machine: Record<string, unknown>;
  config: { runs: number; modes: string[] };
  results: {
    function: string;
    mode: string;
    runs: number;
    failures: number;
    startup_ms: Stats;
    e2e_ms: Stats;
    rss_mb: Stats;
    samples: { run: number; ok: boolean; startup_ms: number; e2e_ms: number; rss_mb: number; pss_mb: number }[];
  }[];
  speedups: { function: string; mode: string; startup_p50: number | null; e2e_p50: number | null }[];
  images: { function: string; kind: string; bytes: number; build_ms: number }[];
}

describe('prebake bench', () => {
  it('builds a function that has no image, runs every mode, and writes JSON and a chart', async () => {
    const json = path.join(sandbox.root, 'out', 'bench.json');
    const chart = path.join(sandbox.root, 'out', 'bench.svg');
    // pooled: every clone is used once; a sandbox clean afterwards says the pool ended its spare clones.
    const result = await prebake(
      'bench',
      helloDir,
      '--runs',
      '2',
      '--modes',
      'cold,prebaked,warm,node-snapshot,pooled',
      '--json',
      json,
      '--chart',
      chart,
    );
    expect(result.stderr).toContain('hello-node: no image yet, building it');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/hello-node \(node\): 2 runs per mode/);
    expect(result.stdout).toMatch(/prebaked vs cold: start \d+\.\d\dx \(p50\)/);
    expect(result.stdout).toMatch(/pooled: a pool of 2 ready clones holds 2 x \d+\.\d MB PSS = \d+\.\d MB/);

    const doc = JSON.parse(await readFile(json, 'utf8')) as BenchDocument;
    expect(doc.machine).toMatchObject({
      cores: expect.any(Number),
      criu: expect.stringMatching(/^4\./),
      kernel: expect.any(String),
      criu_build: expect.stringMatching(/^(lean|packaged) /),
      huge_page_fill: expect.any(String),
      hardware_breakpoints: expect.stringMatching(/^(working|not working: criu stops on syscalls instead)/),
      page_fault_4k_us: expect.any(Number),
      page_fault_huge_us: expect.any(Number),
      page_faults: expect.stringMatching(/ us per 4 KiB fault.*: (slow|fast): /),
    });
    expect(doc.machine.page_fault_4k_us).toBeGreaterThan(0);
    expect(doc.config).toMatchObject({ runs: 2, modes: ['cold', 'prebaked', 'warm', 'node-snapshot', 'pooled'] });
    expect(doc.results.map((r) => r.mode)).toEqual(['cold', 'prebaked', 'warm', 'node-snapshot', 'pooled']);
    for (const r of doc.results) {
      expect(r).toMatchObject({ function: 'hello-node', runs: 2, failures: 0 });
      expect(Object.keys(r.e2e_ms).sort()).toEqual(['max', 'mean', 'min', 'n', 'p50', 'p95', 'p99']);
      expect(r.samples.map((s) => s.run)).toEqual([1, 2]);
      for (const s of r.samples) {
        expect(s.ok).toBe(true);
        if (r.mode === 'warm') expect(s.startup_ms).toBe(0);
        else expect(s.startup_ms).toBeGreaterThan(0);
        expect(s.e2e_ms).toBeGreaterThan(0);
        expect(s.e2e_ms).toBeGreaterThanOrEqual(s.startup_ms);
        expect(s.rss_mb).toBeGreaterThan(1);
        expect(s.pss_mb).toBeGreaterThan(0);
        expect(s.pss_mb).toBeLessThanOrEqual(s.rss_mb);
      }
      expect(r.e2e_ms.min).toBeLessThanOrEqual(r.e2e_ms.p50);
      expect(r.e2e_ms.p50).toBeLessThanOrEqual(r.e2e_ms.max);
    }
    // A speed-up is the cold median over the mode's median, from the same document's summaries.
    const p50 = (mode: string) => doc.results.find((r) => r.mode === mode)!.startup_ms.p50;
    expect(doc.speedups.find((s) => s.mode === 'prebaked')?.startup_p50).toBeCloseTo(p50('cold') / p50('prebaked'), 6);
    expect(doc.images.map((i) => i.kind).sort()).toEqual(['criu', 'node-snapshot']);
    for (const image of doc.images) {
      expect(image.bytes).toBeGreaterThan(100_000);
      expect(image.build_ms).toBeGreaterThan(0);
    }

    const svg = await readFile(chart, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    for (const mode of ['cold', 'prebaked', 'warm', 'node-snapshot', 'pooled']) expect(svg).toContain(`>${mode}<`);
  });

  it('takes the name of a built function, and skips node-snapshot and fork for a function they cannot start', async () => {
    const pythonDir = await sandbox.addFunction('hello-python', 'bundled');
    const result = await prebake(
      'bench',
      'hello-node',
      pythonDir,
      '--runs',
      '1',
      '--warmups',
      '0',
      '--modes',
      'prebaked,node-snapshot,fork',
    );
    expect(result.stderr).not.toContain('hello-node: no image yet');
    expect(result.stderr).toContain('hello-python: skipping node-snapshot: a python function');
    expect(result.stderr).toMatch(/hello-node: skipping fork: .*single-threaded runtime/);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('hello-python (python): 1 runs per mode');
    // The fork arm ran for the Python function: its row has one successful run.
    expect(result.stdout).toMatch(/^fork .* 1\/1$/m);
  });

  it('skips a mode a function cannot run and a function that fails to build, and keeps every other result', async () => {
    const threadsDir = await sandbox.addFunction('threads-python');
    const brokenDir = await sandbox.addFunction('python-init-error');
    const json = path.join(sandbox.root, 'out', 'skips.json');
    const result = await prebake('bench', brokenDir, threadsDir, '-n', '2', '--warmups', '0', '--modes', 'prebaked,fork', '--json', json);
    // The function that failed to build is a failure of the bench; the fork refused is not.
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toMatch(/^python-init-error: not measured$/m);
    expect(result.stdout).toMatch(/^ {2}prebaked: skipped: .*cannot reach the database.*\[PREBAKE_ERR_INIT_FAILED\]$/m);
    expect(result.stdout).toMatch(/^threads-python \(python\): 2 runs per mode/m);
    expect(result.stdout).toMatch(/^prebaked .* 2\/2$/m);
    expect(result.stdout).toMatch(
      /^ {2}fork: skipped: .*2 threads.*OPENBLAS_NUM_THREADS=1.*grpc.*logging.*\[PREBAKE_ERR_FORK_UNSUPPORTED\]$/m,
    );

    const doc = JSON.parse(await readFile(json, 'utf8')) as BenchDocument & {
      complete: boolean;
      skipped: { function: string; mode: string; code: string | null; reason: string; hint: string | null }[];
    };
    expect(doc.complete).toBe(true);
    expect(doc.results.map((r) => [r.function, r.mode, r.runs, r.failures])).toEqual([['threads-python', 'prebaked', 2, 0]]);
    expect(doc.skipped.map((s) => [s.function, s.mode, s.code])).toEqual([
      ['python-init-error', 'prebaked', 'PREBAKE_ERR_INIT_FAILED'],
      ['python-init-error', 'fork', 'PREBAKE_ERR_INIT_FAILED'],
      ['threads-python', 'fork', 'PREBAKE_ERR_FORK_UNSUPPORTED'],
    ]);
    expect(doc.skipped[2]!.hint).toContain('OPENBLAS_NUM_THREADS=1');
  });

  it('leaves valid JSON of the functions that finished when it is interrupted', async () => {
    const helloDir = await sandbox.addFunction('hello-python', 'bundled');
    // A function whose init takes two minutes: the bench is interrupted while it builds.
    const slowDir = path.join(sandbox.root, 'functions', 'slow-init-python');
    await mkdir(slowDir, { recursive: true });
    await writeFile(
      path.join(slowDir, 'function.json'),
      JSON.stringify({ runtime: 'python', handler: 'main.handler', timeoutMs: 120_000 }),
    );
    await writeFile(path.join(slowDir, 'main.py'), 'import time\ntime.sleep(120)\n\ndef handler(event, context):\n    return None\n');
    const json = path.join(sandbox.root, 'out', 'interrupted.json');
    const bench = spawnPrebake('bench', helloDir, slowDir, '-n', '2', '--warmups', '0', '--modes', 'cold,prebaked', '--json', json);
    let doc: (BenchDocument & { complete: boolean }) | undefined;
    while (!doc) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      doc = await readFile(json, 'utf8').then(
        (text) => JSON.parse(text) as BenchDocument & { complete: boolean },
        () => undefined,
      );
      if (bench.exitCode !== null) throw new Error(`the bench ended first: ${(await bench).stderr}`);
    }
    bench.kill('SIGINT');
    const result = await bench;
    expect(result.exitCode).toBe(130);
    expect(result.stdout).toMatch(/^hello-python \(python\): 2 runs per mode/m);
    doc = JSON.parse(await readFile(json, 'utf8')) as BenchDocument & { complete: boolean };
    expect(doc.complete).toBe(false);
    expect(doc.results.map((r) => [r.function, r.mode, r.runs, r.failures])).toEqual([
      ['hello-python', 'cold', 2, 0],
      ['hello-python', 'prebaked', 2, 0],
    ]);
  });

  it('refuses an unknown mode before running anything', async () => {
    const result = await prebake('bench', 'hello-node', '--modes', 'cold,lukewarm');
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('unknown bench mode "lukewarm"');
  });
});
