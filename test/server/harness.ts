// A real daemon for the server tests: buildServer over a sandbox home, listening on a loopback port.
import type { FastifyInstance } from 'fastify';
import type { DaemonConfigInput } from '../../src/manager/config.ts';
import { buildServer } from '../../src/server/server.ts';
import { expect } from 'vitest';
import type { Sandbox } from '../helpers.ts';

export interface TestServer {
  app: FastifyInstance;
  url: string;
  /** POSTs `body` (a string is sent as is, anything else as JSON). */
  post(path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  get(path: string): Promise<Response>;
  del(path: string): Promise<Response>;
  invoke(name: string, event: unknown, query?: string): Promise<Response>;
  close(): Promise<void>;
}

export async function startServer(sandbox: Sandbox, config: DaemonConfigInput = {}): Promise<TestServer> {
  const app = await buildServer({ store: sandbox.store, criu: sandbox.criu, config });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  const post = (path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
  return {
    app,
    url,
    post,
    get: (path) => fetch(`${url}${path}`),
    del: (path) => fetch(`${url}${path}`, { method: 'DELETE' }),
    invoke: (name, event, query = '') => post(`/functions/${name}/invoke${query}`, event),
    close: () => app.close(),
  };
}

/** The `error` object of an API error response. */
export async function apiError(response: Response): Promise<{ code: string; message: string; [key: string]: unknown }> {
  const body = (await response.json()) as { error: { code: string; message: string } };
  return body.error;
}

/** The value of one sample line of a Prometheus text exposition, or 0 when absent. */
export function metricValue(text: string, sample: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.slice(sample.length + 1)) : 0;
}

/** Copies a fixture function into the sandbox and registers it with the daemon (which builds it). */
export async function registerFixture(server: TestServer, sandbox: Sandbox, name: string): Promise<string> {
  const dir = await sandbox.addFunction(name);
  expect((await server.post('/functions', { path: dir })).status).toBe(201);
  return dir;
}

/** Closes the daemon, checks that no function process or work dir outlived it, and removes the sandbox. */
export async function closeAndClean(server: TestServer | undefined, sandbox: Sandbox): Promise<void> {
  try {
    await server?.close();
    await sandbox.expectClean();
  } finally {
    await sandbox.cleanup();
  }
}
