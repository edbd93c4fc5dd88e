// Over memoryMb through the daemon: 502 PREBAKE_ERR_OUT_OF_MEMORY, in every start mode, not counted as a failed
// restore (no fallback, no rebuild mark), and the next invocation is healthy.
// closeAndClean checks that no process, work dir or cgroup outlived the daemon.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, type Sandbox } from '../helpers.ts';
import { apiError, closeAndClean, registerFixture, startServer, type TestServer } from '../server/harness.ts';

let sandbox: Sandbox;
let server: TestServer;

beforeAll(async () => {
  sandbox = await makeSandbox();
  server = await startServer(sandbox);
  await registerFixture(server, sandbox, 'limits-node');
});

afterAll(() => closeAndClean(server, sandbox));

describe.each(['prebaked', 'warm', 'cold'] as const)('in %s mode', (mode) => {
  it('answers 502 PREBAKE_ERR_OUT_OF_MEMORY, counts no restore failure, and serves the next invocation', async () => {
    const response = await server.invoke('limits-node', { allocMb: 400 }, `?mode=${mode}`);
    expect(response.status).toBe(502);
    expect(await apiError(response)).toMatchObject({ code: 'PREBAKE_ERR_OUT_OF_MEMORY', function: 'limits-node' });
    const description = (await (await server.get('/functions/limits-node')).json()) as {
      needsRebuild: boolean;
      counters: { fallbacks: number; restoreFailures: number };
    };
    expect(description.needsRebuild).toBe(false);
    expect(description.counters).toMatchObject({ fallbacks: 0, restoreFailures: 0 });
    const healthy = await server.invoke('limits-node', { allocMb: 8 }, `?mode=${mode}`);
    expect(healthy.status).toBe(200);
    expect(await healthy.json()).toEqual({ allocatedMb: 8 });
  });
});
