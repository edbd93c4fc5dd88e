// Two checkouts of prebake side by side on one function: alternates prebaked starts between them invocation by
// invocation (ABBA...), so that a shared machine's drift hits both alike, and prints each one's start p50 (and
// the paired difference) and the CPU per start + end of everything each side ran (a cpuacct cgroup per side).
// Each side builds the function into a home of its own (named by its checkout) with its own code. How the sandbox's cost was measured
// against the tree before it (docs/BENCHMARKS.md, "The sandbox").
//
//   node scripts/tree-ab.ts --a /path/to/before --b /path/to/after [--function functions/hello-node] [--runs 100]
//   (CRIU_A / CRIU_B pick each side's criu; PREBAKE_CRIU both; ENV_A / ENV_B add "NAME=value ..." to one side's
//   environment, e.g. ENV_A=PREBAKE_THP_FILL=0 to compare the huge page fill off and on)
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string' },
    function: { type: 'string', default: 'functions/hello-node' },
    runs: { type: 'string', default: '100' },
  },
});
if (!values.a || !values.b) throw new Error('--a and --b name the two checkouts');
const runs = Number(values.runs);
const fnDir = path.resolve(values.function);
const name = path.basename(fnDir);

interface Sample {
  startMs: number;
  cycleMs: number;
  /** Everything the side ran: the controller, criu, the clone, the teardown. */
  cpuMs: number;
  /** The controller's own share (the Node process that restores and ends the instance). */
  controllerMs: number;
}

function side(label: 'A' | 'B', tree: string) {
  const criu = process.env[`CRIU_${label}`];
  const extra = Object.fromEntries(
    (process.env[`ENV_${label}`] ?? '')
      .split(/\s+/)
      .filter(Boolean)
      .map((pair) => {
        const at = pair.indexOf('=');
        if (at < 1) throw new Error(`ENV_${label}: "${pair}" is not NAME=value`);
        return [pair.slice(0, at), pair.slice(at + 1)];
      }),
  );
  const child = spawn(
    process.execPath,
    [
      path.join(import.meta.dirname, 'tree-ab-worker.ts'),
      path.resolve(tree),
      `/var/tmp/prebake-tree-ab-${createHash('sha256').update(path.resolve(tree)).digest('hex').slice(0, 8)}-${name}`,
      fnDir,
    ],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, ...(criu && { PREBAKE_CRIU: criu }), ...extra },
    },
  );
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return { label, tree, child, next: async () => (await lines.next()).value as string, samples: [] as Sample[] };
}

const sides = [side('A', values.a), side('B', values.b)];
for (const s of sides) if ((await s.next()) !== 'ready') throw new Error(`side ${s.label} did not start`);
const load = os.loadavg()[0]!;
for (let i = 0; i < runs; i++) {
  for (const s of i % 2 ? [...sides].reverse() : sides) {
    s.child.stdin.write('go\n');
    s.samples.push(JSON.parse(await s.next()) as Sample);
  }
}
for (const s of sides) s.child.stdin.end();
const quantile = (xs: number[], p: number) => [...xs].sort((x, y) => x - y)[Math.round((xs.length - 1) * p)]!;
console.log(`${name}: ${runs} prebaked starts per side, alternated; load average ${load.toFixed(2)} -> ${os.loadavg()[0]!.toFixed(2)}`);
for (const s of sides) {
  const start = s.samples.map((x) => x.startMs);
  console.log(
    `${s.label} ${s.tree}: start p50 ${quantile(start, 0.5).toFixed(2)} p25 ${quantile(start, 0.25).toFixed(2)} min ${quantile(start, 0).toFixed(2)} ` +
      `p90 ${quantile(start, 0.9).toFixed(2)}; start+end p50 ${quantile(
        s.samples.map((x) => x.cycleMs),
        0.5,
      ).toFixed(2)}; ` +
      `CPU per start+end p50 ${quantile(
        s.samples.map((x) => x.cpuMs),
        0.5,
      ).toFixed(1)} ms, of which criu + clone ` +
      `${quantile(
        s.samples.map((x) => x.cpuMs - x.controllerMs),
        0.5,
      ).toFixed(1)} ms`,
  );
}
const [a, b] = sides as [(typeof sides)[0], (typeof sides)[0]];
console.log(
  `B - A per pair: p50 ${quantile(
    b.samples.map((x, i) => x.startMs - a.samples[i]!.startMs),
    0.5,
  ).toFixed(2)} ms`,
);
