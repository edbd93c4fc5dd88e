// GET and PUT /functions/:name/bundle between two real daemons with homes of their own; an import while
// invocations of the same function run.
import { stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEntries, writeEntries } from '../bundle/bundle-tools.ts';
import { makeSandbox, type Sandbox, settled } from '../helpers.ts';
import { apiError, closeAndClean, startServer, type TestServer } from './harness.ts';

let sandboxA: Sandbox;
let sandboxB: Sandbox;
let serverA: TestServer;
let serverB: TestServer;

const putBundle = (server: TestServer, name: string, body: Buffer, query = '') =>
  server.request(`/functions/${name}/bundle${query}`, { method: 'PUT', headers: { 'content-type': 'application/x-tar' }, body });

async function getBundle(server: TestServer, name: string): Promise<Buffer> {
  const response = await server.get(`/functions/${name}/bundle`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toBe('application/x-tar');
  return Buffer.from(await response.arrayBuffer());
}

beforeAll(async () => {
  sandboxA = await makeSandbox();
  sandboxB = await makeSandbox();
  serverA = await startServer(sandboxA);
  serverB = await startServer(sandboxB);
  const dir = await sandboxA.addFunction('hello-node', 'bundled');
  expect((await serverA.post('/functions', { path: dir })).status).toBe(201);
});

afterAll(async () => {
  await closeAndClean(serverB, sandboxB);
  await closeAndClean(serverA, sandboxA);
});

describe('bundles over HTTP', () => {
  it('exports from one daemon and imports into another, where the function restores and answers', async () => {
    const bundle = await getBundle(serverA, 'hello-node');
    const put = await putBundle(serverB, 'hello-node', bundle);
    expect(put.status).toBe(200);
    const described = (await put.json()) as { name: string; buildId: string; stale: boolean; needsRebuild: boolean };
    const original = (await (await serverA.get('/functions/hello-node')).json()) as { buildId: string };
    expect(described).toMatchObject({ name: 'hello-node', buildId: original.buildId, source: 'unchanged', needsRebuild: false });

    const invoked = await serverB.invoke('hello-node', { name: 'http' });
    expect(invoked.status).toBe(200);
    expect(invoked.headers.get('x-prebake-start')).toBe('prebaked');
    expect(await invoked.json()).toMatchObject({ message: 'Hello, http!' });
  });

  it('imports a new build while invocations of the function run, and every invocation answers', async () => {
    const rebuilt = await serverA.post('/functions/hello-node/build');
    expect(rebuilt.status).toBe(200);
    const newBuildId = ((await rebuilt.json()) as { buildId: string }).buildId;
    const bundle = await getBundle(serverA, 'hello-node');

    let importing = true;
    const statuses: number[] = [];
    const invokeWhileImporting = async (query: string) => {
      do {
        const response = await serverB.invoke('hello-node', { n: statuses.length }, query);
        statuses.push(response.status);
        await response.arrayBuffer();
      } while (importing);
    };
    const loops = [invokeWhileImporting(''), invokeWhileImporting('?mode=warm')];
    const put = await putBundle(serverB, 'hello-node', bundle).finally(() => {
      importing = false;
    });
    await Promise.all(loops);
    expect(put.status).toBe(200);
    expect(((await put.json()) as { buildId: string }).buildId).toBe(newBuildId);
    expect(statuses.length).toBeGreaterThanOrEqual(2);
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    const after = await serverB.invoke('hello-node', {}, '?mode=warm');
    expect(after.status).toBe(200);
  });

  it('refuses a damaged bundle with 400 and keeps the function as it was', async () => {
    const before = (await (await serverB.get('/functions/hello-node')).json()) as { buildId: string };
    const entries = await readEntries(await getBundle(serverA, 'hello-node'));
    const meta = entries.find((e) => e.header.name === 'entry/meta.json')!;
    meta.content = Buffer.from(meta.content.toString().replace('"hello-node"', '"hello-nodf"'));
    const put = await putBundle(serverB, 'hello-node', await writeEntries(entries));
    expect(put.status).toBe(400);
    expect((await apiError(put)).code).toBe('PREBAKE_ERR_BUNDLE_CORRUPT');
    const after = (await (await serverB.get('/functions/hello-node')).json()) as { buildId: string };
    expect(after.buildId).toBe(before.buildId);
    expect((await sandboxB.tempDirs()).filter((dir) => dir.startsWith('tmp/'))).toEqual([]);
  });

  it("refuses a symbolic link to the daemon's API token, checksums correct, and the token keeps its mode and owner", async () => {
    // Issue 18: this bundle made the import's permission fix-up chown and chmod the token through the link.
    const token = path.join(sandboxB.home, 'api-token');
    await writeFile(token, 'secret\n', { mode: 0o600 });
    const before = await stat(token);
    const entries = await readEntries(await getBundle(serverA, 'hello-node'));
    const template = entries.find((e) => e.header.name.startsWith('entry/images/') && e.header.type === 'file')!;
    const link = {
      header: { ...template.header, name: 'entry/images/evil', type: 'symlink' as const, linkname: token, size: 0 },
      content: Buffer.alloc(0),
    };
    const put = await putBundle(
      serverB,
      'hello-node',
      await writeEntries([...entries.slice(0, -1), link, entries.at(-1)!], { resum: true }),
    );
    expect(put.status).toBe(400);
    const error = await apiError(put);
    expect(error.code).toBe('PREBAKE_ERR_BUNDLE_CORRUPT');
    expect(error.message).toContain('entry "entry/images/evil" is a symlink');
    const after = await stat(token);
    expect([after.mode, after.uid, after.gid]).toEqual([before.mode, before.uid, before.gid]);
    expect((await sandboxB.tempDirs()).filter((dir) => dir.startsWith('tmp/'))).toEqual([]);
  });

  it('releases the function when a reader hangs up mid-bundle', async () => {
    const aborted = new AbortController();
    const response = await serverA.request('/functions/hello-node/bundle', { signal: aborted.signal });
    const reader = response.body!.getReader();
    expect((await reader.read()).done).toBe(false);
    aborted.abort();
    const lockable = async () => {
      const release = await sandboxA.store.lock('hello-node', { wait: false }).catch(() => undefined);
      await release?.();
      return release ? [] : ['still locked'];
    };
    expect(await settled(lockable, 10_000)).toEqual([]);
  });

  it('refuses a bundle whose code lies outside the functions roots of the daemon', async () => {
    const sandboxC = await makeSandbox();
    const serverC = await startServer(sandboxC, { functionsRoots: [sandboxC.root] });
    try {
      const put = await putBundle(serverC, 'hello-node', await getBundle(serverA, 'hello-node'));
      expect(put.status).toBe(403);
      expect((await apiError(put)).code).toBe('PREBAKE_ERR_PATH_NOT_ALLOWED');
      expect((await serverC.get('/functions/hello-node')).status).toBe(404);
      expect(await sandboxC.tempDirs()).toEqual([]);
    } finally {
      // Not closeAndClean: its cgroup check covers this whole process, where daemon B keeps warm instances.
      await serverC.close();
      await sandboxC.cleanup();
    }
  });

  it('refuses a bundle of another function than the URL names, and a bundle of an unknown function', async () => {
    const put = await putBundle(serverB, 'other-name', await getBundle(serverA, 'hello-node'));
    expect(put.status).toBe(400);
    expect((await apiError(put)).message).toContain('holds function "hello-node", not "other-name"');
    expect((await serverB.get('/functions/other-name')).status).toBe(404);
    const missing = await serverA.get('/functions/nothing/bundle');
    expect(missing.status).toBe(404);
    expect((await apiError(missing)).code).toBe('PREBAKE_ERR_UNKNOWN_FUNCTION');
    expect((await sandboxB.tempDirs()).filter((dir) => dir.startsWith('tmp/'))).toEqual([]);
  });
});
