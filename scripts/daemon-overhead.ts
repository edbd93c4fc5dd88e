// The daemon's own overhead per invocation, for a function with a big node_modules: what a client waits for
// beyond the instance's start and the handler's run. Generates a Node function with --files files in
// node_modules (default 6,500, about what a function with the AWS SDK v3 and express ships), starts
// `prebake serve` on loopback with a fresh home, registers the function (which builds it), then sends
// --runs invocations one at a time (after --warmup unrecorded ones) per start mode and reports, per mode,
// the client-side time (request sent until the whole response is read, node:http with a keep-alive socket),
// the daemon's x-prebake-start-ms and x-prebake-run-ms, and overhead = client - start - run, as
// p50/p95/min/max; and the daemon process's own CPU time per invocation (user + system, from /proc), which,
// unlike the overhead, does not grow with the machine's load: on a busy machine each ms of it waits its turn.
//
//   node scripts/daemon-overhead.ts [--files 6500] [--runs 200] [--warmup 10] [--modes prebaked,warm]
//                                   [--json FILE] [--keep]
//
// Only ever talks to 127.0.0.1. Runs as root, like prebake. Everything lives in a temp dir, removed at the end
// unless --keep.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { type Summary, summarize } from '../src/bench/stats.ts';

const PREBAKE = path.resolve(import.meta.dirname, '..', 'bin', 'prebake');
const LOOPBACK = '127.0.0.1';
const FILES_PER_PACKAGE = 50;

const { values: args } = parseArgs({
  options: {
    files: { type: 'string', default: '6500' },
    runs: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '10' },
    modes: { type: 'string', default: 'prebaked,warm' },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});

/** A Node function whose node_modules holds `files` files; its init loads one package of them. */
async function generateFunction(dir: string, files: number): Promise<void> {
  const packages = Math.ceil(files / FILES_PER_PACKAGE);
  for (let p = 0; p < packages; p++) {
    const pkg = path.join(dir, 'node_modules', `pkg-${p}`);
    await mkdir(path.join(pkg, 'lib'), { recursive: true });
    const count = Math.min(FILES_PER_PACKAGE, files - p * FILES_PER_PACKAGE);
    await writeFile(path.join(pkg, 'package.json'), JSON.stringify({ name: `pkg-${p}`, version: '1.0.0', main: 'lib/file-0.js' }));
    for (let f = 1; f < count; f++) await writeFile(path.join(pkg, 'lib', `file-${f}.js`), `module.exports = ${f};\n`);
    await writeFile(path.join(pkg, 'lib', 'file-0.js'), `module.exports = { name: 'pkg-${p}' };\n`);
  }
  await writeFile(
    path.join(dir, 'function.json'),
    JSON.stringify({ name: 'big-node', runtime: 'node', handler: 'index.handler', warmup: { invocations: 1 } }),
  );
  await writeFile(
    path.join(dir, 'index.js'),
    "const dep = require('pkg-0');\nexports.handler = async (event) => ({ dep: dep.name, echo: event });\n",
  );
}

// The daemon's API token for this run, handed over in its environment.
const API_TOKEN = randomBytes(32).toString('hex');

/** CPU time `pid` has used (user + system), in ms: fields 14 and 15 of /proc/<pid>/stat, in clock ticks of 10 ms. */
async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function startDaemon(home: string): Promise<{ url: URL; pid: number; stop: () => Promise<number | null> }> {
  const child = spawn(PREBAKE, ['serve', '--host', LOOPBACK, '--port', '0', '--home', home], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, PREBAKE_API_TOKEN: API_TOKEN },
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // Every request is logged: the daemon's stdout is read for the whole run, or it would block.
  const lines = readline.createInterface({ input: child.stdout! });
  return new Promise((resolve, reject) => {
    lines.on('line', (line) => {
      if (!line.includes('prebake daemon listening')) return;
      const url = new URL((JSON.parse(line) as { url: string }).url);
      if (url.hostname !== LOOPBACK) {
        child.kill('SIGTERM');
        reject(new Error(`the daemon listens on ${url.href}, not on ${LOOPBACK}`));
        return;
      }
      // bin/prebake execs node: the child is the daemon.
      resolve({
        url,
        pid: child.pid!,
        stop: () => {
          child.kill('SIGTERM');
          return exited;
        },
      });
    });
    void exited.then((code) => reject(new Error(`the daemon exited (${code}) before listening`)));
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function post(url: URL, body: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const sent = performance.now();
    const request = http.request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${API_TOKEN}` } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString(),
            ms: performance.now() - sent,
          }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

const root = await mkdtemp(path.join(os.tmpdir(), 'prebake-overhead-'));
// Instances run as an unprivileged user who must get through to the home's files (src/launch/reachable.ts).
await chmod(root, 0o711);
const files = Number(args.files);
const functionDir = path.join(root, 'big-node');
await generateFunction(functionDir, files);
const daemon = await startDaemon(path.join(root, 'home'));
const report: Record<string, Record<string, Summary | undefined>> = {};
const daemonCpuMs: Record<string, number> = {};
const loadAtStart = os.loadavg();
try {
  const registered = await post(new URL('/functions', daemon.url), JSON.stringify({ path: functionDir }));
  if (registered.status !== 201) throw new Error(`registering the function: ${registered.status} ${registered.body}`);
  process.stderr.write(`big-node: ${files} files in node_modules, registered (built) in ${(registered.ms / 1000).toFixed(1)} s\n`);
  for (const mode of args.modes.split(',')) {
    const url = new URL(`/functions/big-node/invoke?mode=${mode}`, daemon.url);
    const samples = { client: [] as number[], start: [] as number[], run: [] as number[], overhead: [] as number[] };
    let cpuBefore = 0;
    for (let i = 0; i < Number(args.warmup) + Number(args.runs); i++) {
      if (i === Number(args.warmup)) cpuBefore = await cpuMs(daemon.pid);
      const answer = await post(url, '{"n":1}');
      if (answer.status !== 200) throw new Error(`${mode} invocation ${i}: ${answer.status} ${answer.body}`);
      if (i < Number(args.warmup)) continue;
      const start = Number(answer.headers['x-prebake-start-ms']);
      const run = Number(answer.headers['x-prebake-run-ms']);
      samples.client.push(answer.ms);
      samples.start.push(start);
      samples.run.push(run);
      samples.overhead.push(answer.ms - start - run);
    }
    daemonCpuMs[mode] = ((await cpuMs(daemon.pid)) - cpuBefore) / Number(args.runs);
    report[mode] = Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, summarize(values)]));
  }
} finally {
  agent.destroy();
  const code = await daemon.stop();
  if (code !== 0) process.exitCode = 1;
  if (!args.keep) await rm(root, { recursive: true, force: true });
}

const load = os
  .loadavg()
  .map((l) => l.toFixed(1))
  .join(' ');
const cell = (s: Summary | undefined) =>
  s ? `${s.p50.toFixed(2)} / ${s.p95.toFixed(2)} / ${s.min.toFixed(2)} / ${s.max.toFixed(2)}` : '-';
const loadAtStartText = loadAtStart.map((l) => l.toFixed(1)).join(' ');
process.stdout.write(
  `ms, p50 / p95 / min / max over ${args.runs} sequential invocations of a function with ${files} files in node_modules (load average at the start: ${loadAtStartText}, at the end: ${load})\n`,
);
process.stdout.write(
  '| mode | overhead (client - start - run) | client | x-prebake-start-ms | x-prebake-run-ms | daemon CPU per invocation |\n|---|---|---|---|---|---|\n',
);
for (const [mode, s] of Object.entries(report)) {
  process.stdout.write(
    `| ${mode} | ${cell(s.overhead)} | ${cell(s.client)} | ${cell(s.start)} | ${cell(s.run)} | ${daemonCpuMs[mode]!.toFixed(2)} |\n`,
  );
}
if (args.json) {
  const settings = {
    files,
    runs: Number(args.runs),
    warmup: Number(args.warmup),
    loadAverageAtStart: loadAtStart,
    loadAverage: os.loadavg(),
  };
  await writeFile(args.json, `${JSON.stringify({ ...settings, report, daemonCpuMsPerInvocation: daemonCpuMs }, null, 2)}\n`);
}
