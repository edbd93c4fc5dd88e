// A restore that fails (a corrupt image) falls back to a plain start, is counted, and marks the image for rebuild.
import { open, rm, truncate } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, type Sandbox } from '../helpers.ts';
import { apiError, closeAndClean, metricValue, registerFixture, startServer, type TestServer } from './harness.ts';

let sandbox: Sandbox;
let server: TestServer;

beforeAll(async () => {
  sandbox = await makeSandbox();
  server = await startServer(sandbox);
  await registerFixture(server, sandbox, 'faulty-node');
});

afterEach(async () => {
  await sandbox.expectClean();
});

afterAll(() => closeAndClean(server, sandbox));

async function imageFile(name: string): Promise<string> {
  const stored = await sandbox.store.get('faulty-node');
  return path.join(stored!.imageDir, name);
}

async function describeFn(target = server): Promise<{ needsRebuild: boolean; counters: Record<string, number> }> {
  return (await (await target.get('/functions/faulty-node')).json()) as { needsRebuild: boolean; counters: Record<string, number> };
}

const metrics = async (target = server) => (await target.get('/metrics')).text();

describe('a corrupt image', () => {
  it('falls back to a plain start, counts it, and marks the image for rebuild', async () => {
    await rm(await imageFile('core-1.img'));
    const response = await server.invoke('faulty-node', { n: 1 });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-prebake-start')).toBe('cold');
    expect(((await response.json()) as { echo: unknown }).echo).toEqual({ n: 1 });

    let text = await metrics();
    expect(metricValue(text, 'prebake_fallbacks_total{function="faulty-node"}')).toBe(1);
    expect(metricValue(text, 'prebake_restores_total{function="faulty-node",outcome="failed"}')).toBe(1);
    expect(await describeFn()).toMatchObject({ needsRebuild: true, counters: { fallbacks: 1, restoreFailures: 1, cold: 1 } });

    // Marked: the next invocation starts plainly without trying the broken image again.
    const next = await server.invoke('faulty-node', {});
    expect(next.headers.get('x-prebake-start')).toBe('cold');
    text = await metrics();
    expect(metricValue(text, 'prebake_restores_total{function="faulty-node",outcome="failed"}')).toBe(1);

    // A rebuild clears the mark.
    expect((await server.post('/functions/faulty-node/build')).status).toBe(200);
    expect((await describeFn()).needsRebuild).toBe(false);
    expect((await server.invoke('faulty-node', {})).headers.get('x-prebake-start')).toBe('prebaked');
  });

  it('falls back at once on truncated memory pages (they are not what the build recorded)', async () => {
    await truncate(await imageFile('pages-1.img'), 4096);
    const response = await server.invoke('faulty-node', { n: 2 });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-prebake-start')).toBe('cold');
    expect((await describeFn()).needsRebuild).toBe(true);
    expect((await server.post('/functions/faulty-node/build')).status).toBe(200);
  });

  it('with a patched page is never restored, even after restores of it succeeded', async () => {
    expect((await server.invoke('faulty-node', {})).headers.get('x-prebake-start')).toBe('prebaked');
    const handle = await open(await imageFile('pages-1.img'), 'r+');
    try {
      await handle.write(Buffer.from('patched'), 0, 7, 8192);
    } finally {
      await handle.close();
    }
    const response = await server.invoke('faulty-node', { n: 3 });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-prebake-start')).toBe('cold');
    expect(await describeFn()).toMatchObject({ needsRebuild: true });
    expect((await server.post('/functions/faulty-node/build')).status).toBe(200);
  });

  it('is a 502 PREBAKE_ERR_IMAGE_CORRUPT with fallback off', async () => {
    const strict = await startServer(sandbox, { fallback: false });
    try {
      await rm(await imageFile('core-1.img'));
      const response = await strict.invoke('faulty-node', {});
      expect(response.status).toBe(502);
      const error = await apiError(response);
      expect(error.code).toBe('PREBAKE_ERR_IMAGE_CORRUPT');
      expect(metricValue(await metrics(strict), 'prebake_fallbacks_total{function="faulty-node"}')).toBe(0);
      expect((await describeFn(strict)).needsRebuild).toBe(true);
      expect((await strict.post('/functions/faulty-node/build')).status).toBe(200);
      expect((await strict.invoke('faulty-node', {})).status).toBe(200);
    } finally {
      await strict.close();
    }
  });
});
