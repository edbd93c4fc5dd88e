import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sourceDigest, sourceFingerprint } from '../../src/manifest/digest.ts';
import { loadFunction } from '../../src/manifest/load.ts';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'prebake-manifest-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function fnDir(name: string, manifest: unknown | string): Promise<string> {
  const dir = path.join(root, name);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'function.json'), typeof manifest === 'string' ? manifest : JSON.stringify(manifest));
  return dir;
}

async function manifestError(dir: string): Promise<string> {
  try {
    await loadFunction(dir);
  } catch (error) {
    expect((error as { code: string }).code).toBe('PREBAKE_ERR_MANIFEST');
    return (error as Error).message;
  }
  throw new Error('expected the manifest to be refused');
}

describe('loadFunction', () => {
  it('fills in the defaults and takes the name from the directory', async () => {
    const spec = await loadFunction(await fnDir('plain-fn', { runtime: 'node', handler: 'index.handler' }));
    expect(spec).toMatchObject({
      name: 'plain-fn',
      runtime: 'node',
      handler: 'index.handler',
      warmup: { invocations: 0, event: {} },
      timeoutMs: 30_000,
      memoryMb: 256,
      maxProcesses: 1024,
      env: {},
      tmpMb: 512,
      network: 'outbound',
    });
    expect(spec.cpus).toBeUndefined();
    expect(path.isAbsolute(spec.dir)).toBe(true);
  });

  it('keeps what the manifest says', async () => {
    const spec = await loadFunction(
      await fnDir('full', {
        name: 'custom-name',
        runtime: 'node',
        handler: 'lib/app.main',
        warmup: { invocations: 3, event: { a: 1 } },
        timeoutMs: 1234,
        memoryMb: 512,
        maxProcesses: 64,
        cpus: 0.5,
        env: { STAGE: 'test' },
        startMode: 'pooled',
        pool: { size: 3, maxIdleSeconds: 60, hooks: 'assign' },
      }),
    );
    expect(spec).toMatchObject({
      name: 'custom-name',
      handler: 'lib/app.main',
      warmup: { invocations: 3, event: { a: 1 } },
      timeoutMs: 1234,
      memoryMb: 512,
      maxProcesses: 64,
      cpus: 0.5,
      env: { STAGE: 'test' },
    });
    expect(spec).toMatchObject({ startMode: 'pooled', pool: { size: 3, maxIdleSeconds: 60, hooks: 'assign' } });
  });

  it('keeps an automatic pool size and its bounds', async () => {
    const pool = { size: 'auto', minSize: 0, maxSize: 12, burst: 3 };
    expect((await loadFunction(await fnDir('auto-pool', { runtime: 'node', handler: 'x.y', startMode: 'pooled', pool }))).pool).toEqual(
      pool,
    );
  });

  it('names the field that is wrong', async () => {
    expect(await manifestError(await fnDir('bad-runtime', { runtime: 'ruby', handler: 'x.y' }))).toMatch(/field "runtime"/);
    expect(await manifestError(await fnDir('bad-timeout', { runtime: 'node', handler: 'x.y', timeoutMs: -5 }))).toMatch(
      /field "timeoutMs"/,
    );
    expect(await manifestError(await fnDir('bad-warmup', { runtime: 'node', handler: 'x.y', warmup: { invocations: 'two' } }))).toMatch(
      /field "warmup\.invocations"/,
    );
    expect(await manifestError(await fnDir('bad-processes', { runtime: 'node', handler: 'x.y', maxProcesses: 2 }))).toMatch(
      /field "maxProcesses"/,
    );
    expect(await manifestError(await fnDir('bad-cpus', { runtime: 'node', handler: 'x.y', cpus: 0 }))).toMatch(/field "cpus"/);
    expect(await manifestError(await fnDir('bad-pool', { runtime: 'node', handler: 'x.y', pool: { hooks: 'sometimes' } }))).toMatch(
      /field "pool\.hooks"/,
    );
    expect(await manifestError(await fnDir('big-pool', { runtime: 'node', handler: 'x.y', pool: { size: 1000 } }))).toMatch(
      /field "pool\.size"/,
    );
    expect(await manifestError(await fnDir('vague-pool', { runtime: 'node', handler: 'x.y', pool: { size: 'many' } }))).toMatch(
      /field "pool\.size"/,
    );
    expect(await manifestError(await fnDir('big-burst', { runtime: 'node', handler: 'x.y', pool: { size: 'auto', burst: 65 } }))).toMatch(
      /field "pool\.burst"/,
    );
    expect(
      await manifestError(await fnDir('crossed-pool', { runtime: 'node', handler: 'x.y', pool: { size: 'auto', minSize: 4, maxSize: 2 } })),
    ).toMatch(/field "pool\.minSize": 4 is over pool\.maxSize \(2\)/);
    expect(await manifestError(await fnDir('extra', { runtime: 'node', handler: 'x.y', colour: 'blue' }))).toMatch(/colour|additional/i);
    expect(await manifestError(await fnDir('no-handler', { runtime: 'node' }))).toMatch(/handler/);
    expect(await manifestError(await fnDir('bad-handler', { runtime: 'node', handler: 'nodot' }))).toMatch(/field "handler"/);
    expect(await manifestError(await fnDir('fork-node', { runtime: 'node', handler: 'x.y', startMode: 'fork' }))).toMatch(
      /field "startMode": "fork" is for Python/,
    );
    expect(await manifestError(await fnDir('Bad Name', { runtime: 'node', handler: 'x.y' }))).toMatch(/name/);
  });

  it("refuses a name that would collide with the store's own files (<name>.lock)", async () => {
    expect(await manifestError(await fnDir('named-lock', { name: 'hello-python.lock', runtime: 'node', handler: 'x.y' }))).toMatch(
      /field "name"/,
    );
    expect(await manifestError(await fnDir('dir-named.lock', { runtime: 'node', handler: 'x.y' }))).toMatch(/"dir-named\.lock".*\.lock/);
    // ".lock" inside a name is fine; only the suffix is the store's.
    expect((await loadFunction(await fnDir('x.locksmith', { runtime: 'node', handler: 'x.y' }))).name).toBe('x.locksmith');
  });

  it('refuses a warm-up event nested too deep to send, naming the field (it was a 500)', async () => {
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    const text = `{"runtime":"node","handler":"x.y","warmup":{"invocations":1,"event":${deep}}}`;
    expect(await manifestError(await fnDir('deep-warmup', text))).toMatch(/field "warmup\.event": nested deeper than 256/);
    const atLimit = JSON.parse(`${'['.repeat(256)}${']'.repeat(256)}`) as unknown;
    const spec = await loadFunction(
      await fnDir('deep-enough', { runtime: 'node', handler: 'x.y', warmup: { invocations: 1, event: atLimit } }),
    );
    expect(spec.warmup.event).toEqual(atLimit);
  });

  it('says when function.json is not JSON or missing', async () => {
    expect(await manifestError(await fnDir('not-json', '{ "runtime": '))).toMatch(/not valid JSON/);
    const empty = path.join(root, 'empty');
    await mkdir(empty);
    expect(await manifestError(empty)).toMatch(/function\.json/);
    expect(await manifestError(path.join(root, 'does-not-exist'))).toMatch(/not a directory/);
  });
});

describe('source digest', () => {
  it('changes with content, not with a touch', async () => {
    const dir = await fnDir('digest', { runtime: 'node', handler: 'index.handler' });
    await writeFile(path.join(dir, 'index.js'), 'exports.handler = () => 1;');
    const before = await sourceDigest(dir);
    const fingerprint = await sourceFingerprint(dir);
    await writeFile(path.join(dir, 'index.js'), 'exports.handler = () => 1;');
    expect(await sourceDigest(dir)).toBe(before);
    await writeFile(path.join(dir, 'index.js'), 'exports.handler = () => 2;');
    expect(await sourceDigest(dir)).not.toBe(before);
    expect(await sourceFingerprint(dir)).not.toBe(fingerprint);
  });
});

describe('source digest of hostile trees', () => {
  it('hashes a symbolic link by its target, never following it into a device or a loop', async () => {
    const { symlink } = await import('node:fs/promises');
    const dir = await fnDir('links', { runtime: 'node', handler: 'index.handler' });
    await symlink('/dev/zero', path.join(dir, 'endless'));
    await symlink('.', path.join(dir, 'loop'));
    await symlink('/nonexistent', path.join(dir, 'dangling'));
    const digest = await sourceDigest(dir);
    expect(digest).toMatch(/^sha256:/);
    expect(await sourceFingerprint(dir)).toMatch(/^[0-9a-f]{64}$/);
    await rm(path.join(dir, 'dangling'));
    await symlink('/elsewhere', path.join(dir, 'dangling'));
    expect(await sourceDigest(dir)).not.toBe(digest);
  });
});
