// A token service as docker-registry's `auth: token` expects one (Docker's token authentication): GET
// <realm>?service=..&scope=repository:<name>:<actions> with Basic credentials answers a JWT signed RS256
// by a key whose self-signed certificate (made with the openssl CLI) the registry trusts, the certificate in
// the token's x5c header, and the asked actions in its `access` claim. Anonymous callers get a token that
// grants nothing, as public token services do for a private repository; wrong credentials get 401.
import { randomUUID, sign, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import path from 'node:path';
import { execa } from 'execa';

export interface TokenRequest {
  scopes: string[];
  /** The user of the Basic credentials sent, if any. */
  user?: string;
}

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  certFile: string;
  requests: TokenRequest[];
  stop(): Promise<void>;
}

const b64url = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

function basicUser(request: IncomingMessage): { username: string; password: string } | undefined {
  const [scheme, value] = (request.headers.authorization ?? '').split(' ');
  if (scheme?.toLowerCase() !== 'basic' || !value) return undefined;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export async function startTokenServer(root: string, user: { username: string; password: string }): Promise<TokenServer> {
  const keyFile = path.join(root, 'token-key.pem');
  const certFile = path.join(root, 'token-cert.pem');
  await execa('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    '/CN=prebake-test-token',
  ]);
  const key = await readFile(keyFile, 'utf8');
  const certDer = new X509Certificate(await readFile(certFile)).raw.toString('base64');
  const service = 'prebake-test-registry';
  const issuer = 'prebake-test-issuer';
  const requests: TokenRequest[] = [];

  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://token');
    const scopes = url.searchParams.getAll('scope');
    const caller = basicUser(request);
    requests.push({ scopes, user: caller?.username });
    if (caller && (caller.username !== user.username || caller.password !== user.password)) {
      response.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"wrong username or password"}');
      return;
    }
    const access = caller
      ? scopes.map((scope) => {
          const [type, name, actions] = scope.split(':');
          return { type, name, actions: (actions ?? '').split(',') };
        })
      : [];
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: issuer,
      sub: caller?.username ?? '',
      aud: url.searchParams.get('service'),
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const signingInput = `${b64url({ typ: 'JWT', alg: 'RS256', x5c: [certDer] })}.${b64url(claims)}`;
    const token = `${signingInput}.${sign('sha256', Buffer.from(signingInput), key).toString('base64url')}`;
    response
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ token, expires_in: 300, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certFile,
    requests,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
