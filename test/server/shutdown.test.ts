// `prebake serve` as a real process: SIGTERM drains invocations in flight and leaves nothing running; a daemon
// killed outright leaves instances that the next one sweeps when it starts.
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/server/server.ts';
import { closeGracefully } from '../../src/server/shutdown.ts';
import { makeSandbox, ROOT, type Sandbox, settled } from '../helpers.ts';
import { apiError, startServer } from './harness.ts';

let sandbox: Sandbox;
let functionDir: string;
const daemons: ResultPromise[] = [];

beforeAll(async () => {
  sandbox = await makeSandbox();
  functionDir = await sandbox.addFunction('faulty-node');
});

afterEach(async () => {
  for (const daemon of daemons.splice(0)) daemon.kill('SIGKILL');
  expect(await settled(() => sandbox.processes(), 5_000)).toEqual([]);
});

afterAll(async () => {
  await sandbox.cleanup();
});

/**
 * A Node function (on the host network) whose handler connects to a port the test listens on, then runs
 * `then`: the test knows the handler is running by the connection, not by a sleep that a loaded host outlasts.
 */
async function signallingFunction(
  name: string,
  then: string,
): Promise<{ dir: string; running(): Promise<void>; port: number; close(): void }> {
  const dir = path.join(sandbox.root, 'functions', name);
  await mkdir(dir, { recursive: true });
  await writeFile(
    path.join(dir, 'function.json'),
    JSON.stringify({ runtime: 'node', handler: 'index.handler', timeoutMs: 60_000, network: 'host' }),
  );
  await writeFile(
    path.join(dir, 'index.js'),
    `const net = require('node:net');\nexports.handler = async (e) => { await new Promise((r) => net.connect(e.port, '127.0.0.1', r)); ${then} };\n`,
  );
  let connected!: () => void;
  const running = new Promise<void>((resolve) => {
    connected = resolve;
  });
  const server = createServer((socket) => {
    socket.on('error', () => {});
    connected();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { dir, port, running: () => running, close: () => server.close() };
}

interface Daemon {
  daemon: ResultPromise;
  url: string;
  token: string;
  /** What it logged so far. */
  log(): string;
  /** fetch with the API token. */
  request(path: string, init?: RequestInit): Promise<Response>;
}

/**
 * Starts `prebake serve` on a free port; resolves with the daemon and its URL (from its log). Its token is
 * PREBAKE_API_TOKEN when `env` sets it, else the one it made in its home.
 */
async function startDaemon(env: Record<string, string> = {}, args: string[] = []): Promise<Daemon> {
  const daemon = execa(path.join(ROOT, 'bin', 'prebake'), ['serve', '--home', sandbox.home, '--port', '0', ...args], {
    reject: false,
    env,
  });
  daemons.push(daemon);
  let buffered = '';
  const url = await new Promise<string>((resolve, reject) => {
    daemon.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const found = /"url":"(http:\/\/[^"]+)"/.exec(buffered);
      if (found) resolve(found[1]!);
    });
    void daemon.then((result) => reject(new Error(`the daemon exited: ${result.stderr}\n${result.stdout}`)));
  });
  const token = env.PREBAKE_API_TOKEN ?? (await readFile(path.join(sandbox.home, 'api-token'), 'utf8')).trim();
  const request = (route: string, init: RequestInit = {}) =>
    fetch(`${url}${route}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) } });
  return { daemon, url, token, log: () => buffered, request };
}

const invoke = ({ request }: Daemon, event: unknown, query = '') =>
  request(`/functions/faulty-node/invoke${query}`, { method: 'POST', body: JSON.stringify(event) });

describe('prebake serve', () => {
  it('makes <home>/api-token (0600) on first start, logs its path but never the token, and reuses it', async () => {
    const tokenFile = path.join(sandbox.home, 'api-token');
    await rm(tokenFile, { force: true });
    const first = await startDaemon();
    expect((await stat(tokenFile)).mode & 0o777).toBe(0o600);
    expect(first.log()).toContain(tokenFile);
    expect(first.log()).not.toContain(first.token);
    expect((await fetch(`${first.url}/functions`)).status).toBe(401);
    expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
    expect((await first.request('/functions')).status).toBe(200);
    // Without a config file SIGHUP reloads the flags' config: nothing declared, and the daemon keeps running.
    first.daemon.kill('SIGHUP');
    await settled(async () => (first.log().includes('config reloaded') ? [] : ['waiting']), 10_000);
    expect(first.log()).toMatch(/"reason":"SIGHUP","declared":0,"msg":"config reloaded"/);
    expect((await first.request('/functions')).status).toBe(200);
    first.daemon.kill('SIGTERM');
    expect((await first.daemon).exitCode).toBe(0);

    const second = await startDaemon();
    expect(second.token).toBe(first.token);
    expect((await second.request('/functions')).status).toBe(200);
    second.daemon.kill('SIGTERM');
    await second.daemon;

    // PREBAKE_API_TOKEN wins over the home file; --functions-root bounds what may be registered.
    const allowed = path.join(sandbox.root, 'allowed-root');
    await mkdir(allowed, { recursive: true });
    const fromEnv = await startDaemon({ PREBAKE_API_TOKEN: 'from-the-environment-0123456789' }, ['--functions-root', allowed]);
    expect((await fetch(`${fromEnv.url}/functions`, { headers: { authorization: `Bearer ${first.token}` } })).status).toBe(401);
    expect((await fromEnv.request('/functions')).status).toBe(200);
    expect(fromEnv.log()).not.toContain('from-the-environment-0123456789');
    const outside = await fromEnv.request('/functions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ path: functionDir }),
    });
    expect(outside.status).toBe(403);
  });

  it('under an orchestrator: two daemons share a port (--reuse-port) and a volume (--task-homes), each saying when it is ready', async () => {
    const tasks = path.join(sandbox.root, 'tasks');
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as { port: number };
    await new Promise((resolve) => probe.close(resolve));
    const env = { PREBAKE_API_TOKEN: 'one-token-for-the-fleet-0123456789' };
    const start = (readyFile: string) => {
      const daemon = execa(
        path.join(ROOT, 'bin', 'prebake'),
        ['serve', '--task-homes', tasks, '--port', String(port), '--reuse-port', '--ready-file', readyFile],
        { reject: false, env },
      );
      daemons.push(daemon);
      return daemon;
    };
    const exists = (file: string) =>
      stat(file).then(
        () => true,
        () => false,
      );
    const [readyA, readyB] = [path.join(sandbox.root, 'ready-a'), path.join(sandbox.root, 'ready-b')];
    const a = start(readyA);
    await settled(async () => ((await exists(readyA)) ? [] : ['a not ready']), 20_000);
    const b = start(readyB);
    await settled(async () => ((await exists(readyB)) ? [] : ['b not ready']), 20_000);
    const homes = await readdir(tasks);
    expect(homes).toHaveLength(2);

    // A stops: its ready file and its home go with it, and B alone keeps the port.
    a.kill('SIGTERM');
    expect((await a).exitCode).toBe(0);
    expect(await exists(readyA)).toBe(false);
    expect(await readdir(tasks)).toHaveLength(1);
    for (let i = 0; i < 5; i++) expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    b.kill('SIGTERM');
    expect((await b).exitCode).toBe(0);
    expect(await readdir(tasks)).toEqual([]);
  });

  it('on SIGTERM finishes the invocations in flight, then exits 0 leaving no function process', async () => {
    const started = await startDaemon();
    const { daemon } = started;
    const registered = await started.request('/functions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ path: functionDir }),
    });
    expect(registered.status).toBe(201);

    const inFlight = Array.from({ length: 3 }, () => invoke(started, { sleepMs: 1_500 }));
    await new Promise((resolve) => setTimeout(resolve, 500));
    daemon.kill('SIGTERM');
    const responses = await Promise.all(inFlight);
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
    for (const response of responses) expect(((await response.json()) as { sleptMs: number }).sleptMs).toBeGreaterThanOrEqual(1_500);

    const late = await invoke(started, {}).then(
      (r) => r.status,
      () => 'refused',
    );
    expect([503, 'refused']).toContain(late);
    const exit = await daemon;
    expect(exit.exitCode).toBe(0);
    await sandbox.expectClean();
  });

  it('sweeps the instances of a daemon that was killed outright when the next one starts', async () => {
    // An instance notices its controller's death only when it next reads its control pipe: one that spins in
    // a handler lives on, orphaned.
    const spin = await signallingFunction('spin-node', 'const end = Date.now() + e.spinMs; while (Date.now() < end); return {};');
    const started = await startDaemon();
    const { daemon } = started;
    const registered = await started.request('/functions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ path: spin.dir }),
    });
    expect(registered.status).toBe(201);
    const spinning = started
      .request('/functions/spin-node/invoke', { method: 'POST', body: JSON.stringify({ spinMs: 30_000, port: spin.port }) })
      .catch(() => 'daemon gone');
    await spin.running();
    spin.close();
    daemon.kill('SIGKILL');
    await daemon;
    expect(await spinning).toBe('daemon gone');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await sandbox.processes()).not.toEqual([]);

    const next = await buildServer({ home: sandbox.store.home, criu: sandbox.criu, auth: { token: 'a-token-for-the-sweep-test' } });
    try {
      await sandbox.expectClean();
    } finally {
      await next.close();
    }
  });
});

describe('closeGracefully', () => {
  it('ends the instances of invocations that outlast the shutdown timeout', async () => {
    const server = await startServer(sandbox);
    const hang = await signallingFunction('hang-node', 'return new Promise(() => setInterval(() => {}, 1000));');
    expect((await server.post('/functions', { path: hang.dir })).status).toBe(201);
    const hanging = server.invoke('hang-node', { port: hang.port });
    await hang.running();
    hang.close();
    const { forced } = await closeGracefully(server.app, 300);
    expect(forced).toBe(true);
    const response = await hanging;
    // Ended by the shutdown (its instance gone: 502), not by the function's own timeout (504).
    expect(response.status).toBe(502);
    expect((await apiError(response)).code).toBe('PREBAKE_ERR_FUNCTION_EXITED');
    expect(await settled(() => sandbox.processes())).toEqual([]);
  });
});
