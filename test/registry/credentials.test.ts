// docker's config.json as prebake reads it: keys in every form docker writes them, both ways of giving a
// password, helpers and identity tokens refused for the registries they cover only, and no secret in errors.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultDockerConfig, loadDockerConfig, normaliseRegistry } from '../../src/registry/credentials.ts';

let dir: string;
const b64 = (text: string) => Buffer.from(text).toString('base64');

async function configFile(content: unknown): Promise<string> {
  const file = path.join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'prebake-credentials-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loadDockerConfig', () => {
  it('normalises keys to host[:port], Docker Hub under one name', () => {
    expect(normaliseRegistry('https://Registry.Example:5000/v1/')).toBe('registry.example:5000');
    expect(normaliseRegistry('http://127.0.0.1:5000')).toBe('127.0.0.1:5000');
    expect(normaliseRegistry('127.0.0.1:5000')).toBe('127.0.0.1:5000');
    expect(normaliseRegistry('https://index.docker.io/v1/')).toBe('docker.io');
    expect(normaliseRegistry('registry-1.docker.io')).toBe('docker.io');
  });

  it('reads auth (split at the first colon) and username/password, under any key form', async () => {
    const credentials = await loadDockerConfig(
      await configFile({
        auths: {
          'https://a.example/v1/': { auth: b64('alice:pa:ss') },
          'http://127.0.0.1:5000': { username: 'bob', password: 'x' },
          'https://index.docker.io/v1/': { auth: b64('carol:y') },
          'empty.example': {},
        },
      }),
    );
    expect(credentials('a.example')).toEqual({ username: 'alice', password: 'pa:ss' });
    expect(credentials('127.0.0.1:5000')).toEqual({ username: 'bob', password: 'x' });
    expect(credentials('docker.io')).toEqual({ username: 'carol', password: 'y' });
    expect(credentials('empty.example')).toBeUndefined();
    expect(credentials('other.example')).toBeUndefined();
  });

  it('refuses helpers and identity tokens when a registry they cover is asked for, naming the file and the key', async () => {
    const file = await configFile({
      auths: { 'plain.example': { auth: b64('u:p') }, 'stored.example': {}, 'oauth.example': { identitytoken: 'secret-refresh' } },
      credsStore: 'desktop',
      credHelpers: { 'ecr.example': 'ecr-login' },
    });
    const credentials = await loadDockerConfig(file);
    expect(credentials('plain.example')).toEqual({ username: 'u', password: 'p' });
    expect(credentials('anonymous.example')).toBeUndefined();
    for (const [registry, key] of [
      ['stored.example', 'credsStore'],
      ['ecr.example', 'credHelpers.ecr.example'],
      ['oauth.example', 'auths.oauth.example.identitytoken'],
    ] as const) {
      let error: unknown;
      try {
        credentials(registry);
      } catch (thrown) {
        error = thrown;
      }
      expect(error).toMatchObject({ code: 'PREBAKE_ERR_INVALID_INPUT', message: expect.stringContaining(`${file} (${key})`) });
      expect((error as Error).message).not.toContain('secret-refresh');
    }
  });

  it('names the file, never its content, when it cannot be used', async () => {
    const broken = await configFile(`{"auths": {"a.example": {"auth": "${b64('u:leaked')}"`);
    await expect(loadDockerConfig(broken)).rejects.toMatchObject({
      code: 'PREBAKE_ERR_INVALID_INPUT',
      message: `the registry credentials file ${broken} is not JSON`,
    });
    const noColon = await configFile({ auths: { 'a.example': { auth: b64('leaked') } } });
    await expect(loadDockerConfig(noColon)).rejects.toMatchObject({
      message: `the registry credentials file ${noColon} has an entry "auths.a.example" whose "auth" is not the base64 of user:password`,
    });
    const missing = path.join(dir, 'missing.json');
    await expect(loadDockerConfig(missing)).rejects.toMatchObject({
      message: `the registry credentials file ${missing} cannot be read (ENOENT)`,
    });
  });

  it("defaults to $DOCKER_CONFIG's config.json, else ~/.docker's", () => {
    expect(defaultDockerConfig({ DOCKER_CONFIG: '/etc/docker-conf' })).toBe('/etc/docker-conf/config.json');
    expect(defaultDockerConfig({})).toBe(path.join(os.homedir(), '.docker', 'config.json'));
  });
});
