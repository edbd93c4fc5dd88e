// Functions declared by reference, end to end: two versions of a function pushed from one home to a real
// registry on loopback, a real daemon (buildServer, listening) on another home with a config file declaring it.
import { randomBytes } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../src/files/sha256.ts';
import { Host } from '../../src/host/host.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { parseReference } from '../../src/registry/reference.ts';
import { buildServer } from '../../src/server/server.ts';
import { makeSandbox, type Sandbox } from '../helpers.ts';
import { startRegistry, type TestRegistry } from '../registry/registry-server.ts';
import { metricValue } from '../server/harness.ts';

let sandbox: Sandbox;
let registry: TestRegistry;
let configFile: string;
let app: Awaited<ReturnType<typeof buildServer>> | undefined;
let url: string;
const token = randomBytes(32).toString('hex');
const digests: Record<string, string> = {};

const repo = () => `${registry.address}/fleet/versioned`;

// A function whose answer says its version, and that waits when asked (an invocation in flight).
async function writeVersion(dir: string, version: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(
    path.join(dir, 'function.json'),
    JSON.stringify({ name: 'versioned', runtime: 'node', handler: 'index.handler', timeoutMs: 10_000, cloneCheck: false }),
  );
  await writeFile(
    path.join(dir, 'index.js'),
    `exports.handler = async (event) => {
  if (event?.waitMs) await new Promise((resolve) => setTimeout(resolve, event.waitMs));
  return { version: ${version} };
};\n`,
  );
}

async function writeConfig(functions: unknown, extra: Record<string, unknown> = {}): Promise<void> {
  // Replaced by rename, as Kubernetes and Swarm replace theirs.
  const temp = `${configFile}.new`;
  await writeFile(temp, JSON.stringify({ functions, ...extra }));
  await rename(temp, configFile);
}

const request = (route: string, init: RequestInit = {}) =>
  fetch(`${url}${route}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) } });

async function invoke(name: string, event: unknown = {}): Promise<{ status: number; start: string | null; body: { version?: number } }> {
  const response = await request(`/functions/${name}/invoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(event),
  });
  return { status: response.status, start: response.headers.get('x-prebake-start'), body: (await response.json()) as { version?: number } };
}

interface Declared {
  name: string;
  bundle: string;
  digest: string | null;
  status: string;
  error?: { code: string; message: string };
  retryAt?: string;
}

async function listing(): Promise<{
  functions: { name: string; declared?: Declared }[];
  declared: Declared[];
  config: { loadedAt: string; error?: { code: string } };
}> {
  return (await (await request('/functions')).json()) as Awaited<ReturnType<typeof listing>>;
}

async function declaredOf(name: string): Promise<Declared | undefined> {
  return (await listing()).declared.find((d) => d.name === name);
}

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; ; ) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function metrics(): Promise<string> {
  return (await request('/metrics')).text();
}

beforeAll(async () => {
  sandbox = await makeSandbox();
  registry = await startRegistry(sandbox.root);
  // Home A builds and pushes v1 and v2.
  const builder = new Host({ home: sandbox.home, criu: sandbox.criu });
  await builder.open();
  try {
    const dir = path.join(sandbox.root, 'functions', 'versioned');
    for (const version of [1, 2]) {
      await writeVersion(dir, version);
      await builder.register(dir, { replace: true });
      digests[`v${version}`] = (await builder.push('versioned', parseReference(`${repo()}:v${version}`))).digest;
    }
  } finally {
    await builder.shutdown();
  }
  // v1 as if built on another host: its header's kernel differs (the layers, the code among them, are v1's).
  const client = new RegistryClient(parseReference(`${repo()}:v1`));
  const manifest = await client.getManifest();
  const header = JSON.parse((await buffer(await client.getBlob(manifest.config.digest))).toString());
  header.fingerprint.kernel = '1.0.0-elsewhere';
  const configBytes = Buffer.from(JSON.stringify(header));
  const configDigest = `sha256:${sha256(configBytes)}`;
  await client.uploadBlob(configDigest, configBytes.length, Readable.from([configBytes]));
  await new RegistryClient(parseReference(`${repo()}:elsewhere`)).putManifest({
    ...manifest,
    config: { ...manifest.config, digest: configDigest, size: configBytes.length },
  });

  configFile = path.join(sandbox.root, 'config', 'prebake.json');
  await mkdir(path.dirname(configFile), { recursive: true });
  await writeConfig([{ name: 'greet', bundle: `${repo()}:v1` }]);
  app = await buildServer({
    home: path.join(sandbox.root, 'home-b'),
    criu: sandbox.criu,
    config: JSON.parse(await (await import('node:fs/promises')).readFile(configFile, 'utf8')),
    auth: { token },
    reload: { file: configFile, backoff: { firstMs: 200, maxMs: 1_000 }, debounceMs: 50 },
  });
  url = await app.listen({ port: 0, host: '127.0.0.1' });
  await app.declared.idle();
});

afterAll(async () => {
  try {
    await app?.close();
    await registry?.stop();
    await sandbox.expectClean();
  } finally {
    await sandbox.cleanup();
  }
});

describe('functions declared by reference', () => {
  it('pulls the declared bundle at start and serves it prebaked, saying which digest runs', async () => {
    const answer = await invoke('greet');
    expect(answer).toMatchObject({ status: 200, start: 'prebaked', body: { version: 1 } });
    const described = (await (await request('/functions/greet')).json()) as { declared: Declared };
    expect(described.declared).toMatchObject({ bundle: `${repo()}:v1`, digest: digests.v1, status: 'current' });
    expect(metricValue(await metrics(), 'prebake_declared_functions{status="current"}')).toBe(1);
  });

  it('rolls to the new version when the config file changes, without a failed request', async () => {
    const answers: { status: number; version?: number }[] = [];
    let rolling = true;
    const loop = (async () => {
      while (rolling) {
        const { status, body } = await invoke('greet');
        answers.push({ status, version: body.version });
      }
    })();
    try {
      await writeConfig([{ name: 'greet', bundle: `${repo()}:v2` }]);
      await until('digest v2', async () => ((await declaredOf('greet'))?.digest === digests.v2 ? true : undefined));
      await until('a v2 answer', async () => (answers.at(-1)?.version === 2 ? true : undefined));
    } finally {
      rolling = false;
      await loop;
    }
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    const versions = answers.map((a) => a.version!);
    expect(versions).toEqual([...versions].sort());
    // The first request went out before the config changed; a pull takes seconds, not the debounce's 50 ms.
    expect(versions[0]).toBe(1);
    expect(await declaredOf('greet')).toMatchObject({ status: 'current', digest: digests.v2 });
  });

  it('pulls nothing again on SIGHUP when nothing changed', async () => {
    const pulls = () => metrics().then((text) => metricValue(text, 'prebake_declared_reconciles_total{function="greet",outcome="ok"}'));
    const before = await pulls();
    expect(before).toBe(2);
    const { loadedAt } = (await listing()).config;
    app!.declared.reloadOn('SIGHUP');
    process.kill(process.pid, 'SIGHUP');
    await until('the reload', async () => ((await listing()).config.loadedAt !== loadedAt ? true : undefined));
    await app!.declared.idle();
    expect(await pulls()).toBe(before);
    expect((await invoke('greet')).body.version).toBe(2);
  });

  it('keeps the previous version serving when a tag is missing, and reports it on the function', async () => {
    await writeConfig([
      { name: 'greet', bundle: `${repo()}:v9` },
      { name: 'ghost', bundle: `${repo()}:v9` },
    ]);
    const failed = await until('the failure', async () => {
      const declared = await declaredOf('greet');
      return declared?.status === 'failed' ? declared : undefined;
    });
    expect(failed).toMatchObject({ bundle: `${repo()}:v9`, digest: digests.v2, error: { code: 'PREBAKE_ERR_REGISTRY' } });
    expect(failed.retryAt).toBeDefined();
    expect(await invoke('greet')).toMatchObject({ status: 200, start: 'prebaked', body: { version: 2 } });
    await until('the ghost to fail', async () => ((await declaredOf('ghost'))?.status === 'failed' ? true : undefined));
    expect(metricValue(await metrics(), 'prebake_declared_functions{status="failed"}')).toBe(2);
    // Declared, never brought in: absent, and the answer says why.
    const absent = await request('/functions/ghost');
    expect(absent.status).toBe(404);
    expect(((await absent.json()) as { error: { message: string } }).error.message).toMatch(/declared but not here: .*v9/);
    expect(metricValue(await metrics(), 'prebake_declared_reconciles_total{function="greet",outcome="failed"}')).toBeGreaterThan(0);
  });

  it('keeps the config in force when the new one is invalid', async () => {
    await writeConfig([{ name: 'greet', bundle: 'not a reference' }]);
    const refused = await until('the refusal', async () => (await listing()).config.error);
    expect(refused.code).toBe('PREBAKE_ERR_INVALID_INPUT');
    expect(metricValue(await metrics(), 'prebake_config_reloads_total{outcome="refused"}')).toBeGreaterThan(0);
    expect((await declaredOf('greet'))?.bundle).toBe(`${repo()}:v9`);
    expect((await invoke('greet')).body.version).toBe(2);
  });

  it('does not take a name registered otherwise, and answers plainly from a bundle of another host until rebuilt here', async () => {
    // Pulled over the API: not the reconciler's.
    await app!.host.pull(parseReference(`${repo()}:v1`), { name: 'mine' });
    await writeConfig([
      { name: 'greet', bundle: `${repo()}:v2` },
      { name: 'mine', bundle: `${repo()}:v2` },
      { name: 'moved', bundle: `${repo()}:elsewhere` },
    ]);
    const taken = await until('the refusal', async () => {
      const declared = await declaredOf('mine');
      return declared?.status === 'failed' ? declared : undefined;
    });
    expect(taken.error?.code).toBe('PREBAKE_ERR_NAME_TAKEN');
    expect((await invoke('mine')).body.version).toBe(1);

    const plain = await until('the import', async () => {
      const declared = await declaredOf('moved');
      return declared?.status === 'rebuilding' ? declared : undefined;
    });
    expect(plain.digest).not.toBe(digests.v1);
    expect(await invoke('moved')).toMatchObject({ status: 200, start: 'cold', body: { version: 1 } });
    await app!.declared.idle();
    expect(await declaredOf('moved')).toMatchObject({ status: 'current' });
    expect(await invoke('moved')).toMatchObject({ status: 200, start: 'prebaked', body: { version: 1 } });
    expect(metricValue(await metrics(), 'prebake_declared_rebuilds_total{function="moved",outcome="ok"}')).toBe(1);
  });

  it('removes a function that left the list once its invocation in flight has answered', async () => {
    const inFlight = invoke('greet', { waitMs: 1_500 });
    await until('the invocation in flight', async () => (app!.host.inFlightCount('greet') > 0 ? true : undefined));
    await writeConfig([{ name: 'moved', bundle: `${repo()}:elsewhere` }]);
    await until('the removal to begin', async () => ((await declaredOf('greet'))?.status === 'removing' ? true : undefined));
    expect((await invoke('greet')).status).toBe(404);
    expect(await inFlight).toMatchObject({ status: 200, body: { version: 2 } });
    await app!.declared.idle();
    expect((await request('/functions/greet')).status).toBe(404);
    expect(await declaredOf('greet')).toBeUndefined();
    // Registered over the API, never declared: left alone.
    expect((await invoke('mine')).body.version).toBe(1);
  });

  it('pulls nothing again when a daemon restarts on the same home with the same config', async () => {
    await app!.close();
    app = await buildServer({
      home: path.join(sandbox.root, 'home-b'),
      criu: sandbox.criu,
      config: { functions: [{ name: 'moved', bundle: `${repo()}:elsewhere` }] },
      auth: { token },
      reload: { file: configFile, backoff: { firstMs: 200, maxMs: 1_000 }, debounceMs: 50 },
    });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
    await app.declared.idle();
    expect(await declaredOf('moved')).toMatchObject({ status: 'current' });
    expect(metricValue(await metrics(), 'prebake_declared_reconciles_total{function="moved",outcome="ok"}')).toBe(0);
    expect(await invoke('moved')).toMatchObject({ status: 200, start: 'prebaked', body: { version: 1 } });
  });

  it('keeps serving when the registry is gone, reporting it per function', async () => {
    await registry.stop();
    await writeConfig([{ name: 'moved', bundle: `${repo()}:v2` }]);
    const failed = await until('the failure', async () => {
      const declared = await declaredOf('moved');
      return declared?.status === 'failed' ? declared : undefined;
    });
    expect(failed.error?.code).toBe('PREBAKE_ERR_REGISTRY');
    expect(await invoke('moved')).toMatchObject({ status: 200, start: 'prebaked', body: { version: 1 } });
  });
});
