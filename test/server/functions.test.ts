// Registering, describing, rebuilding and removing functions; the CLI changing the same home meanwhile.
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { makeSandbox, ROOT, type Sandbox, settled } from '../helpers.ts';
import { apiError, closeAndClean, startServer, type TestServer } from './harness.ts';

let sandbox: Sandbox;
let server: TestServer;
let helloDir: string;

interface Description {
  name: string;
  runtime: string;
  imageBytes: number;
  builtAt: string;
  buildId: string;
  sourceDigest: string;
  startMode: string;
  source: string;
  interpreter: { path: string; version: string };
  needsRebuild: boolean;
  sharedState: string[];
  warnings: string[];
  warm: { max: number; idleMs: number; idle: number; busy: number };
  counters: Record<string, number>;
}

beforeAll(async () => {
  sandbox = await makeSandbox();
  server = await startServer(sandbox);
  helloDir = await sandbox.addFunction('hello-node', 'bundled');
});

afterEach(async () => {
  expect(await settled(() => sandbox.processes())).toEqual([]);
});

afterAll(() => closeAndClean(server, sandbox));

const prebake = (...args: string[]) => execa(path.join(ROOT, 'bin', 'prebake'), ['--home', sandbox.home, ...args], { reject: false });

describe('the function registry', () => {
  it('registers a function by building it and describes it', async () => {
    const response = await server.post('/functions', { path: helloDir });
    expect(response.status).toBe(201);
    const described = (await response.json()) as Description;
    expect(described).toMatchObject({
      name: 'hello-node',
      runtime: 'node',
      startMode: 'prebaked',
      source: 'unchanged',
      needsRebuild: false,
    });
    expect(described).toMatchObject({ sharedState: [], warnings: [] });
    expect(described.interpreter.version).toMatch(/^node v\d+/);
    expect(described.imageBytes).toBeGreaterThan(1_000_000);
    expect(described.sourceDigest).toMatch(/^sha256:/);
    expect(Date.parse(described.builtAt)).not.toBeNaN();
    expect(described.warm).toEqual({ max: 4, idleMs: 60_000, idle: 0, busy: 0 });

    expect((await server.invoke('hello-node', { name: 'x' })).status).toBe(200);
    const again = (await (await server.get('/functions/hello-node')).json()) as Description;
    expect(again.counters).toMatchObject({ invocations: 1, errors: 0, prebaked: 1 });

    const list = (await (await server.get('/functions')).json()) as { functions: Description[] };
    expect(list.functions.map((f) => f.name)).toEqual(['hello-node']);
  });

  it("shows what the build's clone-uniqueness check found", async () => {
    const dir = await sandbox.addFunction('random-python');
    expect((await server.post('/functions', { path: dir })).status).toBe(201);
    const described = (await (await server.get('/functions/random-python')).json()) as Description;
    expect(described.sharedState).toEqual(['$.instance', '$.hashSeed']);
    expect(described.warnings).toHaveLength(1);
    expect(described.warnings[0]).toContain('$.instance, $.hashSeed');
    expect((await server.del('/functions/random-python')).status).toBe(204);
  });

  it('rebuilds on POST /functions/:name/build (even with an empty JSON body)', async () => {
    const before = (await (await server.get('/functions/hello-node')).json()) as Description;
    const response = await server.request('/functions/hello-node/build', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    });
    expect(response.status).toBe(200);
    const after = (await response.json()) as Description;
    expect(after.buildId).not.toBe(before.buildId);
    expect((await server.post('/functions/no-such-function/build')).status).toBe(404);
  });

  it('takes the start mode and warm settings from function.json, under the daemon config', async () => {
    const manifestFile = path.join(helloDir, 'function.json');
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as Record<string, unknown>;
    await writeFile(manifestFile, JSON.stringify({ ...manifest, startMode: 'warm', warm: { max: 1, idleMs: 0 } }));
    expect((await server.post('/functions/hello-node/build')).status).toBe(200);
    const described = (await (await server.get('/functions/hello-node')).json()) as Description;
    expect(described.startMode).toBe('warm');
    expect(described.warm).toMatchObject({ max: 1, idleMs: 0 });

    const overridden = await startServer(sandbox, { functions: { 'hello-node': { startMode: 'cold' } } });
    try {
      expect((await overridden.invoke('hello-node', {})).headers.get('x-prebake-start')).toBe('cold');
    } finally {
      await overridden.close();
    }
    await writeFile(manifestFile, JSON.stringify(manifest));
    expect((await server.post('/functions/hello-node/build')).status).toBe(200);
  });

  it('keeps serving while the CLI rebuilds the function on the same home', async () => {
    const warmFirst = await server.invoke('hello-node', {}, '?mode=warm');
    expect(warmFirst.status).toBe(200);
    const built = await prebake('build', helloDir);
    expect(built.exitCode).toBe(0);
    // The warm instance belonged to the old build: the new build is restored instead.
    const next = await server.invoke('hello-node', {}, '?mode=warm');
    expect(next.status).toBe(200);
    expect(next.headers.get('x-prebake-start')).toBe('prebaked');
    await server.del('/functions/hello-node');
    expect((await server.post('/functions', { path: helloDir })).status).toBe(201);
  });

  it('removes a function with DELETE: its image, its registration and its instances', async () => {
    expect((await server.invoke('hello-node', {}, '?mode=warm')).status).toBe(200);
    expect(server.app.host.instances.count).toBe(1);
    const response = await server.del('/functions/hello-node');
    expect(response.status).toBe(204);
    expect(await settled(async () => (server.app.host.instances.count > 0 ? ['alive'] : []))).toEqual([]);
    expect(await sandbox.store.get('hello-node')).toBeUndefined();
    expect((await server.get('/functions/hello-node')).status).toBe(404);
    expect((await apiError(await server.del('/functions/hello-node'))).code).toBe('PREBAKE_ERR_UNKNOWN_FUNCTION');
  });

  it('sees a function removed by the CLI as gone', async () => {
    expect((await server.post('/functions', { path: helloDir })).status).toBe(201);
    expect((await prebake('rm', 'hello-node')).exitCode).toBe(0);
    expect((await server.invoke('hello-node', {})).status).toBe(404);
  });

  it('keeps serving the build after its source changed or went away, and reports it', async () => {
    expect((await server.post('/functions', { path: helloDir })).status).toBe(201);
    const indexFile = path.join(helloDir, 'index.js');
    const original = await readFile(indexFile, 'utf8');
    const message = async (query = '') => {
      const response = await server.invoke('hello-node', { name: 'x' }, query);
      expect(response.status).toBe(200);
      return ((await response.json()) as { message: string }).message;
    };
    const source = async () => ((await (await server.get('/functions/hello-node')).json()) as Description).source;
    await writeFile(indexFile, original.replace('Hello, ', 'Changed, '));
    try {
      for (const query of ['', '?mode=cold', '?mode=warm']) expect(await message(query)).toBe('Hello, x!');
      await vi.waitFor(async () => expect(await source()).toBe('changed'), { timeout: 15_000, interval: 250 });
      const list = (await (await server.get('/functions')).json()) as { functions: Description[] };
      expect(list.functions.find((f) => f.name === 'hello-node')?.source).toBe('changed');

      await rename(helloDir, `${helloDir}-moved`);
      try {
        expect(await message()).toBe('Hello, x!');
        expect(await message('?mode=cold')).toBe('Hello, x!');
        await vi.waitFor(async () => expect(await source()).toBe('missing'), { timeout: 15_000, interval: 250 });
      } finally {
        await rename(`${helloDir}-moved`, helloDir);
      }
      expect((await server.post('/functions/hello-node/build')).status).toBe(200);
      expect(await message()).toBe('Changed, x!');
      expect(await source()).toBe('unchanged');
    } finally {
      await writeFile(indexFile, original);
    }
    await server.del('/functions/hello-node');
  });
});
