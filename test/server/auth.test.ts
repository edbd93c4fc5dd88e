// Every route but GET /healthz needs the API token: requests without it (or with a wrong one) get 401 in the
// API's error format before anything runs. Before, anyone on the host could register and run code as root.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, type Sandbox, settled } from '../helpers.ts';
import { apiError, closeAndClean, startServer, type TestServer } from './harness.ts';

let sandbox: Sandbox;
let server: TestServer;
let functionDir: string;

beforeAll(async () => {
  sandbox = await makeSandbox();
  server = await startServer(sandbox);
  functionDir = await sandbox.addFunction('faulty-node');
});

afterAll(() => closeAndClean(server, sandbox));

const routes: Array<[string, string]> = [
  ['POST', '/functions'],
  ['GET', '/functions'],
  ['GET', '/functions/faulty-node'],
  ['POST', '/functions/faulty-node/build'],
  ['DELETE', '/functions/faulty-node'],
  ['POST', '/functions/faulty-node/invoke'],
  ['GET', '/functions/faulty-node/logs'],
  ['GET', '/metrics'],
  ['GET', '/no-such-route'],
];

describe('API authentication', () => {
  it('answers 401 PREBAKE_ERR_UNAUTHORIZED on every route but /healthz without the token, running nothing', async () => {
    const attempts = [
      undefined,
      'Bearer wrong-token-0123456789abcdef',
      `Basic ${server.token}`,
      `Bearer ${server.token}x`,
      `Bearer ${server.token.slice(0, -1)}`,
    ];
    for (const [method, route] of routes) {
      for (const authorization of attempts) {
        const response = await fetch(`${server.url}${route}`, {
          method,
          headers: { 'content-type': 'application/json', ...(authorization && { authorization }) },
          body: method === 'POST' ? JSON.stringify({ path: functionDir }) : undefined,
        });
        expect(response.status, `${method} ${route} with ${authorization}`).toBe(401);
        expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
        const error = await apiError(response);
        expect(error.code).toBe('PREBAKE_ERR_UNAUTHORIZED');
        expect(error.requestId).toBe(response.headers.get('x-request-id'));
      }
    }
    // The registration never ran: no build, no image, no process.
    expect(await sandbox.store.list()).toEqual([]);
    expect(await settled(() => sandbox.processes())).toEqual([]);
  });

  it('serves /healthz to anyone, and everything else with the token (any case of "Bearer")', async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/healthz`, { method: 'HEAD' })).status).toBe(200);
    expect((await server.get('/functions')).status).toBe(200);
    expect((await fetch(`${server.url}/metrics`, { headers: { authorization: `bearer ${server.token}` } })).status).toBe(200);
  });

  it('serves /metrics without the token only with metricsPublic', async () => {
    const open = await startServer(sandbox, {}, { metricsPublic: true });
    try {
      const metrics = await fetch(`${open.url}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain('prebake_instances_alive');
      expect((await fetch(`${open.url}/functions`)).status).toBe(401);
    } finally {
      await open.close();
    }
  });
});
