// Functions that make an HTTP client at init and use it in the warm-up: a Python requests.Session, urllib3
// pool and boto3 client, a Java HttpClient. Each keeps its connection alive, and criu cannot dump it: the shims close them
// before the snapshot, and every clone uses the same session, pool or client again, which reconnect.
// (Node's fetch: node-fetch.test.ts.)

import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFunction } from '../../src/bake/build.ts';
import { invokeFunction } from '../../src/invoke/invoke.ts';
import { loadFunction } from '../../src/manifest/load.ts';
import { makeSandbox, type Sandbox } from '../helpers.ts';

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await makeSandbox();
});

afterAll(() => sandbox.finish());

/** A server that would keep an idle connection for a minute: only the client side can end it before the dump. */
async function countingServer() {
  const served: Record<string, number> = {};
  const connections = new Set<Socket>();
  const server = http.createServer((request, response) => {
    const what = request.url === '/pool' ? 'pool' : request.url === '/' ? 's3' : 'config';
    served[what] = (served[what] ?? 0) + 1;
    if (what !== 's3') return response.end(`${what} ${served[what]}`);
    // S3's ListBuckets, as botocore parses it: one bucket, named for the request's number.
    response.setHeader('content-type', 'application/xml');
    response.end(
      `<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult><Buckets><Bucket><Name>s3 ${served[what]}</Name></Bucket></Buckets></ListAllMyBucketsResult>`,
    );
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (socket: Socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return { served, connections, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/config`, close };
}

const count = (text: unknown) => Number(String(text).split(' ')[1]);

describe.each([
  // requests.Session (urllib3's PoolManager), a urllib3 HTTPConnectionPool of the function's own, boto3 (botocore's own PoolManager).
  { fixture: 'session-python', clients: ['config', 'pool', 's3'] },
  // java.net.http.HttpClient, HTTP/1.1.
  { fixture: 'httpclient-java', clients: ['config'] },
])('$fixture: HTTP connections at init', ({ fixture, clients }) => {
  it('builds: the shim closes the kept-alive connections, and clones use the same clients again', async () => {
    const server = await countingServer();
    try {
      const dir = await sandbox.addFunction(fixture);
      const file = path.join(dir, 'function.json');
      const manifest = JSON.parse(await readFile(file, 'utf8'));
      manifest.env.CONFIG_URL = server.url;
      // The server listens on the host's loopback, which only the host network reaches (outbound does not).
      manifest.network = 'host';
      await writeFile(file, JSON.stringify(manifest));
      await buildFunction(await loadFunction(dir), { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances });
      // Init and the warm-up invocation used every client: two requests each.
      const afterBuild = { ...server.served };
      for (const client of clients) expect(afterBuild[client]).toBeGreaterThanOrEqual(2);
      // The server saw the connections end: nothing of the build's instance is left connected.
      expect(server.connections.size).toBe(0);
      const results = await Promise.all(
        [1, 2].map(
          async () =>
            JSON.parse(
              (await invokeFunction({ target: dir, event: '{}', mode: 'prebaked' }, sandbox.store, sandbox.criu, sandbox.instances)).result,
            ) as Record<string, string>,
        ),
      );
      for (const client of clients) {
        const prefix = client === 'config' ? '' : `${client}_`;
        for (const result of results) {
          // What init fetched is the snapshot's; each clone's own requests are new ones, on new connections.
          expect(result[`${prefix}config`]).toBe(`${client} 1`);
          expect(count(result[`${prefix}fresh`])).toBeGreaterThan(afterBuild[client]!);
        }
        expect(new Set(results.map((r) => r[`${prefix}fresh`])).size).toBe(2);
      }
    } finally {
      await server.close();
    }
  });
});
