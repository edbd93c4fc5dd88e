// A Python function that makes a requests.Session and a urllib3 pool at init and uses them in the warm-up:
// urllib3 keeps their connections alive, and criu cannot dump them. The shim closes them before the snapshot;
// every clone uses the same session and pool again, which reconnect.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFunction } from '../../src/build/build.ts';
import { invokeFunction } from '../../src/invoke/invoke.ts';
import { loadFunction } from '../../src/manifest/load.ts';
import { makeSandbox, type Sandbox } from '../helpers.ts';

let sandbox: Sandbox;
let server: http.Server;
let dir: string;
const connections = new Set<Socket>();
const served = { config: 0, pool: 0 };

beforeAll(async () => {
  sandbox = await makeSandbox();
  // A server that would keep an idle connection for a minute: only the client side can end it before the dump.
  server = http.createServer((request, response) => {
    const what = request.url === '/pool' ? 'pool' : 'config';
    response.end(`${what} ${++served[what]}`);
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (socket: Socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  dir = await sandbox.addFunction('session-python');
  const file = path.join(dir, 'function.json');
  const manifest = JSON.parse(await readFile(file, 'utf8'));
  manifest.env.CONFIG_URL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/config`;
  await writeFile(file, JSON.stringify(manifest));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await sandbox.finish();
});

interface Result {
  config: string;
  pool_config: string;
  fresh: string;
  pool_fresh: string;
}

const count = (text: string) => Number(text.split(' ')[1]);

describe('python HTTP connections at init', () => {
  it('builds: the shim closes the session\'s and the pool\'s kept-alive connections, and clones use both again', async () => {
    await buildFunction(await loadFunction(dir), { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances });
    // Init and the warm-up invocation used both: two requests each.
    const afterBuild = { ...served };
    expect(afterBuild.config).toBeGreaterThanOrEqual(2);
    expect(afterBuild.pool).toBeGreaterThanOrEqual(2);
    // The server saw the connections end: nothing of the build's instance is left connected.
    expect(connections.size).toBe(0);
    const results = await Promise.all([1, 2].map(async () =>
      JSON.parse((await invokeFunction({ target: dir, event: '{}', mode: 'prebaked' }, sandbox.store, sandbox.criu, sandbox.instances)).result) as Result));
    for (const result of results) {
      // What init fetched is the snapshot's; each clone's own requests are new ones, on new connections.
      expect(result.config).toBe('config 1');
      expect(result.pool_config).toBe('pool 1');
      expect(count(result.fresh)).toBeGreaterThan(afterBuild.config);
      expect(count(result.pool_fresh)).toBeGreaterThan(afterBuild.pool);
    }
    expect(new Set(results.map((r) => r.fresh)).size).toBe(2);
    expect(new Set(results.map((r) => r.pool_fresh)).size).toBe(2);
  });
});
