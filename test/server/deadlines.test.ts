// HTTP deadlines: a client gets so long for its headers, for its whole request, and an idle keep-alive
// connection so long, then the daemon answers 408 in the API's format (where it still can) and closes the socket.
// Before, 50 connections trickling a body held their sockets for 330 s.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, type Sandbox } from '../helpers.ts';
import { closeAndClean, connectRaw, parseRawResponse as rawResponse, registerFixture, startServer, type TestServer } from './harness.ts';

let sandbox: Sandbox;
let server: TestServer;

beforeAll(async () => {
  sandbox = await makeSandbox();
  server = await startServer(sandbox, { http: { headersTimeoutMs: 500, requestTimeoutMs: 1_000, keepAliveTimeoutMs: 500 } });
  await registerFixture(server, sandbox, 'faulty-node');
});

afterAll(() => closeAndClean(server, sandbox));

const connect = () => connectRaw(server);

describe('HTTP deadlines', () => {
  it('close 50 connections trickling a body at the request deadline, each with a 408 in the API format', async () => {
    const clients = Array.from({ length: 50 }, () => connect());
    const trickle = setInterval(() => {
      for (const { socket } of clients) if (!socket.destroyed) socket.write('x');
    }, 100);
    try {
      for (const { socket } of clients) {
        socket.write(
          `POST /functions/faulty-node/invoke HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${server.token}\r\n` +
            'content-type: application/json\r\ncontent-length: 100000\r\n\r\n',
        );
      }
      const answers = (await Promise.all(clients.map(({ closed }) => closed))).map(rawResponse);
      for (const answer of answers) {
        expect(answer).toMatchObject({ status: 408, code: 'PREBAKE_ERR_REQUEST_TIMEOUT' });
        expect(answer.requestId).toBe(answer.headerId);
      }
    } finally {
      clearInterval(trickle);
    }
  });

  it('close a connection whose headers never end', async () => {
    const { socket, closed } = connect();
    socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n');
    const trickle = setInterval(() => socket.write('x-slow: y\r\n'), 100);
    try {
      expect(rawResponse(await closed)).toMatchObject({ status: 408, code: 'PREBAKE_ERR_REQUEST_TIMEOUT' });
    } finally {
      clearInterval(trickle);
    }
  });

  it('close an idle keep-alive connection', async () => {
    const { socket, closed } = connect();
    socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
    const received = await closed;
    expect(rawResponse(received).status).toBe(200);
    expect(received).toMatch(/keep-alive/i);
  });

  it('never cut an invocation that runs past the request deadline once its request is in', async () => {
    const response = await server.invoke('faulty-node', { sleepMs: 2_000 });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { sleptMs: number }).sleptMs).toBeGreaterThanOrEqual(2_000);
  });
});
