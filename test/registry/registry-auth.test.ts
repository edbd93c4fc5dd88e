// prebake push and pull with registry logins, against real docker-registry: one asking for Basic credentials
// (htpasswd), one asking for tokens from a token service (token-server.ts). The right credentials push and
// pull; none, or a wrong password, are PREBAKE_ERR_REGISTRY naming the registry, and no secret is printed.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageStore } from '../../src/store/store.ts';
import { homeLeftovers } from '../bundle/bundle-tools.ts';
import { makeSandbox, runPrebake, type Sandbox } from '../helpers.ts';
import { startRegistry, type TestRegistry } from './registry-server.ts';
import { startTokenServer, type TokenServer } from './token-server.ts';

const USER = { username: 'fleet', password: 'Pa55:w0rd-not-printed' };
const WRONG = { username: 'fleet', password: 'wr0ng-not-printed' };
const SECRETS = [USER.password, WRONG.password, Buffer.from(`${USER.username}:${USER.password}`).toString('base64')];

let sandbox: Sandbox;
let basicRegistry: TestRegistry;
let tokenRegistry: TestRegistry;
let tokens: TokenServer;
let homeB: string;
let dockerConfigDir: string;
const files: Record<'good' | 'wrong' | 'empty', string> = { good: '', wrong: '', empty: '' };

// The CLI in-process. No docker config of this machine's user is read: DOCKER_CONFIG points at an empty
// directory while this file runs.
const prebake = (home: string, ...args: string[]) => runPrebake(['--home', home, ...args]);
let dockerConfigBefore: string | undefined;

async function writeConfig(name: string, auths: Record<string, unknown>): Promise<string> {
  const file = path.join(sandbox.root, `${name}.json`);
  await writeFile(file, JSON.stringify({ auths }));
  return file;
}

function expectNoSecret(text: string): void {
  for (const secret of SECRETS) expect(text).not.toContain(secret);
}

beforeAll(async () => {
  sandbox = await makeSandbox();
  homeB = path.join(sandbox.root, 'home-b');
  dockerConfigDir = path.join(sandbox.root, 'docker-config');
  await mkdir(dockerConfigDir);
  dockerConfigBefore = process.env.DOCKER_CONFIG;
  process.env.DOCKER_CONFIG = dockerConfigDir;
  tokens = await startTokenServer(sandbox.root, USER);
  [basicRegistry, tokenRegistry] = await Promise.all([
    startRegistry(sandbox.root, { name: 'basic', auth: { htpasswd: USER } }),
    startRegistry(sandbox.root, {
      name: 'token',
      auth: { token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: tokens.certFile } },
    }),
  ]);
  // Keys as docker writes them, in the forms config files hold.
  files.good = await writeConfig('good', {
    [`http://${basicRegistry.address}`]: { auth: Buffer.from(`${USER.username}:${USER.password}`).toString('base64') },
    [`https://${tokenRegistry.address}/v1/`]: { username: USER.username, password: USER.password },
  });
  files.wrong = await writeConfig('wrong', {
    [basicRegistry.address]: WRONG,
    [tokenRegistry.address]: WRONG,
  });
  files.empty = await writeConfig('empty', {});
  const build = await prebake(sandbox.home, 'build', await sandbox.addFunction('hello-node', 'bundled'));
  expect(build.exitCode, build.stderr).toBe(0);
});

afterAll(async () => {
  if (dockerConfigBefore === undefined) delete process.env.DOCKER_CONFIG;
  else process.env.DOCKER_CONFIG = dockerConfigBefore;
  try {
    await Promise.all([basicRegistry?.stop(), tokenRegistry?.stop(), tokens?.stop()]);
  } finally {
    await sandbox.finish();
  }
});

describe.each([
  ['Basic (htpasswd)', () => basicRegistry],
  ['Bearer (token service)', () => tokenRegistry],
])('a registry that asks for a login: %s', (_kind, registry) => {
  const ref = () => `${registry().address}/functions/hello-node:v1`;

  it('pushes and pulls with the credentials of a docker config file', async () => {
    const push = await prebake(sandbox.home, 'push', 'hello-node', ref(), '--credentials', files.good);
    expect(push.exitCode, push.stderr).toBe(0);
    expect(push.stdout).toMatch(/^pushed hello-node to .* \(sha256:[0-9a-f]{64}\): \d+ blob\(s\) uploaded/);
    const pull = await prebake(homeB, 'pull', ref(), '--credentials', files.good, '--name', `hello-${registry().address.split(':')[1]}`);
    expect(pull.exitCode, pull.stderr).toBe(0);
    const pulled = await new ImageStore(homeB).get(`hello-${registry().address.split(':')[1]}`);
    expect(pulled?.meta.buildId).toBe((await sandbox.store.get('hello-node'))!.meta.buildId);
  });

  it('refuses without credentials and with a wrong password, naming the registry, printing no secret', async () => {
    const before = await homeLeftovers(homeB);
    // With no --credentials, DOCKER_CONFIG's config.json would be read: there is none.
    for (const args of [[], ['--credentials', files.empty]]) {
      const pull = await prebake(homeB, 'pull', ref(), ...args);
      expect(pull.exitCode).toBe(9);
      expect(pull.stderr).toContain('[PREBAKE_ERR_REGISTRY]');
      expect(pull.stderr).toContain(`the registry ${registry().address} answered GET manifest v1 with 401`);
      expect(pull.stderr).toMatch(/there are no credentials for it/);
      expect(pull.stderr).toContain('--credentials FILE');
    }
    const wrong = await prebake(sandbox.home, 'push', 'hello-node', ref(), '--credentials', files.wrong);
    expect(wrong.exitCode).toBe(9);
    expect(wrong.stderr).toContain('[PREBAKE_ERR_REGISTRY]');
    expect(wrong.stderr).toContain(registry().address);
    expect(wrong.stderr).toContain(`credentials of fleet from ${files.wrong}`);
    expectNoSecret(wrong.stderr + wrong.stdout);
    expect(await homeLeftovers(homeB)).toEqual(before);
  });
});

describe('tokens', () => {
  it('are asked for once per scope and kept for every request of a push, with the credentials sent to the realm', async () => {
    tokens.requests.length = 0;
    const ref = `${tokenRegistry.address}/functions/hello-node:v2`;
    const push = await prebake(sandbox.home, 'push', 'hello-node', ref, '--credentials', files.good);
    expect(push.exitCode, push.stderr).toBe(0);
    // Many HEADs (one per blob) and a manifest PUT, yet one token to read and one to write.
    expect(tokens.requests).toEqual([
      { scopes: ['repository:functions/hello-node:pull'], user: 'fleet' },
      { scopes: ['repository:functions/hello-node:pull,push'], user: 'fleet' },
    ]);
  });
});
