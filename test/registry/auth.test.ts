// The client's side of registry logins against small node:http servers that answer as a registry's auth
// would, for what docker-registry cannot be made to do: name an http token service off this machine, send an
// upload elsewhere, answer with `access_token`, revoke a token. (Logins against docker-registry itself:
// registry-auth.test.ts.)
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { parseChallenge } from '../../src/registry/auth.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import type { RegistryCredentials } from '../../src/registry/credentials.ts';
import { parseReference } from '../../src/registry/reference.ts';

interface Seen {
  method: string;
  url: string;
  authorization?: string;
}

const servers: ReturnType<typeof createServer>[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A server on `host` that records every request and answers with `handle`; its address as host:port. */
async function serve(host: string, handle: (request: IncomingMessage, response: ServerResponse) => void) {
  const seen: Seen[] = [];
  const server = createServer((request, response) => {
    seen.push({ method: request.method!, url: request.url!, authorization: request.headers.authorization });
    request.resume();
    request.on('end', () => handle(request, response));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return { address: `${host}:${(server.address() as { port: number }).port}`, seen };
}

const USER = { username: 'fleet', password: 'hunter2' };
const BASIC = `Basic ${Buffer.from('fleet:hunter2').toString('base64')}`;
const credentials: RegistryCredentials = Object.assign(() => USER, { file: '/etc/prebake/registry.json' });

describe('registry logins', () => {
  it('parses challenges with commas inside quoted values', () => {
    expect(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"')).toEqual(
      {
        scheme: 'bearer',
        params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' },
      },
    );
  });

  it('refuses a token service over http off this machine, before sending it anything', async () => {
    const realm = await serve('127.0.0.1', (_request, response) => response.end('{"token":"t"}'));
    const port = realm.address.split(':')[1];
    // 0.0.0.0 reaches this machine's server, yet is not a loopback name: a realm prebake must not trust.
    const registry = await serve('127.0.0.1', (_request, response) =>
      response.writeHead(401, { 'www-authenticate': `Bearer realm="http://0.0.0.0:${port}/token",service="s"` }).end(),
    );
    const client = new RegistryClient(parseReference(`${registry.address}/a/b:v1`), credentials);
    await expect(client.getManifest()).rejects.toMatchObject({
      code: 'PREBAKE_ERR_REGISTRY',
      message: expect.stringContaining('named the token service http://0.0.0.0'),
    });
    expect(realm.seen).toEqual([]);
  });

  it('sends Basic credentials to the registry only: an upload located elsewhere gets none, and its body goes once', async () => {
    const elsewhere = await serve('127.0.0.2', (_request, response) => response.writeHead(201).end());
    const registry = await serve('127.0.0.1', (request, response) => {
      if (request.headers.authorization !== BASIC) return response.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
      response.writeHead(202, { location: `http://${elsewhere.address}/upload/1` }).end();
    });
    const client = new RegistryClient(parseReference(`${registry.address}/a/b:v1`), credentials);
    await client.uploadBlob(`sha256:${'0'.repeat(64)}`, 5, Readable.from([Buffer.from('hello')]));
    expect(registry.seen.map((s) => [s.method, s.authorization])).toEqual([
      ['POST', undefined],
      ['POST', BASIC],
    ]);
    expect(elsewhere.seen).toEqual([{ method: 'PUT', url: `/upload/1?digest=sha256%3A${'0'.repeat(64)}`, authorization: undefined }]);
  });

  it('takes access_token, and asks again once when the registry refuses a kept token', async () => {
    let issued = 0;
    const realm = await serve('127.0.0.1', (_request, response) => response.end(JSON.stringify({ access_token: `t${++issued}` })));
    // Each token is good for one request: the second use of t1 is refused, as a revoked token would be.
    const used = new Set<string>();
    const registry = await serve('127.0.0.1', (request, response) => {
      const authorization = request.headers.authorization ?? '';
      if (authorization.startsWith('Bearer ') && !used.has(authorization)) {
        used.add(authorization);
        return response.writeHead(404).end();
      }
      response
        .writeHead(401, { 'www-authenticate': `Bearer realm="http://${realm.address}/token",service="svc",scope="repository:a/b:pull"` })
        .end();
    });
    const client = new RegistryClient(parseReference(`${registry.address}/a/b:v1`), credentials);
    expect(await client.hasBlob(`sha256:${'1'.repeat(64)}`)).toBe(false);
    expect(await client.hasBlob(`sha256:${'2'.repeat(64)}`)).toBe(false);
    expect(registry.seen.map((s) => s.authorization)).toEqual([undefined, 'Bearer t1', 'Bearer t1', 'Bearer t2']);
    expect(realm.seen.map((s) => [s.url, s.authorization])).toEqual([
      ['/token?service=svc&scope=repository%3Aa%2Fb%3Apull', BASIC],
      ['/token?service=svc&scope=repository%3Aa%2Fb%3Apull', BASIC],
    ]);
  });

  it('says so for a challenge it does not know, naming the scheme only', async () => {
    const registry = await serve('127.0.0.1', (_request, response) =>
      response.writeHead(401, { 'www-authenticate': 'Negotiate abcdef' }).end(),
    );
    const client = new RegistryClient(parseReference(`${registry.address}/a/b:v1`), credentials);
    await expect(client.getManifest()).rejects.toMatchObject({
      code: 'PREBAKE_ERR_REGISTRY',
      message: expect.stringMatching(/answered GET manifest v1 with 401 and a challenge prebake does not know \(Negotiate\)$/),
    });
  });
});
