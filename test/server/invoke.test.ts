// The daemon over real HTTP: register a function, invoke it by fresh restores and from the warm pool.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, type Sandbox, settled } from '../helpers.ts';
import { closeAndClean, metricValue, registerFixture, startServer, type TestServer } from './harness.ts';

let sandbox: Sandbox;
let server: TestServer;

beforeAll(async () => {
  sandbox = await makeSandbox();
  server = await startServer(sandbox);
  await registerFixture(server, sandbox, 'faulty-node');
});

afterEach(async () => {
  expect(await settled(() => sandbox.processes())).toEqual([]);
});

afterAll(() => closeAndClean(server, sandbox));

interface EchoResult {
  echo: Record<string, unknown>;
  invocations: number;
  requestId: string;
}

describe('POST /functions/:name/invoke', () => {
  it('passes the event in and the result out, and says how the instance started', async () => {
    const response = await server.invoke('faulty-node', { n: 1, text: 'héllo' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('x-prebake-start')).toBe('prebaked');
    expect(Number(response.headers.get('x-prebake-start-ms'))).toBeGreaterThan(0);
    expect(Number(response.headers.get('x-prebake-run-ms'))).toBeGreaterThanOrEqual(0);
    const result = (await response.json()) as EchoResult;
    expect(result.echo).toEqual({ n: 1, text: 'héllo' });
    expect(result.requestId).toBe(response.headers.get('x-request-id'));
  });

  it('serves 20 invocations at once, each from a fresh restore', async () => {
    const responses = await Promise.all(Array.from({ length: 20 }, (_, n) => server.invoke('faulty-node', { n })));
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(responses.every((r) => r.headers.get('x-prebake-start') === 'prebaked')).toBe(true);
    const results = (await Promise.all(responses.map((r) => r.json()))) as EchoResult[];
    expect(results.map((r) => r.echo.n)).toEqual(Array.from({ length: 20 }, (_, n) => n));
    // Two warm-ups ran before the snapshot: every clone counts its invocation as the third.
    expect(results.every((r) => r.invocations === 3)).toBe(true);
    expect(new Set(results.map((r) => r.requestId)).size).toBe(20);
  });

  it('takes an empty body as {} and a body of any content type as JSON', async () => {
    const empty = await server.request('/functions/faulty-node/invoke', { method: 'POST' });
    expect(((await empty.json()) as EchoResult).echo).toEqual({});
    const form = await server.request('/functions/faulty-node/invoke', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: '{"via":"curl -d"}',
    });
    expect(((await form.json()) as EchoResult).echo).toEqual({ via: 'curl -d' });
  });

  it('starts plainly with ?mode=cold', async () => {
    const response = await server.invoke('faulty-node', {}, '?mode=cold');
    expect(response.headers.get('x-prebake-start')).toBe('cold');
    expect(((await response.json()) as EchoResult).invocations).toBe(1);
  });

  it("keeps each invocation's function logs, by request id", async () => {
    const response = await server.invoke('faulty-node', { log: 'to stdout', error: 'to stderr' });
    const requestId = response.headers.get('x-request-id')!;
    const logs = await server.get(`/functions/faulty-node/logs?requestId=${requestId}`);
    expect(logs.status).toBe(200);
    const { entries } = (await logs.json()) as { entries: { requestId: string; logs: string; outcome: string; start: string }[] };
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ requestId, outcome: 'ok', start: 'prebaked' });
    expect(entries[0]!.logs).toContain('to stdout');
    expect(entries[0]!.logs).toContain('to stderr');
    const recent = (await (await server.get('/functions/faulty-node/logs?limit=2')).json()) as { entries: unknown[] };
    expect(recent.entries).toHaveLength(2);
    expect((await server.get('/functions/faulty-node/logs?requestId=nope')).status).toBe(404);
  });

  it('counts invocations, starts and restores in /metrics', async () => {
    const response = await server.get('/metrics');
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(metricValue(text, 'prebake_invocations_total{function="faulty-node",start="prebaked",outcome="ok"}')).toBeGreaterThanOrEqual(22);
    expect(metricValue(text, 'prebake_restores_total{function="faulty-node",outcome="ok"}')).toBeGreaterThanOrEqual(22);
    expect(metricValue(text, 'prebake_start_duration_seconds_count{function="faulty-node",start="prebaked"}')).toBeGreaterThanOrEqual(22);
    expect(metricValue(text, 'prebake_image_bytes{function="faulty-node"}')).toBeGreaterThan(1_000_000);
    expect(text).toContain('prebake_instances_alive');
    expect(text).toContain('prebake_run_duration_seconds_bucket');
  });

  it('answers /healthz', async () => {
    const response = await server.get('/healthz');
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ok' });
  });
});

describe('warm mode', () => {
  it('reuses a restored instance, and restores more when all are busy', async () => {
    const warm = await startServer(sandbox, { functions: { 'faulty-node': { startMode: 'warm', warm: { max: 2, idleMs: 60_000 } } } });
    try {
      const first = await warm.invoke('faulty-node', { n: 1 });
      expect(first.headers.get('x-prebake-start')).toBe('prebaked');
      expect(((await first.json()) as EchoResult).invocations).toBe(3);
      const second = await warm.invoke('faulty-node', { n: 2 });
      expect(second.headers.get('x-prebake-start')).toBe('warm');
      // The same instance: it counts on from where the first invocation left it.
      expect(((await second.json()) as EchoResult).invocations).toBe(4);

      // A burst of 4: one warm instance, one more restored into the pool (max 2), two one-shot restores.
      const burst = await Promise.all(Array.from({ length: 4 }, () => warm.invoke('faulty-node', { sleepMs: 300 })));
      expect(burst.map((r) => r.status)).toEqual([200, 200, 200, 200]);
      expect(burst.map((r) => r.headers.get('x-prebake-start')).sort()).toEqual(['prebaked', 'prebaked', 'prebaked', 'warm']);
      const described = (await (await warm.get('/functions/faulty-node')).json()) as {
        startMode: string;
        warm: { idle: number; busy: number; max: number };
      };
      expect(described.startMode).toBe('warm');
      expect(described.warm).toMatchObject({ max: 2, busy: 0 });
      await expect.poll(() => warm.app.host.instances.count).toBe(2);
      // Two apps in one process: each counts its own manager's instances, not the process's.
      const alive = async (app: TestServer) => metricValue(await (await app.get('/metrics')).text(), 'prebake_instances_alive');
      expect(await alive(warm)).toBe(2);
      expect(server.app.host.instances.count).toBe(0);
      expect(await alive(server)).toBe(0);

      // A crash ends only its own invocation; the next one gets a healthy instance.
      const crashed = await warm.invoke('faulty-node', { exit: 3 });
      expect(crashed.status).toBe(502);
      const after = await warm.invoke('faulty-node', { n: 3 });
      expect(after.status).toBe(200);
      expect(((await after.json()) as { echo: unknown }).echo).toEqual({ n: 3 });
    } finally {
      await warm.close();
    }
    expect(await settled(() => sandbox.processes())).toEqual([]);
  });

  it('ends an idle instance after idleMs', async () => {
    const warm = await startServer(sandbox, { startMode: 'warm', warm: { max: 1, idleMs: 300 } });
    try {
      expect((await warm.invoke('faulty-node', {})).status).toBe(200);
      expect(await sandbox.processes()).not.toEqual([]);
      expect(await settled(() => sandbox.processes(), 5_000)).toEqual([]);
      const next = await warm.invoke('faulty-node', {});
      expect(next.headers.get('x-prebake-start')).toBe('prebaked');
    } finally {
      await warm.close();
    }
  });
});
