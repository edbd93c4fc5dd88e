// Who may register what: a name belongs to the directory that registered it, names never collide with the
// store's own files, functions roots bound which directories are taken, and builds wait their turn.
import { cp, mkdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, makeSandbox, type Sandbox, settled } from '../helpers.ts';
import { apiError, closeAndClean, metricValue, startServer, type TestServer } from './harness.ts';

let sandbox: Sandbox;
let server: TestServer;

beforeAll(async () => {
  sandbox = await makeSandbox();
  server = await startServer(sandbox);
});

afterEach(async () => {
  expect(await settled(() => sandbox.processes())).toEqual([]);
});

afterAll(() => closeAndClean(server, sandbox));

/** A copy of the faulty-node fixture at `<sandbox>/<relative>`; its name is the last segment. */
async function functionAt(relative: string): Promise<string> {
  const dir = path.join(sandbox.root, relative);
  await mkdir(path.dirname(dir), { recursive: true });
  await cp(path.join(FIXTURES, 'faulty-node'), dir, { recursive: true });
  return dir;
}

const registeredDir = async (target: TestServer, name: string) =>
  ((await (await target.get(`/functions/${name}`)).json()) as { dir: string }).dir;

describe('names belong to their directory', () => {
  it('answers 409 PREBAKE_ERR_NAME_TAKEN for another directory under a registered name, unless ?replace=true', async () => {
    const owner = await functionAt('team-a/orders');
    const intruder = await functionAt('team-b/orders');
    expect((await server.post('/functions', { path: owner })).status).toBe(201);

    const taken = await server.post('/functions', { path: intruder });
    expect(taken.status).toBe(409);
    const error = await apiError(taken);
    expect(error).toMatchObject({ code: 'PREBAKE_ERR_NAME_TAKEN', function: 'orders' });
    expect(error.message).toContain(owner);
    expect(await registeredDir(server, 'orders')).toBe(owner);

    // The owner re-registers freely, also through a symlink to its directory.
    const alias = path.join(sandbox.root, 'links', 'orders');
    await mkdir(path.dirname(alias));
    await symlink(owner, alias);
    expect((await server.post('/functions', { path: alias })).status).toBe(201);

    expect((await server.post('/functions?replace=true', { path: intruder })).status).toBe(201);
    expect(await registeredDir(server, 'orders')).toBe(intruder);
    expect((await server.del('/functions/orders')).status).toBe(204);
  });

  it("refuses names that would collide with the store's own files (<name>.lock)", async () => {
    const lockNamed = await functionAt('faulty-node.lock');
    const response = await server.post('/functions', { path: lockNamed });
    expect(response.status).toBe(400);
    expect((await apiError(response)).code).toBe('PREBAKE_ERR_MANIFEST');
    for (const route of ['/functions/faulty-node.lock', '/functions/faulty-node.lock/invoke']) {
      const refused = route.endsWith('invoke') ? await server.post(route, {}) : await server.get(route);
      expect(refused.status).toBe(400);
      expect((await apiError(refused)).code).toBe('PREBAKE_ERR_INVALID_INPUT');
    }
    expect(await sandbox.store.list()).toEqual([]);
  });
});

describe('functions roots', () => {
  it('take only directories whose real path lies inside a root, registered under that real path', async () => {
    const allowedRoot = path.join(sandbox.root, 'allowed');
    const inside = await functionAt('allowed/inside-fn');
    const outside = await functionAt('elsewhere/outside-fn');
    const escaping = path.join(allowedRoot, 'escape-fn');
    await symlink(outside, escaping);
    // A sibling whose path starts with the root's path: inside by string prefix only.
    const prefixed = await functionAt('allowed-fn');
    const rooted = await startServer(sandbox, { functionsRoots: [path.join(sandbox.root, 'nonexistent'), allowedRoot] });
    try {
      for (const attempt of [outside, escaping, path.join(allowedRoot, '..', 'elsewhere', 'outside-fn'), prefixed]) {
        const refused = await rooted.post('/functions', { path: attempt });
        expect(refused.status, attempt).toBe(403);
        expect((await apiError(refused)).code).toBe('PREBAKE_ERR_PATH_NOT_ALLOWED');
      }
      expect(await sandbox.store.list()).toEqual([]);

      const viaLink = path.join(sandbox.root, 'link-to-allowed');
      await symlink(allowedRoot, viaLink);
      expect((await rooted.post('/functions', { path: path.join(viaLink, 'inside-fn') })).status).toBe(201);
      expect(await registeredDir(rooted, 'inside-fn')).toBe(inside);
      expect((await rooted.del('/functions/inside-fn')).status).toBe(204);
    } finally {
      await rooted.close();
    }
  });
});

describe('the build queue', () => {
  it('runs at most builds.maxConcurrent builds at once, queues builds.maxQueued more and refuses the rest with 429', async () => {
    const dirs = await Promise.all([1, 2, 3, 4].map((n) => functionAt(`queued/q-${n}`)));
    const queued = await startServer(sandbox, { builds: { maxConcurrent: 1, maxQueued: 2 } });
    try {
      // Which functions have a process (launcher, runtime, criu) at each moment.
      let mostAtOnce = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          // An instance runs from its build's copy of the code (<home>/functions/q-N/builds/...), criu names it too.
          const building = new Set((await sandbox.processes()).flatMap((line) => /(?:queued|functions)\/(q-\d)\//.exec(line)?.[1] ?? []));
          mostAtOnce = Math.max(mostAtOnce, building.size);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })();
      const responses = await Promise.all(dirs.map((dir) => queued.post('/functions', { path: dir })));
      sampling = false;
      await sampler;
      const statuses = responses.map((r) => r.status).sort();
      expect(statuses).toEqual([201, 201, 201, 429]);
      const refused = responses.find((r) => r.status === 429)!;
      expect(await apiError(refused)).toMatchObject({ code: 'PREBAKE_ERR_OVERLOADED', message: expect.stringContaining('builds') });
      expect(mostAtOnce).toBe(1);
      const metrics = await (await queued.get('/metrics')).text();
      expect(metricValue(metrics, 'prebake_builds_in_flight{state="running"}')).toBe(0);
      // The refused registration never built.
      const built = [1, 2, 3, 4].map((n) => metricValue(metrics, `prebake_builds_total{function="q-${n}",outcome="ok"}`));
      expect(built.reduce((sum, n) => sum + n, 0)).toBe(3);
      for (const described of await Promise.all(
        responses.filter((r) => r.status === 201).map((r) => r.json() as Promise<{ name: string }>),
      )) {
        expect((await queued.del(`/functions/${described.name}`)).status).toBe(204);
      }
    } finally {
      await queued.close();
    }
  });
});
