// A hostile function cannot grow the daemon without bound: results are capped, and an idle warm instance that
// writes frames nobody asked for is ended as a protocol violation.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, type Sandbox, settled } from '../helpers.ts';
import { apiError, closeAndClean, registerFixture, startServer, type TestServer } from './harness.ts';

let sandbox: Sandbox;
let server: TestServer;

beforeAll(async () => {
  sandbox = await makeSandbox();
  server = await startServer(sandbox, { resultLimitBytes: 100_000, warm: { max: 1, idleMs: 60_000 } });
  await registerFixture(server, sandbox, 'faulty-node');
});

afterEach(async () => {
  expect(await settled(() => sandbox.processes())).toEqual([]);
});

afterAll(() => closeAndClean(server, sandbox));

const pool = async () => ((await (await server.get('/functions/faulty-node')).json()) as { warm: { idle: number; busy: number } }).warm;

describe('limits on what an instance sends', () => {
  it('502 PREBAKE_ERR_RESULT_TOO_LARGE for a result over resultLimitBytes; one under it passes', async () => {
    const over = await server.invoke('faulty-node', { big: 200_000 });
    expect(over.status).toBe(502);
    const error = await apiError(over);
    expect(error.code).toBe('PREBAKE_ERR_RESULT_TOO_LARGE');
    expect(error.message).toMatch(/over the limit of 100000 bytes/);
    const under = await server.invoke('faulty-node', { big: 50_000 });
    expect(under.status).toBe(200);
    expect(((await under.json()) as { data: string }).data).toHaveLength(50_000);
  });

  it('ends an idle warm instance that writes frames nobody asked for, and serves the next call from a fresh one', async () => {
    const flooding = await server.invoke('faulty-node', { flood: true }, '?mode=warm');
    expect(flooding.status).toBe(200);
    expect(await flooding.json()).toEqual({ flooding: true });
    // The instance starts flooding once idle in the pool: it is ended, and the pool lets it go.
    expect(await settled(async () => ((await pool()).idle > 0 ? ['still idle'] : []), 10_000)).toEqual([]);
    expect(await settled(() => sandbox.processes(), 10_000)).toEqual([]);

    const next = await server.invoke('faulty-node', { n: 1 }, '?mode=warm');
    expect(next.status).toBe(200);
    expect(next.headers.get('x-prebake-start')).toBe('prebaked');
    expect(((await next.json()) as { echo: unknown }).echo).toEqual({ n: 1 });
    // Its warm instance ends with the rebuild, before the check that nothing is left.
    expect((await server.post('/functions/faulty-node/build')).status).toBe(200);
  });
});
