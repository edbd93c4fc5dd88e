// Reproduces the experiment of Silva, Fireman and Pereira, "Prebaking Functions to Warm the Serverless Cold
// Start" (Middleware 2020) with prebake: synthetic functions of growing code size, in Node, Python and Java,
// each started cold (a standard start) and restored from a CRIU snapshot taken at readiness and from one taken
// after a first request; for Node also from Node's own startup snapshot (node --build-snapshot), at the same
// two points. Every arm of one function is measured run by run, interleaved (src/bench/run.ts).
//
//   node scripts/reproduce-paper.ts [--runs 20] [--sizes 10,100,1000,3000,10000,30000] [--runtimes node,python,java]
//                                   [--warmups 1] [--out bench-results/paper] [--no-python-caches] [--keep]
//
// Writes to --out: results.json (every run, as `prebake bench --json`), report.txt (the per-function tables),
// results.md (the paper's view: speed-ups per runtime, size and snapshot point), speedup-first-response.svg,
// speedup-start.svg (speed-up against code size) and distributions.svg (box plots of every arm).
// Python functions ship their bytecode caches unless --no-python-caches (see scripts/paper/synthetic.ts).
// Runs as root, like prebake. Generated functions and images live in a temp dir, removed at the end.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildFunction } from '../src/bake/build.ts';
import { type Arm, freshInstanceArm } from '../src/bench/arms.ts';
import type { BenchRun, ImageInfo } from '../src/bench/bench.ts';
import { benchChart } from '../src/bench/chart.ts';
import { benchJson } from '../src/bench/json.ts';
import { describeMachine } from '../src/bench/machine.ts';
import { buildNodeSnapshot, startFromNodeSnapshot } from '../src/bench/node-snapshot/snapshot.ts';
import { createProgress } from '../src/bench/progress.ts';
import { formatReport } from '../src/bench/report.ts';
import { runInterleaved } from '../src/bench/run.ts';
import { type ArmResult, summarizeArm } from '../src/bench/summary.ts';
import { Criu } from '../src/criu/criu.ts';
import { InstanceRegistry } from '../src/instance/registry.ts';
import { resolveFunction } from '../src/invoke/resolve.ts';
import { loadFunction } from '../src/manifest/load.ts';
import { runtimeFor } from '../src/runtimes/index.ts';
import { startInstance } from '../src/start/start.ts';
import { ImageStore } from '../src/store/store.ts';
import { generateSynthetic, SYNTHETIC_RUNTIMES, type SyntheticRuntime } from './paper/synthetic.ts';
import { paperTable, type SyntheticCase, speedupChart } from './paper/tables.ts';

// An interrupted run must still end its function instances (instance.ts kills them on exit).
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    warmups: { type: 'string', default: '1' },
    sizes: { type: 'string', default: '10,100,1000,3000,10000,30000' },
    runtimes: { type: 'string', default: SYNTHETIC_RUNTIMES.join(',') },
    out: { type: 'string', default: 'bench-results/paper' },
    keep: { type: 'boolean', default: false },
    'no-python-caches': { type: 'boolean', default: false },
  },
});

function positiveIntegers(text: string, what: string, min: number): number[] {
  const list = text.split(',').map((t) => Number(t.trim()));
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < min)) {
    console.error(`--${what}: expected whole numbers >= ${min}, got "${text}"`);
    process.exit(2);
  }
  return list;
}

const runs = positiveIntegers(args.runs!, 'runs', 1)[0]!;
const warmups = positiveIntegers(args.warmups!, 'warmups', 0)[0]!;
const sizes = positiveIntegers(args.sizes!, 'sizes', 1);
const askedRuntimes = args.runtimes!.split(',').map((r) => r.trim()) as SyntheticRuntime[];
const outDir = path.resolve(args.out!);
const log = (line: string) => process.stderr.write(`${line}\n`);

/** The runtimes that can run here: registered in src/runtimes/index.ts and installed. */
async function usableRuntimes(): Promise<SyntheticRuntime[]> {
  const usable: SyntheticRuntime[] = [];
  for (const runtime of askedRuntimes) {
    if (!SYNTHETIC_RUNTIMES.includes(runtime)) {
      log(`skipping ${runtime}: no synthetic generator for it (${SYNTHETIC_RUNTIMES.join(', ')})`);
      continue;
    }
    try {
      log(`${runtime}: ${(await runtimeFor(runtime).interpreter()).version}`);
      usable.push(runtime);
    } catch (error) {
      log(`skipping ${runtime}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return usable;
}

const work = await mkdtemp(path.join(os.tmpdir(), 'prebake-paper-'));
const store = new ImageStore(path.join(work, 'home'));
const criu = new Criu();
const instances = new InstanceRegistry();
instances.killOnExit();
const startedAt = new Date().toISOString();
const loadAtStart = os.loadavg();
const began = performance.now();
const arms: ArmResult[] = [];
const images: ImageInfo[] = [];
const cases: SyntheticCase[] = [];
const progress = createProgress(process.stderr);

try {
  await store.init();
  for (const runtime of await usableRuntimes()) {
    for (const units of sizes) {
      const base = `syn-${runtime}-${units}`;
      // Same code, two manifests: a snapshot at readiness (0 warm-ups) and one after a first request.
      const noPythonCaches = args['no-python-caches'];
      const ready = await generateSynthetic(path.join(work, 'functions', `${base}-ready`), {
        runtime,
        units,
        name: `${base}-ready`,
        warmups: 0,
        noPythonCaches,
      });
      const afterRequest = await generateSynthetic(path.join(work, 'functions', `${base}-1req`), {
        runtime,
        units,
        name: `${base}-1req`,
        warmups: 1,
        noPythonCaches,
      });
      cases.push({ functionName: base, runtime, units, sourceBytes: ready.sourceBytes });
      log(`${base}: ${(ready.sourceBytes / 1e3).toFixed(0)} kB of source; building`);

      const functionArms: Arm[] = [];
      const armOptions = (mode: string, timeoutMs: number) => ({ functionName: base, mode, event: '{"n":1}', timeoutMs });
      const readySpec = await loadFunction(ready.dir);
      for (const [dir, label] of [
        [ready.dir, 'ready'],
        [afterRequest.dir, '1req'],
      ] as const) {
        const built = await buildFunction(await loadFunction(dir), { store, criu, instances });
        images.push({
          functionName: `${base}-${label}`,
          kind: 'criu',
          bytes: built.meta.imageBytes,
          buildMs: built.meta.buildMs,
          warmups: built.meta.warmupInvocations,
        });
        const resolved = await resolveFunction(dir, store, 'prebaked');
        functionArms.push(
          freshInstanceArm(armOptions(`prebaked-${label}`, readySpec.timeoutMs), () => startInstance(resolved, store, criu, instances)),
        );
      }
      const plain = await resolveFunction(ready.dir, store, 'cold');
      functionArms.unshift(freshInstanceArm(armOptions('cold', readySpec.timeoutMs), () => startInstance(plain, store, criu, instances)));
      if (runtime === 'node') {
        for (const [count, label] of [
          [0, 'ready'],
          [1, '1req'],
        ] as const) {
          const snapshot = await buildNodeSnapshot(readySpec, plain.preparedDir, work, count);
          images.push({
            functionName: `${base}-${label}`,
            kind: 'node-snapshot',
            bytes: snapshot.bytes,
            buildMs: snapshot.buildMs,
            warmups: count,
          });
          functionArms.push(
            freshInstanceArm(armOptions(`node-snapshot-${label}`, readySpec.timeoutMs), () =>
              startFromNodeSnapshot(readySpec, plain.preparedDir, snapshot, store, instances),
            ),
          );
        }
      }

      progress.functionStarted(base, functionArms.length * (runs + warmups));
      try {
        const results = await runInterleaved(functionArms, { runs, warmups, onMeasured: (event) => progress.measured(event) });
        for (const { arm, samples } of results) arms.push({ functionName: base, runtime, mode: arm.mode, samples });
      } finally {
        progress.finish();
      }
      // Images of big functions add up: keep only what the remaining sizes need.
      await store.remove(`${base}-ready`);
      await store.remove(`${base}-1req`);
      await rm(path.join(work, 'functions', `${base}-ready`), { recursive: true, force: true });
      await rm(path.join(work, 'functions', `${base}-1req`), { recursive: true, force: true });
    }
  }

  const run: BenchRun = {
    startedAt,
    finishedAt: new Date().toISOString(),
    complete: true,
    runs,
    warmups,
    modes: [...new Set(arms.map((a) => a.mode))],
    machine: await describeMachine(criu),
    load: { start: loadAtStart, end: os.loadavg() },
    arms,
    images,
    skipped: [],
  };
  const summaries = arms.map(summarizeArm);
  const m = run.machine;
  const subtitle = `${runs} runs per arm; ${m.cpuModel}, ${m.cores} cores, ${m.kernel}; criu ${m.criu}; ${startedAt.slice(0, 10)}`;
  const command =
    `node scripts/reproduce-paper.ts --runs ${runs} --warmups ${warmups} --sizes ${sizes.join(',')} --runtimes ${askedRuntimes.join(',')}` +
    (args['no-python-caches'] ? ' --no-python-caches' : '');
  await mkdir(outDir, { recursive: true });
  const json = {
    ...benchJson(run),
    command,
    synthetic: cases.map((c) => ({ function: c.functionName, runtime: c.runtime, units: c.units, source_bytes: c.sourceBytes })),
  };
  await writeFile(path.join(outDir, 'results.json'), `${JSON.stringify(json, null, 2)}\n`);
  await writeFile(path.join(outDir, 'report.txt'), formatReport(run));
  const minutes = ((performance.now() - began) / 60_000).toFixed(1);
  await writeFile(path.join(outDir, 'results.md'), `Command: \`${command}\` (took ${minutes} min)\n\n${paperTable(cases, summaries)}`);
  await writeFile(path.join(outDir, 'speedup-first-response.svg'), speedupChart(cases, summaries, 'e2e', subtitle));
  await writeFile(path.join(outDir, 'speedup-start.svg'), speedupChart(cases, summaries, 'startup', subtitle));
  await writeFile(
    path.join(outDir, 'distributions.svg'),
    benchChart(run, { title: `Synthetic functions: start-up and end-to-end latency, ${runs} runs per arm` }),
  );
  process.stdout.write(paperTable(cases, summaries));
  log(
    `wrote results.json, report.txt, results.md, speedup-first-response.svg, speedup-start.svg, distributions.svg to ${outDir} (${minutes} min)`,
  );
} finally {
  if (args.keep) log(`kept the generated functions and images in ${work}`);
  else await rm(work, { recursive: true, force: true });
}
