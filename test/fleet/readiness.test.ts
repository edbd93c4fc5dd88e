// GET /readyz: what an orchestrator waits for before it sends a new daemon traffic (a Swarm healthcheck with
// start-first, a Kubernetes readiness probe): 503 while a declared function is still being brought in, 200 once
// each was pulled or failed to be (and is reported). The registry here accepts connections and never answers,
// then goes away.
import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/server/server.ts';
import { makeSandbox, type Sandbox } from '../helpers.ts';

let sandbox: Sandbox;
let app: Awaited<ReturnType<typeof buildServer>> | undefined;
let url: string;
const token = randomBytes(32).toString('hex');
const sockets = new Set<Socket>();
const silent = createServer((socket) => {
  sockets.add(socket);
  socket.on('error', () => {});
});

beforeAll(async () => {
  sandbox = await makeSandbox();
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const { port } = silent.address() as { port: number };
  app = await buildServer({
    home: path.join(sandbox.root, 'home-ready'),
    criu: sandbox.criu,
    config: { functions: [{ name: 'late', bundle: `127.0.0.1:${port}/fleet/late:v1` }] },
    auth: { token },
    reload: { backoff: { firstMs: 60_000, maxMs: 60_000 } },
  });
  url = await app.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  try {
    for (const socket of sockets) socket.destroy();
    silent.close();
    await app?.close();
    await sandbox.expectClean();
  } finally {
    await sandbox.cleanup();
  }
});

describe('GET /readyz', () => {
  it('is 503 while a declared function is being pulled and 200 once it failed and is reported, without the token', async () => {
    await expect.poll(() => sockets.size, { timeout: 10_000 }).toBeGreaterThan(0);
    const waiting = await fetch(`${url}/readyz`);
    expect(waiting.status).toBe(503);
    expect(await waiting.json()).toMatchObject({ error: { code: 'PREBAKE_ERR_NOT_READY' } });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);

    // The registry goes away mid-request: the pull fails, is reported, and the daemon is ready with what it has.
    for (const socket of sockets) socket.destroy();
    await expect.poll(async () => (await fetch(`${url}/readyz`)).status, { timeout: 10_000 }).toBe(200);
    expect(await (await fetch(`${url}/readyz`)).json()).toEqual({ status: 'ready', declared: 1 });
    const listing = (await (await fetch(`${url}/functions`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
      declared: { name: string; status: string; error?: { code: string } }[];
    };
    expect(listing.declared).toEqual([
      expect.objectContaining({ name: 'late', status: 'failed', error: expect.objectContaining({ code: 'PREBAKE_ERR_REGISTRY' }) }),
    ]);
  });
});
