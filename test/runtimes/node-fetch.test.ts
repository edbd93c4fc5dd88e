// A Node function that calls the global fetch at init: undici keeps the connection alive in its global
// dispatcher, out of the function's reach, and criu cannot dump it. The shim closes it before the snapshot.

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
let server: http.Server;
let dir: string;
const connections = new Set<Socket>();
let requests = 0;

beforeAll(async () => {
  sandbox = await makeSandbox();
  // A server that would keep an idle connection for a minute: only the client side can end it before the dump.
  server = http.createServer((_request, response) => response.end(`response ${++requests}`));
  server.keepAliveTimeout = 60_000;
  server.on('connection', (socket: Socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  dir = await sandbox.addFunction('fetch-node');
  const file = path.join(dir, 'function.json');
  const manifest = JSON.parse(await readFile(file, 'utf8'));
  manifest.env.CONFIG_URL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/config`;
  // The server is on the host's loopback, which only "host" reaches ("outbound" egress: test/launch/outbound.test.ts).
  manifest.network = 'host';
  await writeFile(file, JSON.stringify(manifest));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await sandbox.finish();
});

describe('node fetch at init', () => {
  it("builds: the shim closes undici's kept-alive connection before the snapshot, and clones fetch afresh", async () => {
    await buildFunction(await loadFunction(dir), { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances });
    const afterBuild = requests;
    expect(afterBuild).toBeGreaterThanOrEqual(1);
    // The server saw the connection end: nothing of the build's instance is left connected.
    expect(connections.size).toBe(0);
    const results = await Promise.all(
      [1, 2].map(async () =>
        JSON.parse(
          (await invokeFunction({ target: dir, event: '{}', mode: 'prebaked' }, sandbox.store, sandbox.criu, sandbox.instances)).result,
        ),
      ),
    );
    for (const result of results) {
      // The config fetched at init is the snapshot's; each clone's own fetch is a new request.
      expect(result.config).toBe('response 1');
      expect(Number(result.fresh.replace('response ', ''))).toBeGreaterThan(afterBuild);
    }
    expect(new Set(results.map((r) => r.fresh)).size).toBe(2);
  });
});
