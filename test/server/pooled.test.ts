// Start mode pooled, on a real daemon with real criu: clones restored ahead, each given to one invocation,
// refilled, retired when idle, replaced when killed, and all of it gone at shutdown.
import { readdir, readFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { childrenOf, listProcesses } from '../../src/launch/proc.ts';
import type { DaemonConfigInput } from '../../src/manager/config.ts';
import type { FunctionDescription } from '../../src/manager/describe.ts';
import { poolTarget } from '../../src/manager/pool-size.ts';
import { makeSandbox, type Sandbox, settled } from '../helpers.ts';
import { metricValue, registerFixture, startServer, type TestServer } from './harness.ts';

let sandbox: Sandbox;
let server: TestServer | undefined;

// One build for the file: each test's daemon opens the home with pooled-node's image in it and fills the pool
// from there (Host.open), as a restarted daemon does. The shutdown test registers it again, which fills too.
beforeAll(async () => {
  sandbox = await makeSandbox();
  await sandbox.build('pooled-node');
});

afterEach(async () => {
  await server?.close();
  server = undefined;
  await sandbox.expectClean();
});

afterAll(() => sandbox.cleanup());

interface CloneView {
  tmpBefore: string[];
  mathRandom: number;
  uuid: string;
  restoredAt: number;
  restores: number;
}

async function start(config: DaemonConfigInput = {}): Promise<TestServer> {
  server = await startServer(sandbox, config);
  return server;
}

async function pool(s: TestServer): Promise<FunctionDescription['pool']> {
  return ((await (await s.get('/functions/pooled-node')).json()) as FunctionDescription).pool;
}

/** Waits until the pool's description satisfies `check`; returns it. */
async function poolUntil(s: TestServer, check: (p: FunctionDescription['pool']) => boolean): Promise<FunctionDescription['pool']> {
  const left = await settled(async () => (check(await pool(s)) ? [] : [JSON.stringify(await pool(s))]), 20_000);
  expect(left).toEqual([]);
  return pool(s);
}

async function invoke(s: TestServer, query = ''): Promise<{ start: string | null; body: CloneView }> {
  const response = await s.invoke('pooled-node', {}, query);
  expect(response.status).toBe(200);
  return { start: response.headers.get('x-prebake-start'), body: (await response.json()) as CloneView };
}

/** Host PIDs of the clones ready in the pool: the children of the prebake-restore processes of this sandbox. */
async function readyClones(): Promise<number[]> {
  const owners = [...(await listProcesses()).values()].filter(
    (p) => p.argv[0]?.endsWith('prebake-restore') && p.argv.join(' ').includes(sandbox.root),
  );
  return (await Promise.all(owners.map((owner) => childrenOf(owner.pid)))).flat();
}

/** The nice value of every thread of `pid`. */
async function threadNices(pid: number): Promise<number[]> {
  const nices: number[] = [];
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    // Fields after the command name: nice is the 19th field of the line, the 17th after ") ".
    nices.push(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
  }
  return nices;
}

describe('start mode pooled', () => {
  it('serves each invocation a clone of its own, restored ahead, and refills behind it', async () => {
    const s = await start();
    await poolUntil(s, (p) => p.ready === 2);
    const full = Date.now();
    const first = await invoke(s);
    const second = await invoke(s);
    expect([first.start, second.start]).toEqual(['pooled', 'pooled']);
    // Never used before: neither saw a file an invocation wrote, and each drew its own randomness.
    for (const { body } of [first, second]) expect(body.tmpBefore.filter((name) => name.startsWith('invoked-'))).toEqual([]);
    expect(second.body.mathRandom).not.toBe(first.body.mathRandom);
    expect(second.body.uuid).not.toBe(first.body.uuid);
    // Hooks ran once per clone, at fill (the default).
    expect([first.body.restores, second.body.restores]).toEqual([1, 1]);
    expect(first.body.restoredAt).toBeLessThanOrEqual(full);

    const refilled = await poolUntil(s, (p) => p.ready === 2 && p.refills === 4);
    expect(refilled).toMatchObject({ size: 2, hooks: 'fill', hits: 2, misses: 0, retired: 0, died: 0 });
    const description = (await (await s.get('/functions/pooled-node')).json()) as FunctionDescription;
    expect(description.counters).toMatchObject({ invocations: 2, pooled: 2, prebaked: 0 });
    const metrics = await (await s.get('/metrics')).text();
    expect(metricValue(metrics, 'prebake_clone_pool_events_total{function="pooled-node",event="hit"}')).toBe(2);
    expect(metricValue(metrics, 'prebake_pooled_clones{function="pooled-node",state="ready"}')).toBe(2);
    expect(metricValue(metrics, 'prebake_invocations_total{function="pooled-node",start="pooled",outcome="ok"}')).toBe(2);
  });

  it('restores on demand when the pool is empty (a miss), then fills it', async () => {
    // Prebaked by default: ?mode=pooled asks for a pool that does not exist yet.
    server = await startServer(sandbox, { functions: { 'pooled-node': { startMode: 'prebaked' } } });
    expect((await pool(server)).ready).toBe(0);
    const missed = await invoke(server, '?mode=pooled');
    expect(missed.start).toBe('prebaked');
    await poolUntil(server, (p) => p.ready === 2);
    const hit = await invoke(server, '?mode=pooled');
    expect(hit.start).toBe('pooled');
    expect(await pool(server)).toMatchObject({ hits: 1, misses: 1 });
  });

  it('retires clones idle for maxIdleSeconds and refills only when asked again', async () => {
    const s = await start({ functions: { 'pooled-node': { pool: { size: 1, maxIdleSeconds: 1 } } } });
    await poolUntil(s, (p) => p.retired === 1 && p.ready === 0);
    expect(await settled(async () => (await readyClones()).map(String))).toEqual([]);
    expect((await pool(s)).refills).toBe(1);
    // The next invocation misses, and the pool fills again.
    expect((await invoke(s)).start).toBe('prebaked');
    await poolUntil(s, (p) => p.refills === 2);
  });

  it('replaces a ready clone killed from outside', async () => {
    const s = await start();
    await poolUntil(s, (p) => p.ready === 2);
    const clones = await readyClones();
    expect(clones).toHaveLength(2);
    // Restored at nice 10 in the background, handed back their own priority once criu was done.
    for (const clone of clones) expect(new Set(await threadNices(clone))).toEqual(new Set([0]));
    process.kill(clones[0]!, 'SIGKILL');
    const replaced = await poolUntil(s, (p) => p.died === 1 && p.ready === 2);
    expect(replaced.refills).toBe(3);
    expect(await readyClones()).not.toContain(clones[0]);
    expect((await invoke(s)).start).toBe('pooled');
  });

  it('runs afterRestore hooks at assign when the function says so', async () => {
    const s = await start({ functions: { 'pooled-node': { pool: { hooks: 'assign' } } } });
    await poolUntil(s, (p) => p.ready === 2);
    const filledBy = Date.now();
    const { start: kind, body } = await invoke(s);
    expect(kind).toBe('pooled');
    expect(body.restores).toBe(1);
    // The hook ran when the clone was handed out, after the pool was full.
    expect(body.restoredAt).toBeGreaterThanOrEqual(filledBy);
  });

  it('sizes the pool from its arrival rate and refill time when size is "auto"', async () => {
    const sizing = { minSize: 1, maxSize: 6, burst: 1 };
    const s = await start({ functions: { 'pooled-node': { pool: { size: 'auto', ...sizing } } } });
    // Before any invocation: no rate, so the margin alone (within the bounds), and one refill measured.
    const quiet = await poolUntil(s, (p) => p.ready === 1 && p.refills === 1);
    expect(quiet).toMatchObject({ size: 'auto', ...sizing, target: poolTarget(0, quiet.refillMs, sizing), ratePerSecond: 0 });
    expect(quiet.target).toBe(sizing.minSize);
    expect(quiet.refillMs).toBeGreaterThan(0);

    const burst = 6;
    const starts = await Promise.all(Array.from({ length: burst }, async () => (await invoke(s)).start));
    expect(starts).toContain('pooled');
    // Once the pool has refilled to its new target (nothing changes it after that), the target is above the
    // minimum, follows from what the daemon reports, and the metric says the same.
    const grown = await poolUntil(s, (p) => p.hits + p.misses === burst && p.ready === p.target && p.target > sizing.minSize);
    expect(grown.ratePerSecond).toBeGreaterThan(0);
    expect(grown.target).toBe(poolTarget(grown.ratePerSecond!, grown.refillMs, sizing));
    const metrics = await (await s.get('/metrics')).text();
    expect(metricValue(metrics, 'prebake_pooled_clones{function="pooled-node",state="target"}')).toBe(grown.target);
    expect(metricValue(metrics, 'prebake_pooled_clones{function="pooled-node",state="ready"}')).toBe(grown.target);
  });

  it('ends every clone at shutdown, a refill under way included', async () => {
    const s = await start();
    // Registration (the function's second build here) starts the fill: close while it runs.
    await registerFixture(s, sandbox, 'pooled-node');
    server = undefined;
    await s.close();
    expect(await settled(async () => (await readyClones()).map(String))).toEqual([]);
  });
});
