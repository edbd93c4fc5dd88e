// A real daemon for the server tests: buildServer over a sandbox home, listening on a loopback port. Every
// request the harness sends carries the daemon's API token.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import type { DaemonConfigInput } from '../../src/manager/config.ts';
import { buildServer } from '../../src/server/server.ts';
import type { Sandbox } from '../helpers.ts';

export interface TestServer {
  app: FastifyInstance;
  url: string;
  token: string;
  /** fetch with the API token added to `init`'s headers. */
  request(path: string, init?: RequestInit): Promise<Response>;
  /** POSTs `body` (a string is sent as is, anything else as JSON). */
  post(path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  get(path: string): Promise<Response>;
  del(path: string): Promise<Response>;
  invoke(name: string, event: unknown, query?: string): Promise<Response>;
  close(): Promise<void>;
}

export async function startServer(
  sandbox: Sandbox,
  config: DaemonConfigInput = {},
  options: { metricsPublic?: boolean } = {},
): Promise<TestServer> {
  const token = randomBytes(32).toString('hex');
  const app = await buildServer({ home: sandbox.store.home, criu: sandbox.criu, config, auth: { token, ...options } });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  const request = (path: string, init: RequestInit = {}) =>
    fetch(`${url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) } });
  const post = (path: string, body?: unknown, headers: Record<string, string> = {}) =>
    request(path, {
      method: 'POST',
      headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
  return {
    app,
    url,
    token,
    request,
    post,
    get: (path) => request(path),
    del: (path) => request(path, { method: 'DELETE' }),
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

/** A raw TCP connection to the daemon (for what fetch cannot send); `closed` has all it received. */
export function connectRaw(server: TestServer): { socket: net.Socket; closed: Promise<string> } {
  const socket = net.connect(Number(new URL(server.url).port), '127.0.0.1');
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
  socket.on('error', () => {});
  const closed = new Promise<string>((resolve) => socket.on('close', () => resolve(received)));
  return { socket, closed };
}

/** The status, `x-request-id` header and API error of the one raw HTTP response in `text`. */
export function parseRawResponse(text: string): { status: number; headerId?: string; code?: string; requestId?: string } {
  const [head = '', body = ''] = text.split('\r\n\r\n');
  const status = Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1]);
  const headerId = /^x-request-id: (.+)$/im.exec(head)?.[1]?.trim();
  const error = body.startsWith('{') ? (JSON.parse(body) as { error?: { code: string; requestId: string } }).error : undefined;
  return { status, headerId, code: error?.code, requestId: error?.requestId };
}
