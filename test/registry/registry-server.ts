// A real OCI registry for the tests: Debian's docker-registry (the reference implementation, installed by
// scripts/setup.sh), on a free loopback port, with its storage in the test's sandbox. It takes anonymous
// requests, or logins from an htpasswd file, or tokens from a token service (token-server.ts).
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';

export const REGISTRY_BINARY = '/usr/bin/docker-registry';

export interface TestRegistry {
  /** host:port */
  address: string;
  storageDir: string;
  stop(): Promise<void>;
}

export type RegistryAuthOption =
  | { htpasswd: { username: string; password: string } }
  | { token: { realm: string; service: string; issuer: string; rootCertBundle: string } };

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** docker-registry's `auth:` section; an htpasswd file needs bcrypt entries, which python3's crypt makes. */
async function authConfig(root: string, auth: RegistryAuthOption | undefined): Promise<string> {
  if (!auth) return '';
  if ('token' in auth) {
    const { realm, service, issuer, rootCertBundle } = auth.token;
    return `auth:\n  token:\n    realm: ${realm}\n    service: ${service}\n    issuer: ${issuer}\n    rootcertbundle: ${rootCertBundle}\n`;
  }
  const { username, password } = auth.htpasswd;
  // Cost 4 (rounds=16), bcrypt's least: the registry checks the password on every request.
  const { stdout: hash } = await execa(
    'python3',
    ['-W', 'ignore', '-c', 'import crypt, sys; print(crypt.crypt(sys.stdin.read(), crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))'],
    { input: password },
  );
  const file = path.join(root, 'htpasswd');
  await writeFile(file, `${username}:${hash.trim()}\n`);
  return `auth:\n  htpasswd:\n    realm: prebake-test\n    path: ${file}\n`;
}

export async function startRegistry(root: string, options: { auth?: RegistryAuthOption; name?: string } = {}): Promise<TestRegistry> {
  if (!existsSync(REGISTRY_BINARY)) throw new Error(`${REGISTRY_BINARY} is missing: run scripts/setup.sh (it installs docker-registry)`);
  const port = await freePort();
  const name = options.name ?? 'registry';
  const storageDir = path.join(root, name);
  const config = path.join(root, `${name}.yml`);
  await writeFile(
    config,
    `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${storageDir}\nhttp:\n  addr: 127.0.0.1:${port}\n` +
      (await authConfig(root, options.auth)),
  );
  const child: ResultPromise = execa(REGISTRY_BINARY, ['serve', config], { reject: false });
  const address = `127.0.0.1:${port}`;
  const stop = async () => {
    child.kill('SIGTERM');
    await child;
  };
  for (const deadline = Date.now() + 20_000; ; ) {
    // A registry that asks for a login answers its base route with 401.
    const up = await fetch(`http://${address}/v2/`).then(
      (r) => r.ok || r.status === 401,
      () => false,
    );
    if (up) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not start on ${address}: ${(await child).stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { address, storageDir, stop };
}
