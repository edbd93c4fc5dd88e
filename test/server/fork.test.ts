// Fork mode through the daemon: a template per function, kept between invocations, a fresh child for each.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, type Sandbox } from '../helpers.ts';
import { apiError, closeAndClean, registerFixture, startServer, type TestServer } from './harness.ts';

let sandbox: Sandbox;
let server: TestServer;

beforeAll(async () => {
  sandbox = await makeSandbox();
  server = await startServer(sandbox, { functions: { 'faulty-python': { startMode: 'fork' } } });
  await registerFixture(server, sandbox, 'faulty-python');
  await registerFixture(server, sandbox, 'faulty-node');
});

// Shutting down ends the templates and their children: nothing is left (closeAndClean checks).
afterAll(() => closeAndClean(server, sandbox));

describe('the fork start mode in the daemon', () => {
  it('answers from a fresh child each time, as the function configures, and says so', async () => {
    const responses = await Promise.all([1, 2, 3].map(() => server.invoke('faulty-python', { write: 'mine' })));
    expect(responses.map((r) => r.headers.get('x-prebake-start'))).toEqual(['fork', 'fork', 'fork']);
    const results = (await Promise.all(responses.map((r) => r.json()))) as { random: number; tmp: string[] }[];
    expect(new Set(results.map((r) => r.random)).size).toBe(3);
    for (const result of results) expect(result.tmp).toEqual(['from-init.txt', 'held.log', 'mine']);
    const described = (await (await server.get('/functions/faulty-python')).json()) as { counters: { fork: number } };
    expect(described.counters.fork).toBe(3);
  });

  it('takes ?mode=fork for one invocation, and refuses it for a Node function with the typed error', async () => {
    const python = await server.invoke('faulty-python', {}, '?mode=prebaked');
    expect(python.headers.get('x-prebake-start')).toBe('prebaked');
    const refused = await server.invoke('faulty-node', {}, '?mode=fork');
    expect(refused.status).toBe(400);
    const error = await apiError(refused);
    expect(error.code).toBe('PREBAKE_ERR_FORK_UNSUPPORTED');
    expect(error.message).toMatch(/faulty-node/);
  });
});
