// Every error status of the HTTP API, each in the one error shape, and nothing left running after any of them.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, type Sandbox, settled } from '../helpers.ts';
import {
  apiError,
  closeAndClean,
  connectRaw,
  metricValue,
  parseRawResponse,
  registerFixture,
  startServer,
  type TestServer,
} from './harness.ts';

let sandbox: Sandbox;
let server: TestServer;

beforeAll(async () => {
  sandbox = await makeSandbox();
  server = await startServer(sandbox, { bodyLimitBytes: 64 * 1024 });
  await registerFixture(server, sandbox, 'faulty-node');
});

afterEach(async () => {
  expect(await settled(() => sandbox.processes())).toEqual([]);
});

afterAll(() => closeAndClean(server, sandbox));

describe('invocation errors', () => {
  it("500 PREBAKE_ERR_FUNCTION_ERROR carries the handler's error type and message", async () => {
    const response = await server.invoke('faulty-node', { throw: 'no such order' });
    expect(response.status).toBe(500);
    const error = await apiError(response);
    expect(error.code).toBe('PREBAKE_ERR_FUNCTION_ERROR');
    expect(error.functionError).toMatchObject({ type: 'RangeError', message: 'no such order' });
    expect(error.function).toBe('faulty-node');
    expect(error.requestId).toBe(response.headers.get('x-request-id'));
  });

  it('504 PREBAKE_ERR_TIMEOUT for a handler that never returns', async () => {
    const response = await server.invoke('faulty-node', { hang: true });
    expect(response.status).toBe(504);
    expect((await apiError(response)).code).toBe('PREBAKE_ERR_TIMEOUT');
  });

  it('502 for a handler that exits, and the next invocation is healthy', async () => {
    const crashed = await server.invoke('faulty-node', { exit: 3 });
    expect(crashed.status).toBe(502);
    expect((await apiError(crashed)).code).toBe('PREBAKE_ERR_FUNCTION_EXITED');
    const healthy = await server.invoke('faulty-node', { n: 1 });
    expect(healthy.status).toBe(200);
    expect(((await healthy.json()) as { echo: unknown }).echo).toEqual({ n: 1 });
  });

  it('404 PREBAKE_ERR_UNKNOWN_FUNCTION', async () => {
    const response = await server.invoke('no-such-function', {});
    expect(response.status).toBe(404);
    expect(await apiError(response)).toMatchObject({ code: 'PREBAKE_ERR_UNKNOWN_FUNCTION', function: 'no-such-function' });
    expect((await server.get('/functions/no-such-function')).status).toBe(404);
  });

  it('400 PREBAKE_ERR_INVALID_EVENT for a body that is not JSON', async () => {
    const response = await server.post('/functions/faulty-node/invoke', '{"unterminated');
    expect(response.status).toBe(400);
    expect((await apiError(response)).code).toBe('PREBAKE_ERR_INVALID_EVENT');
  });

  it('413 PREBAKE_ERR_PAYLOAD_TOO_LARGE for a body over the limit', async () => {
    const response = await server.invoke('faulty-node', { pad: 'x'.repeat(100 * 1024) });
    expect(response.status).toBe(413);
    expect((await apiError(response)).code).toBe('PREBAKE_ERR_PAYLOAD_TOO_LARGE');
  });

  it('400 PREBAKE_ERR_INVALID_INPUT for a bad start mode, naming it', async () => {
    const response = await server.invoke('faulty-node', {}, '?mode=lukewarm');
    expect(response.status).toBe(400);
    const error = await apiError(response);
    expect(error.code).toBe('PREBAKE_ERR_INVALID_INPUT');
    expect(error.message).toContain('mode');
  });

  it('429 PREBAKE_ERR_OVERLOADED with Retry-After past the concurrency limit and queue', async () => {
    const tight = await startServer(sandbox, { maxConcurrent: 1, maxQueued: 1, queueTimeoutMs: 500 });
    try {
      const slow = tight.invoke('faulty-node', { sleepMs: 2_000 });
      await new Promise((resolve) => setTimeout(resolve, 200));
      // One runs, one waits in the queue (and gives up after queueTimeoutMs), the third is refused at once.
      const [queued, refused] = await Promise.all([tight.invoke('faulty-node', {}), tight.invoke('faulty-node', {})]);
      for (const response of [queued, refused]) {
        expect(response.status).toBe(429);
        expect(response.headers.get('retry-after')).toBe('1');
        expect((await apiError(response)).code).toBe('PREBAKE_ERR_OVERLOADED');
      }
      expect((await slow).status).toBe(200);
    } finally {
      await tight.close();
    }
  });

  it('drops a queued invocation whose client hung up, so it never runs', async () => {
    const tight = await startServer(sandbox, { maxConcurrent: 1, maxQueued: 4, queueTimeoutMs: 10_000 });
    try {
      const slow = tight.invoke('faulty-node', { sleepMs: 1_500 });
      await new Promise((resolve) => setTimeout(resolve, 200));
      const abandoned = await Promise.all(
        [1, 2, 3].map((n) =>
          tight
            .request('/functions/faulty-node/invoke', {
              method: 'POST',
              body: JSON.stringify({ abandoned: n }),
              signal: AbortSignal.timeout(300),
            })
            .then(
              () => 'answered',
              () => 'gave up',
            ),
        ),
      );
      expect(abandoned).toEqual(['gave up', 'gave up', 'gave up']);
      expect((await slow).status).toBe(200);
      const next = await tight.invoke('faulty-node', { after: true });
      expect(next.status).toBe(200);
      // Only the slow invocation and the last one ran: the abandoned three left the queue when their clients did.
      const metrics = await (await tight.get('/metrics')).text();
      expect(metricValue(metrics, 'prebake_invocations_total{function="faulty-node",start="prebaked",outcome="ok"}')).toBe(2);
      expect(metricValue(metrics, 'prebake_invocations_total{function="faulty-node",start="none",outcome="client_gone"}')).toBe(3);
    } finally {
      await tight.close();
    }
  });
});

describe('registration errors', () => {
  it('400 PREBAKE_ERR_MANIFEST naming the field of a broken manifest', async () => {
    const dir = path.join(sandbox.root, 'functions', 'broken-node');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'function.json'), JSON.stringify({ runtime: 'cobol', handler: 'index.handler' }));
    const response = await server.post('/functions', { path: dir });
    expect(response.status).toBe(400);
    const error = await apiError(response);
    expect(error.code).toBe('PREBAKE_ERR_MANIFEST');
    expect(error.message).toContain('"runtime"');
  });

  it('400 PREBAKE_ERR_INVALID_INPUT for a relative path or a missing field', async () => {
    const relative = await server.post('/functions', { path: 'functions/hello-node' });
    expect(relative.status).toBe(400);
    expect((await apiError(relative)).code).toBe('PREBAKE_ERR_INVALID_INPUT');
    const missing = await server.post('/functions', {});
    expect(missing.status).toBe(400);
    expect((await apiError(missing)).message).toContain('path');
  });

  it("422 PREBAKE_ERR_INIT_FAILED carrying the function's error when the build fails", async () => {
    const dir = await sandbox.addFunction('init-throws-node');
    const response = await server.post('/functions', { path: dir });
    expect(response.status).toBe(422);
    const error = await apiError(response);
    expect(error.code).toBe('PREBAKE_ERR_INIT_FAILED');
    expect(error.functionError).toMatchObject({ message: 'cannot connect to the database at init' });
    expect((await server.get('/functions/init-throws-node')).status).toBe(404);
  });

  it('400 PREBAKE_ERR_MANIFEST for a deeply nested warm-up event (it was a 500)', async () => {
    const dir = path.join(sandbox.root, 'functions', 'deep-warmup');
    await mkdir(dir, { recursive: true });
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    await writeFile(
      path.join(dir, 'function.json'),
      `{"runtime":"node","handler":"index.handler","warmup":{"invocations":1,"event":${deep}}}`,
    );
    await writeFile(path.join(dir, 'index.js'), 'exports.handler = async () => ({});\n');
    const response = await server.post('/functions', { path: dir });
    expect(response.status).toBe(400);
    const error = await apiError(response);
    expect(error.code).toBe('PREBAKE_ERR_MANIFEST');
    expect(error.message).toContain('"warmup.event"');
  });

  it('415 for a registration that is not JSON, 404 for an unknown route', async () => {
    const form = await server.post('/functions', 'path=/x', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(form.status).toBe(415);
    expect((await apiError(form)).code).toBe('PREBAKE_ERR_UNSUPPORTED_MEDIA_TYPE');
    const nowhere = await server.get('/nowhere');
    expect(nowhere.status).toBe(404);
    expect((await apiError(nowhere)).code).toBe('PREBAKE_ERR_NOT_FOUND');
  });
});

describe("fastify's and Node's own refusals, in the API's error format with x-request-id", () => {
  it('414 PREBAKE_ERR_URI_TOO_LONG for a path parameter over the router limit', async () => {
    const response = await server.get(`/functions/${'a'.repeat(200)}`);
    expect(response.status).toBe(414);
    const error = await apiError(response);
    expect(error.code).toBe('PREBAKE_ERR_URI_TOO_LONG');
    expect(error.requestId).toBe(response.headers.get('x-request-id'));
  });

  it('404 for a method a route does not have, 400 for one HTTP does not know, 431 for oversized headers', async () => {
    const put = await server.request('/functions', { method: 'PUT' });
    expect(put.status).toBe(404);
    expect((await apiError(put)).requestId).toBe(put.headers.get('x-request-id'));

    for (const [raw, status, code] of [
      ['BREW /functions HTTP/1.1\r\nhost: x\r\n\r\n', 400, 'PREBAKE_ERR_INVALID_INPUT'],
      [`GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ${'y'.repeat(20_000)}\r\n\r\n`, 431, 'PREBAKE_ERR_HEADERS_TOO_LARGE'],
    ] as const) {
      const { socket, closed } = connectRaw(server);
      socket.write(raw);
      const answer = parseRawResponse(await closed);
      expect(answer).toMatchObject({ status, code });
      expect(answer.requestId).toBe(answer.headerId);
    }
  });
});
