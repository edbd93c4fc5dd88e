// A bounded load test of the daemon: starts `prebake serve` on loopback, registers bundled functions, then for
// each function x start mode x concurrency level runs a closed loop (C clients, each sending its next
// invocation when the previous one has fully answered) for a bounded time and request count, and records
// throughput, client-side latency, the daemon's start times, errors by status, and what is left running.
//
//   node scripts/load-daemon.ts [--functions hello-node,heavy-node] [--modes prebaked,pooled,fork,warm,cold]
//                               [--concurrency 1,4,16] [--seconds 10] [--max-requests 20000]
//                               [--max-concurrent N] [--max-queued 16] [--config FILE] [--overload 48]
//                               [--no-backoff] [--home DIR] [--json FILE] [--keep]
//
// The daemon runs with `--max-queued` (default 16, so that no level up to 16 clients can be refused) and its
// default maxConcurrent unless --max-concurrent; --config passes a daemon config file (warm.max, ...) through.
// One extra level, "overload" (--overload clients, default 2 x (maxConcurrent + maxQueued); 0 skips it), runs
// the first function prebaked past the limit and the queue on purpose: the daemon must answer 429 with
// Retry-After and keep serving the rest. Clients wait Retry-After after a 429 (as the daemon asks) unless
// --no-backoff.
//
// Every mode but warm gives each invocation a fresh instance: "fresh/s" is how many the daemon started (cold),
// restored (prebaked, a pooled miss), handed out of a clone pool (pooled) or forked from the function's
// template (fork) per second. Fork mode is for Python functions only: any other function named with it is
// refused before the daemon starts (exit 2).
//
// After each level: no invocation is running or queued, every clone pool is full again (at least its
// target ready: pool.size, or with size "auto" the target as of then; no refill under way), and the function instances alive (processes whose command line names the home or a
// function's directory) are exactly the warm pools' (at most warm.max per function), the clone pools' ready
// clones and the fork templates (one per function that has served in fork mode: a template is kept for the
// daemon's life, its children end with their invocation). At the end: SIGTERM, the daemon exits 0, and
// nothing it started is left. Exits 1 when a check fails or a request failed with anything but 429.
//
// Only ever talks to 127.0.0.1. Runs as root, like prebake. Without --home, the home (images) and the daemon's
// log live in a temp dir, removed at the end unless --keep.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { describeMachine, type MachineInfo } from '../src/bench/machine.ts';
import { type Summary, summarize } from '../src/bench/stats.ts';
import { Criu } from '../src/criu/criu.ts';
import { isPrebakeError } from '../src/errors.ts';
import { isNodeProcess, listProcesses, type ProcessInfo, processCpuMs, statusKb } from '../src/launch/proc.ts';
import { type DaemonConfigInput, resolveDaemonConfig } from '../src/manager/config.ts';
import { loadFunction } from '../src/manifest/load.ts';
import type { FunctionSpec } from '../src/manifest/schema.ts';
import { assertForkable } from '../src/start/fork-template.ts';

const REPO = path.resolve(import.meta.dirname, '..');
const PREBAKE = path.join(REPO, 'bin', 'prebake');
const LOOPBACK = '127.0.0.1';
const MODES = ['prebaked', 'pooled', 'fork', 'warm', 'cold'] as const;
type Mode = (typeof MODES)[number];

const { values: args } = parseArgs({
  options: {
    functions: { type: 'string', default: 'hello-node,heavy-node' },
    // fork is not a default: it serves Python functions only, and the default functions are Node's.
    modes: { type: 'string', default: MODES.filter((mode) => mode !== 'fork').join(',') },
    concurrency: { type: 'string', default: '1,4,16' },
    seconds: { type: 'string', default: '10' },
    'max-requests': { type: 'string', default: '20000' },
    'max-concurrent': { type: 'string' },
    'max-queued': { type: 'string', default: '16' },
    config: { type: 'string' },
    overload: { type: 'string' },
    'no-backoff': { type: 'boolean', default: false },
    'request-timeout': { type: 'string', default: '60000' },
    home: { type: 'string' },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});

function fail(message: string): never {
  console.error(`load-daemon: ${message}`);
  process.exit(2);
}

function wholeNumbers(text: string, what: string, min: number): number[] {
  const list = text.split(',').map((t) => Number(t.trim()));
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < min))
    fail(`--${what}: expected whole numbers >= ${min}, got "${text}"`);
  return list;
}

const functionNames = args
  .functions!.split(',')
  .map((name) => name.trim())
  .filter(Boolean);
const modes = args.modes!.split(',').map((mode) => mode.trim()) as Mode[];
for (const mode of modes) if (!MODES.includes(mode)) fail(`--modes: "${mode}" is not one of ${MODES.join(', ')}`);
const levels = wholeNumbers(args.concurrency!, 'concurrency', 1);
const seconds = Number(args.seconds);
if (!(seconds > 0 && seconds <= 600)) fail(`--seconds: expected a number in (0, 600], got "${args.seconds}"`);
const maxRequests = wholeNumbers(args['max-requests']!, 'max-requests', 1)[0]!;
const requestTimeoutMs = wholeNumbers(args['request-timeout']!, 'request-timeout', 1)[0]!;
const maxQueued = wholeNumbers(args['max-queued']!, 'max-queued', 0)[0]!;
const maxConcurrentFlag = args['max-concurrent'] === undefined ? undefined : wholeNumbers(args['max-concurrent'], 'max-concurrent', 1)[0]!;
const configFile = args.config === undefined ? undefined : path.resolve(args.config);
const configInput = configFile === undefined ? {} : (JSON.parse(await readFile(configFile, 'utf8')) as DaemonConfigInput);
// The daemon's effective config, resolved exactly as `prebake serve` resolves the file and these flags.
const daemonConfig = resolveDaemonConfig({
  ...configInput,
  maxQueued,
  ...(maxConcurrentFlag !== undefined && { maxConcurrent: maxConcurrentFlag }),
});
const overload =
  args.overload === undefined ? 2 * (daemonConfig.maxConcurrent + daemonConfig.maxQueued) : wholeNumbers(args.overload, 'overload', 0)[0]!;
const backoff = !args['no-backoff'];

// Every function's manifest, read before anything is started: a missing function or one that cannot run in a
// mode asked for ends the run here, with nothing to clean up.
async function checkedSpec(name: string): Promise<FunctionSpec> {
  const failWith = (what: string, error: unknown, hint?: string): never => {
    if (!isPrebakeError(error)) throw error;
    fail(`${what}: ${error.message}; ${hint ?? error.hint}`);
  };
  const spec = await loadFunction(path.join(REPO, 'functions', name)).catch((error: unknown) => failWith(`--functions ${name}`, error));
  if (modes.includes('fork')) {
    try {
      assertForkable(spec);
    } catch (error) {
      // Every level runs every function in every mode: the run cannot skip it quietly.
      failWith(
        '--modes fork',
        error,
        'name only Python functions with fork (such as hello-python,heavy-python), or leave fork out of --modes',
      );
    }
  }
  return spec;
}
const specs: FunctionSpec[] = [];
for (const name of functionNames) specs.push(await checkedSpec(name));

// -- the machine ---------------------------------------------------------------------------------------------

interface CpuTimes {
  busy: number;
  total: number;
}

/** Jiffies of all CPUs from /proc/stat: busy is everything but idle and iowait. */
async function cpuTimes(): Promise<CpuTimes> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!;
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.slice(0, 8).reduce((sum, v) => sum + v, 0);
  return { busy: total - fields[3]! - fields[4]!, total };
}

function busyPercent(before: CpuTimes, after: CpuTimes): number {
  const total = after.total - before.total;
  return total > 0 ? (100 * (after.busy - before.busy)) / total : 0;
}

/** The daemon's resident memory and open file descriptors: what a leak per invocation would grow. */
async function daemonFootprint(pid: number): Promise<{ rssMb: number; fds: number }> {
  const rssKb = await statusKb(pid, 'VmRSS');
  const fds = (await readdir(`/proc/${pid}/fd`).catch(() => [])).length;
  return { rssMb: rssKb / 1024, fds };
}

interface InstanceCensus {
  /** Tops of instance process trees whose parent is the daemon: one per live instance (criu restore, unshare). */
  underDaemon: ProcessInfo[];
  /** Tops of instance trees nobody owns: anything naming our home outside the daemon, or re-parented away from Node. */
  orphans: ProcessInfo[];
}

/**
 * The function instances alive: processes (not the daemon, not this script) whose command line names the home
 * or a function's directory, grouped into trees. Another prebake on the machine may run the same bundled
 * functions: its instances sit under its own Node process, so they count neither as ours nor as orphans.
 */
async function census(marks: string[], home: string, daemonPid: number | undefined): Promise<InstanceCensus> {
  const all = await listProcesses();
  const ours = [...all.values()].filter(
    (info) => info.pid !== process.pid && info.pid !== daemonPid && info.argv.some((arg) => marks.some((mark) => arg.includes(mark))),
  );
  const pids = new Set(ours.map((info) => info.pid));
  const tops = ours.filter((info) => !pids.has(info.ppid));
  const underDaemon = tops.filter((info) => info.ppid === daemonPid);
  const orphans: ProcessInfo[] = [];
  for (const info of tops) {
    if (info.ppid === daemonPid) continue;
    if (info.argv.some((arg) => arg.includes(home)) || !(await isNodeProcess(info.ppid))) orphans.push(info);
  }
  return { underDaemon, orphans };
}

// -- the daemon ----------------------------------------------------------------------------------------------

interface Daemon {
  child: ChildProcess;
  pid: number;
  url: URL;
  exited: Promise<number | null>;
}

// The daemon's API token for this run, handed over in its environment.
const API_TOKEN = randomBytes(32).toString('hex');

async function startDaemon(home: string, logFile: string, extraArgs: string[]): Promise<Daemon> {
  const argv = ['serve', '--host', LOOPBACK, '--port', '0', '--home', home, ...extraArgs];
  const child = spawn(PREBAKE, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PREBAKE_API_TOKEN: API_TOKEN } });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const log = createWriteStream(logFile);
  child.stderr!.pipe(log, { end: false });
  // The daemon logs every request: its stdout must be drained for the whole run, or it blocks.
  const lines = readline.createInterface({ input: child.stdout! });
  const listening = new Promise<string>((resolve, reject) => {
    lines.on('line', (line) => {
      log.write(`${line}\n`);
      tallyLogLine(line);
      if (line.includes('prebake daemon listening')) {
        try {
          resolve((JSON.parse(line) as { url: string }).url);
        } catch (error) {
          reject(error);
        }
      }
    });
    void exited.then((code) => reject(new Error(`the daemon exited (${code}) before listening; see ${logFile}`)));
  });
  const timer = setTimeout(() => child.kill('SIGTERM'), 30_000);
  try {
    const url = new URL(await listening);
    // Loopback only: never send a request anywhere else.
    if (url.hostname !== LOOPBACK) {
      child.kill('SIGTERM');
      throw new Error(`the daemon listens on ${url.href}, not on ${LOOPBACK}`);
    }
    return { child, pid: child.pid!, url, exited };
  } finally {
    clearTimeout(timer);
  }
}

/** Daemon log lines at warn (40) or above, by message: 5xx answers, restore failures, bugs. */
const daemonWarnings = new Map<string, number>();
function tallyLogLine(line: string): void {
  // pino writes the level first; most lines are info (30), one or more per request: skip them unparsed, as
  // this script shares the machine's CPUs with the daemon.
  if (/^\{"level":[123]\d,/.test(line)) return;
  try {
    const entry = JSON.parse(line) as { level?: number; msg?: string; err?: { code?: string } };
    if ((entry.level ?? 0) < 40) return;
    const key = `${entry.level === 40 ? 'warn' : entry.level === 50 ? 'error' : `level ${entry.level}`}: ${entry.msg}${entry.err?.code ? ` (${entry.err.code})` : ''}`;
    daemonWarnings.set(key, (daemonWarnings.get(key) ?? 0) + 1);
  } catch {
    daemonWarnings.set('not JSON', (daemonWarnings.get('not JSON') ?? 0) + 1);
  }
}

async function api(base: URL, route: string, init: RequestInit = {}): Promise<Response> {
  return fetch(new URL(route, base), {
    ...init,
    headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${API_TOKEN}` },
  });
}

interface Metrics {
  running: number;
  queued: number;
  alive: number;
  warmIdle: number;
  warmBusy: number;
  /** Clones ready in the clone pools; the pools with fewer ready than their target (a refill to come). */
  pooledReady: number;
  poolsBelowTarget: number;
  restoresFailed: number;
  fallbacks: number;
  /** The daemon's V8 heap in use (prom-client's default metric). */
  heapUsedMb: number;
}

async function metrics(base: URL): Promise<Metrics> {
  const text = await (await api(base, '/metrics')).text();
  const sum = (prefix: string, test: (line: string) => boolean = () => true) =>
    text
      .split('\n')
      .filter((line) => line.startsWith(prefix) && test(line))
      .reduce((total, line) => total + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  return {
    running: sum('prebake_invocations_in_flight{state="running"}'),
    queued: sum('prebake_invocations_in_flight{state="queued"}'),
    alive: sum('prebake_instances_alive '),
    warmIdle: sum('prebake_warm_instances{', (line) => line.includes('state="idle"')),
    warmBusy: sum('prebake_warm_instances{', (line) => line.includes('state="busy"')),
    pooledReady: sum('prebake_pooled_clones{', (line) => line.includes('state="ready"')),
    // Per pool, as a pool of size "auto" may hold more than its target (it shrinks only as clones retire).
    poolsBelowTarget: [...new Set([...text.matchAll(/^prebake_pooled_clones\{function="([^"]+)"/gm)].map((match) => match[1]!))].filter(
      (name) =>
        sum(`prebake_pooled_clones{function="${name}",state="ready"}`) < sum(`prebake_pooled_clones{function="${name}",state="target"}`),
    ).length,
    restoresFailed: sum('prebake_restores_total{', (line) => line.includes('outcome="failed"')),
    fallbacks: sum('prebake_fallbacks_total{'),
    heapUsedMb: sum('prebake_nodejs_heap_size_used_bytes ') / 2 ** 20,
  };
}

// -- the load ------------------------------------------------------------------------------------------------

interface Sample {
  /** HTTP status; 0 when no response came (connection error, client timeout). */
  status: number;
  ms: number;
  /** x-prebake-start and x-prebake-start-ms of a 200. */
  start?: string;
  startMs?: number;
  runMs?: number;
  /** The error's code (API error body, or the client's error). */
  code?: string;
  retryAfterSec?: number;
}

function send(agent: http.Agent, target: URL, body: string): Promise<Sample> {
  return new Promise((resolve) => {
    const began = performance.now();
    const request = http.request(
      target,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${API_TOKEN}` },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', (error: NodeJS.ErrnoException) =>
          resolve({ status: 0, ms: performance.now() - began, code: error.code ?? error.message }),
        );
        response.on('end', () => {
          const ms = performance.now() - began;
          const status = response.statusCode ?? 0;
          const header = (name: string) => response.headers[name] as string | undefined;
          if (status === 200) {
            resolve({
              status,
              ms,
              start: header('x-prebake-start'),
              startMs: Number(header('x-prebake-start-ms')),
              runMs: Number(header('x-prebake-run-ms')),
            });
            return;
          }
          let code = 'unparsable body';
          try {
            code = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error: { code: string } }).error.code;
          } catch {
            // keep the placeholder
          }
          const retryAfter = header('retry-after');
          resolve({ status, ms, code, ...(retryAfter !== undefined && { retryAfterSec: Number(retryAfter) }) });
        });
      },
    );
    request.setTimeout(requestTimeoutMs, () => request.destroy(Object.assign(new Error('client timeout'), { code: 'CLIENT_TIMEOUT' })));
    request.on('error', (error: NodeJS.ErrnoException) =>
      resolve({ status: 0, ms: performance.now() - began, code: error.code ?? error.message }),
    );
    request.end(body);
  });
}

interface LevelResult {
  functionName: string;
  mode: Mode;
  concurrency: number;
  overload: boolean;
  /** Wall time from the first request to the last response. */
  elapsedS: number;
  sent: number;
  ok: number;
  /** Successful invocations per second. */
  throughput: number;
  /** Successful invocations per second that got a fresh instance (every start but warm). */
  freshPerSecond: number;
  /** Client-side latency of the 200s: from sending the request to the end of the response. */
  latencyMs?: Summary;
  /** x-prebake-start-ms and x-prebake-run-ms of the 200s. */
  startMs?: Summary;
  runMs?: Summary;
  starts: Record<string, number>;
  /** Responses other than 200, by "status code" ("0 ECONNRESET" for no response). */
  errors: Record<string, number>;
  /** Latency of the 429s. */
  refusedMs?: Summary;
  /** Busy share of all CPUs during the level; the daemon's process and this script's own (shares of one CPU). */
  machineCpuPct: number;
  daemonCpuPct: number;
  clientCpuPct: number;
  restoresFailed: number;
  fallbacks: number;
  after: {
    settled: boolean;
    settleMs: number;
    /**
     * Live instances under the daemon once settled; the warm pools' instances and the clone pools' ready clones;
     * the fork templates kept (every function that has served in fork mode so far); the daemon's own count.
     */
    instances: number;
    warmPool: number;
    forkTemplates: number;
    alive: number;
    orphans: string[];
    extra: string[];
    /** The daemon's RSS, V8 heap in use and open fds once settled. */
    daemonRssMb: number;
    daemonHeapMb: number;
    daemonFds: number;
  };
}

/** Functions whose fork template is alive: those that have served in fork mode (templates are kept). */
const forkTemplates = new Set<string>();

async function runLevel(base: URL, fn: RegisteredFunction, mode: Mode, concurrency: number, isOverload: boolean): Promise<LevelResult> {
  const target = new URL(`/functions/${fn.name}/invoke?mode=${mode}`, base);
  if (target.hostname !== LOOPBACK) throw new Error(`refusing to send to ${target.href}`);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const samples: Sample[] = [];
  let sent = 0;
  const before = await metrics(base);
  const cpuBefore = await cpuTimes();
  const clientBefore = process.cpuUsage();
  const daemonBefore = await processCpuMs(daemon!.pid);
  const began = performance.now();
  const deadline = began + seconds * 1000;
  const client = async () => {
    while (performance.now() < deadline && sent < maxRequests) {
      sent++;
      const sample = await send(agent, target, fn.event);
      samples.push(sample);
      if (sample.status === 429 && backoff) {
        const wait = Math.min((sample.retryAfterSec ?? 1) * 1000, deadline - performance.now());
        if (wait > 0) await sleep(wait);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  const elapsedMs = performance.now() - began;
  const clientCpu = process.cpuUsage(clientBefore);
  const daemonCpuMs = (await processCpuMs(daemon!.pid)) - daemonBefore;
  const cpuAfter = await cpuTimes();
  agent.destroy();

  const okSamples = samples.filter((s) => s.status === 200);
  const starts: Record<string, number> = {};
  for (const s of okSamples) starts[s.start ?? '?'] = (starts[s.start ?? '?'] ?? 0) + 1;
  const errors: Record<string, number> = {};
  for (const s of samples) if (s.status !== 200) errors[`${s.status} ${s.code}`] = (errors[`${s.status} ${s.code}`] ?? 0) + 1;

  // A fork level leaves its function's template alive for the rest of the run (its children end).
  if (okSamples.some((sample) => sample.start === 'fork')) forkTemplates.add(fn.name);

  // What is left: nothing running or queued, no instance beyond the warm and clone pools and the fork
  // templates, the clone pools refilled. Instances end (and clone pools refill) in the background after their
  // response: give them a moment.
  const marks = [home, ...registered.map((f) => f.dir)];
  const settleBegan = performance.now();
  let now = await metrics(base);
  let seen = await census(marks, home, daemon!.pid);
  let settled = false;
  while (performance.now() - settleBegan < 10_000) {
    now = await metrics(base);
    seen = await census(marks, home, daemon!.pid);
    const kept = now.warmIdle + now.warmBusy + now.pooledReady + forkTemplates.size;
    const refilled = now.poolsBelowTarget === 0;
    if (
      now.running === 0 &&
      now.queued === 0 &&
      now.warmBusy === 0 &&
      refilled &&
      seen.underDaemon.length === kept &&
      now.alive === kept &&
      seen.orphans.length === 0
    ) {
      settled = true;
      break;
    }
    await sleep(100);
  }
  const pool = now.warmIdle + now.warmBusy + now.pooledReady;
  const footprint = await daemonFootprint(daemon!.pid);
  const describe = (info: ProcessInfo) => `${info.pid} ${info.argv.join(' ').slice(0, 160)}`;
  return {
    functionName: fn.name,
    mode,
    concurrency,
    overload: isOverload,
    elapsedS: elapsedMs / 1000,
    sent,
    ok: okSamples.length,
    throughput: okSamples.length / (elapsedMs / 1000),
    freshPerSecond: okSamples.filter((sample) => sample.start !== 'warm').length / (elapsedMs / 1000),
    latencyMs: summarize(okSamples.map((s) => s.ms)),
    startMs: summarize(okSamples.map((s) => s.startMs!).filter(Number.isFinite)),
    runMs: summarize(okSamples.map((s) => s.runMs!).filter(Number.isFinite)),
    starts,
    errors,
    refusedMs: summarize(samples.filter((s) => s.status === 429).map((s) => s.ms)),
    machineCpuPct: busyPercent(cpuBefore, cpuAfter),
    daemonCpuPct: (100 * daemonCpuMs) / elapsedMs,
    clientCpuPct: (100 * (clientCpu.user + clientCpu.system)) / 1000 / elapsedMs,
    restoresFailed: now.restoresFailed - before.restoresFailed,
    fallbacks: now.fallbacks - before.fallbacks,
    after: {
      settled,
      settleMs: performance.now() - settleBegan,
      instances: seen.underDaemon.length,
      warmPool: pool,
      forkTemplates: forkTemplates.size,
      alive: now.alive,
      orphans: seen.orphans.map(describe),
      extra: settled ? [] : seen.underDaemon.map(describe),
      daemonRssMb: footprint.rssMb,
      daemonHeapMb: now.heapUsedMb,
      daemonFds: footprint.fds,
    },
  };
}

// -- output --------------------------------------------------------------------------------------------------

const fmt = (value: number | undefined, digits = 1) =>
  value === undefined || !Number.isFinite(value) ? '-' : value >= 1000 ? value.toFixed(0) : value.toFixed(digits);
const counts = (record: Record<string, number>) =>
  Object.entries(record)
    .map(([key, n]) => `${key} ${n}`)
    .join(', ') || '-';

function table(results: LevelResult[]): string {
  const header = [
    'function',
    'mode',
    'C',
    'ok',
    'req/s',
    'fresh/s',
    'p50',
    'p95',
    'p99',
    'max',
    'start p50',
    'cpu %',
    'daemon %',
    'client %',
    'left',
    'RSS MB',
    'heap MB',
    'fds',
    'starts',
    'errors',
  ];
  const rows = results.map((r) => [
    r.overload ? `${r.functionName} (overload)` : r.functionName,
    r.mode,
    String(r.concurrency),
    String(r.ok),
    fmt(r.throughput),
    fmt(r.freshPerSecond),
    fmt(r.latencyMs?.p50),
    fmt(r.latencyMs?.p95),
    fmt(r.latencyMs?.p99),
    fmt(r.latencyMs?.max),
    fmt(r.startMs?.p50, 2),
    fmt(r.machineCpuPct, 0),
    fmt(r.daemonCpuPct, 0),
    fmt(r.clientCpuPct, 0),
    `${r.after.instances}${r.after.settled ? '' : ' LEAK?'}`,
    fmt(r.after.daemonRssMb, 0),
    fmt(r.after.daemonHeapMb, 0),
    String(r.after.daemonFds),
    counts(r.starts),
    counts(r.errors),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const right = new Set([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]);
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : right.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

// -- the run -------------------------------------------------------------------------------------------------

interface RegisteredFunction {
  name: string;
  dir: string;
  /** The event sent: the function's warm-up event, else {}. */
  event: string;
  buildMs: number;
  imageBytes: number;
}

const work = await mkdtemp(path.join(os.tmpdir(), 'prebake-load-'));
// Instances run as an unprivileged user who must get through to the home's files (src/launch/reachable.ts).
await chmod(work, 0o711);
const home = path.resolve(args.home ?? path.join(work, 'home'));
const logFile = path.join(work, 'daemon.log');
const serveFlags = [
  '--max-queued',
  String(daemonConfig.maxQueued),
  ...(maxConcurrentFlag !== undefined ? ['--max-concurrent', String(maxConcurrentFlag)] : []),
  ...(configFile !== undefined ? ['--config', configFile] : []),
];
const registered: RegisteredFunction[] = [];
const results: LevelResult[] = [];
const problems: string[] = [];
let daemon: Daemon | undefined;

// An interrupted run still stops the daemon (which ends its instances).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    daemon?.child.kill('SIGTERM');
    process.exit(130);
  });
}

const out = (line = '') => process.stdout.write(`${line}\n`);
const progress = (line: string) => process.stderr.write(`${line}\n`);

const startedAt = new Date();
const loadAtStart = os.loadavg();
const began = performance.now();
const machine: MachineInfo = await describeMachine(new Criu());
let registeredFootprint: { rssMb: number; fds: number } | undefined;
let shutdown: { exitCode: number | null; ms: number; leftovers: string[]; workDirs: string[] } | undefined;

try {
  out(`prebake daemon load test, ${startedAt.toISOString()}`);
  out(`command: node scripts/load-daemon.ts ${process.argv.slice(2).join(' ')}`.trimEnd());
  out(
    `machine: ${machine.cpuModel}, ${machine.cores} CPUs, ${(machine.memoryMb / 1000).toFixed(1)} GB, ${machine.kernel}, ${machine.distro}, virt ${machine.virtualization}; node ${machine.node}, ${machine.criu}`,
  );
  out(`load average at start: ${loadAtStart.map((v) => v.toFixed(2)).join(' ')}`);
  out(
    `daemon: prebake serve --host ${LOOPBACK} --port 0 ${serveFlags.join(' ')} (maxConcurrent ${daemonConfig.maxConcurrent}, maxQueued ${daemonConfig.maxQueued}, ` +
      `queueTimeoutMs ${daemonConfig.queueTimeoutMs}, warm.max ${daemonConfig.warm.max}, warm.idleMs ${daemonConfig.warm.idleMs}, pool.size ${daemonConfig.pool.size})`,
  );
  out(
    `load: closed loop, ${seconds} s or ${maxRequests} requests per level; clients ${backoff ? 'wait Retry-After after a 429' : 'ignore Retry-After'}`,
  );

  daemon = await startDaemon(home, logFile, serveFlags);
  progress(`daemon ${daemon.pid} listening on ${daemon.url.href}; home ${home}`);

  for (const { name, dir, warmup } of specs) {
    const response = await api(daemon.url, '/functions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ path: dir }),
    });
    const body = (await response.json()) as { buildMs?: number; imageBytes?: number; error?: { code: string; message: string } };
    if (response.status !== 201) throw new Error(`registering ${name}: ${response.status} ${body.error?.code}: ${body.error?.message}`);
    registered.push({ name, dir, event: JSON.stringify(warmup.event), buildMs: body.buildMs!, imageBytes: body.imageBytes! });
    progress(`registered ${name}: built in ${body.buildMs!.toFixed(0)} ms, image ${(body.imageBytes! / 1e6).toFixed(1)} MB`);
  }
  registeredFootprint = await daemonFootprint(daemon.pid);
  out(
    `functions: ${registered.map((f) => `${f.name} (image ${(f.imageBytes / 1e6).toFixed(1)} MB, built in ${(f.buildMs / 1000).toFixed(2)} s)`).join(', ')}`,
  );

  const plan: [RegisteredFunction, Mode, number, boolean][] = [];
  for (const fn of registered) for (const mode of modes) for (const c of levels) plan.push([fn, mode, c, false]);
  if (overload > 0 && registered[0]) plan.push([registered[0], 'prebaked', overload, true]);
  for (const [fn, mode, c, isOverload] of plan) {
    const result = await runLevel(daemon.url, fn, mode, c, isOverload);
    results.push(result);
    progress(
      `${fn.name} ${mode} C=${c}${isOverload ? ' (overload)' : ''}: ${result.ok} ok in ${result.elapsedS.toFixed(1)} s, ${fmt(result.throughput)}/s, ` +
        `p50 ${fmt(result.latencyMs?.p50)} p99 ${fmt(result.latencyMs?.p99)} ms; errors ${counts(result.errors)}; cpu ${fmt(result.machineCpuPct, 0)}%; ` +
        `left ${result.after.instances} (pools ${result.after.warmPool}, fork templates ${result.after.forkTemplates})${result.after.settled ? '' : ' NOT SETTLED'}; ` +
        `daemon ${fmt(result.after.daemonRssMb, 0)} MB, ${result.after.daemonFds} fds`,
    );
    const label = `${fn.name} ${mode} C=${c}`;
    for (const [key, n] of Object.entries(result.errors)) if (!key.startsWith('429 ')) problems.push(`${label}: ${n} x ${key}`);
    if (!isOverload && result.errors[`429 PREBAKE_ERR_OVERLOADED`] && c <= daemonConfig.maxQueued)
      problems.push(`${label}: 429s with no more clients than maxQueued`);
    if (isOverload && !result.errors['429 PREBAKE_ERR_OVERLOADED']) problems.push(`${label}: the overload level provoked no 429`);
    if (isOverload && result.ok === 0) problems.push(`${label}: nothing succeeded under overload`);
    if (result.restoresFailed > 0 || result.fallbacks > 0)
      problems.push(`${label}: ${result.restoresFailed} restores failed, ${result.fallbacks} fallbacks`);
    if (!result.after.settled) {
      problems.push(
        `${label}: did not settle in 10 s: ${result.after.instances} instances, warm and clone pools ${result.after.warmPool}, fork templates ${result.after.forkTemplates}, alive ${result.after.alive}; ${result.after.extra.join('; ')}`,
      );
    }
    if (result.after.orphans.length > 0) problems.push(`${label}: orphaned instances: ${result.after.orphans.join('; ')}`);
  }

  // The end: SIGTERM, exit 0, nothing left.
  const stopBegan = performance.now();
  daemon.child.kill('SIGTERM');
  const exitCode = await Promise.race([daemon.exited, sleep(60_000).then(() => 'timeout' as const)]);
  if (exitCode === 'timeout') {
    problems.push('the daemon did not exit within 60 s of SIGTERM; killed');
    daemon.child.kill('SIGKILL');
  } else if (exitCode !== 0) {
    problems.push(`the daemon exited ${exitCode} after SIGTERM`);
  }
  const stopMs = performance.now() - stopBegan;
  const left = await census([home, ...registered.map((f) => f.dir)], home, undefined);
  const leftovers = [...left.underDaemon, ...left.orphans].map((info) => `${info.pid} ${info.argv.join(' ').slice(0, 160)}`);
  if (leftovers.length > 0) problems.push(`left running after the daemon exited: ${leftovers.join('; ')}`);
  const workDirs = await readdir(path.join(home, 'run')).catch(() => []);
  if (workDirs.length > 0) problems.push(`work dirs left in ${home}/run: ${workDirs.join(', ')}`);
  shutdown = { exitCode: exitCode === 'timeout' ? null : exitCode, ms: stopMs, leftovers, workDirs };
  daemon = undefined;
} catch (error) {
  problems.push(`the run failed: ${error instanceof Error ? error.stack : String(error)}`);
  daemon?.child.kill('SIGTERM');
  if (daemon) await Promise.race([daemon.exited, sleep(60_000)]);
} finally {
  const loadAtEnd = os.loadavg();
  out();
  out('Latency (client side, request sent to response read) of the 200s in ms; start p50: x-prebake-start-ms;');
  out("cpu %: busy share of all CPUs during the level; daemon %, client %: the daemon's process (its one JavaScript");
  out('thread and helpers; not criu or the instances) and this script (shares of one CPU);');
  out(
    'fresh/s: 200s per second that got a fresh instance (every start but warm: a restore, a plain start, a pooled clone, a forked child);',
  );
  out('left: function instances alive once the level settled (the warm pools, ready pooled clones and fork templates, of every function);');
  out(
    `RSS MB, heap MB, fds: the daemon's resident memory, V8 heap in use and open file descriptors then (after registration: ${fmt(registeredFootprint?.rssMb, 0)} MB RSS, ${registeredFootprint?.fds ?? '-'} fds).`,
  );
  out(table(results));
  out();
  const overloadLevel = results.find((r) => r.overload);
  if (overloadLevel) {
    out(
      `overload: ${overloadLevel.concurrency} clients against maxConcurrent ${daemonConfig.maxConcurrent} + maxQueued ${daemonConfig.maxQueued}: ` +
        `${overloadLevel.errors['429 PREBAKE_ERR_OVERLOADED'] ?? 0} answered 429 (p50 ${fmt(overloadLevel.refusedMs?.p50, 2)} ms, max ${fmt(overloadLevel.refusedMs?.max, 2)} ms), ` +
        `${overloadLevel.ok} served`,
    );
  }
  if (shutdown) {
    out(
      `shutdown: SIGTERM -> exit ${shutdown.exitCode} in ${(shutdown.ms / 1000).toFixed(2)} s; processes left: ${shutdown.leftovers.length}; work dirs left: ${shutdown.workDirs.length}`,
    );
  }
  out(
    `daemon log, warn and above: ${daemonWarnings.size === 0 ? 'none' : [...daemonWarnings].map(([key, n]) => `${n} x ${key}`).join('; ')}`,
  );
  out(`load average at end: ${loadAtEnd.map((v) => v.toFixed(2)).join(' ')}; took ${((performance.now() - began) / 1000).toFixed(0)} s`);
  out(problems.length === 0 ? 'checks: all passed' : `checks: ${problems.length} FAILED\n${problems.map((p) => `  - ${p}`).join('\n')}`);

  if (args.json) {
    const json = {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      command: ['node', 'scripts/load-daemon.ts', ...process.argv.slice(2)],
      machine,
      loadAverage: { start: loadAtStart, end: loadAtEnd },
      daemon: { flags: serveFlags, config: daemonConfig },
      load: { seconds, maxRequests, requestTimeoutMs, backoff, concurrency: levels, modes, overload },
      functions: registered,
      daemonAfterRegistration: registeredFootprint,
      levels: results,
      shutdown,
      daemonWarnings: Object.fromEntries(daemonWarnings),
      problems,
    };
    await writeFile(path.resolve(args.json), `${JSON.stringify(json, null, 2)}\n`);
  }
  if (args.keep || problems.length > 0) progress(`kept ${work} (daemon.log${args.home ? '' : ', home'})`);
  else await rm(work, { recursive: true, force: true });
}
process.exit(problems.length === 0 ? 0 : 1);
