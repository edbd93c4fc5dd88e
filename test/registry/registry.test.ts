// prebake push and pull through a real OCI registry on 127.0.0.1: a function built in one home restores in
// another; an unchanged image uploads nothing again; a tampered blob is caught by the bundle's checksums.
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageStore } from '../../src/store/store.ts';
import { homeLeftovers } from '../bundle/bundle-tools.ts';
import { makeSandbox, ROOT, type Sandbox } from '../helpers.ts';
import { startRegistry, type TestRegistry } from './registry-server.ts';

let sandbox: Sandbox;
let registry: TestRegistry;
let homeB: string;
let dir: string;
let ref: string;
const prebake = (home: string, ...args: string[]) => execa(path.join(ROOT, 'bin', 'prebake'), ['--home', home, ...args], { reject: false });

/** The blobs the registry holds, by digest. */
async function registryBlobs(): Promise<string[]> {
  const root = path.join(registry.storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256');
  const found: string[] = [];
  for (const prefix of await readdir(root).catch(() => [])) found.push(...(await readdir(path.join(root, prefix))));
  return found.sort();
}

beforeAll(async () => {
  sandbox = await makeSandbox();
  homeB = path.join(sandbox.root, 'home-b');
  registry = await startRegistry(sandbox.root);
  ref = `${registry.address}/functions/hello-node:v1`;
  dir = await sandbox.addFunction('hello-node', 'bundled');
  const build = await prebake(sandbox.home, 'build', dir);
  expect(build.exitCode, build.stderr).toBe(0);
});

afterAll(async () => {
  try {
    await registry?.stop();
  } finally {
    await sandbox.finish();
  }
});

describe('prebake push and pull', () => {
  it('pushes a function and pulls it into another home, where it restores and answers', async () => {
    const push = await prebake(sandbox.home, 'push', 'hello-node', ref);
    expect(push.exitCode, push.stderr).toBe(0);
    expect(push.stdout).toMatch(/^pushed hello-node to .* \(sha256:[0-9a-f]{64}\): \d+ blob\(s\) uploaded/);
    // Only blobs the bundle holds twice are already there on a first push: every directory's layer is the
    // same empty blob (the code travels once, in entry/code).
    const [, firstUploaded, firstPresent] = /: (\d+) blob\(s\) uploaded .*, (\d+) already there/.exec(push.stdout)!.map(Number);
    expect(firstUploaded).toBeGreaterThan(firstPresent!);

    const pull = await prebake(homeB, 'pull', ref);
    expect(pull.exitCode, pull.stderr).toBe(0);
    expect(pull.stdout).toMatch(/^imported hello-node \(node, build /);
    const { meta, imageDir } = (await sandbox.store.get('hello-node'))!;
    const pulled = (await new ImageStore(homeB).get('hello-node'))!;
    expect(pulled.meta.buildId).toBe(meta.buildId);
    expect((await stat(pulled.imageDir)).mode & 0o777).toBe((await stat(imageDir)).mode & 0o777);
    const invoke = await prebake(homeB, 'invoke', 'hello-node', '-d', '{"name":"registry"}', '--timing');
    expect(invoke.exitCode, invoke.stderr).toBe(0);
    expect(JSON.parse(invoke.stdout)).toMatchObject({ message: 'Hello, registry!' });
    expect(invoke.stderr).toMatch(/start: prebaked/);

    // The same snapshot under a name of this host's choosing.
    const renamed = await prebake(homeB, 'pull', ref, '--name', 'hello-fleet');
    expect(renamed.exitCode, renamed.stderr).toBe(0);
    expect(renamed.stdout).toMatch(/^imported hello-fleet \(node, build /);
    const fleet = await prebake(homeB, 'invoke', 'hello-fleet', '-d', '{"name":"fleet"}', '--timing');
    expect(fleet.exitCode, fleet.stderr).toBe(0);
    expect(JSON.parse(fleet.stdout)).toMatchObject({ message: 'Hello, fleet!' });
    expect(fleet.stderr).toMatch(/start: prebaked/);
  });

  it('uploads nothing again for an unchanged image, and only what changed after a rebuild', async () => {
    const before = await registryBlobs();
    const again = await prebake(sandbox.home, 'push', 'hello-node', ref);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toContain(': 0 blob(s) uploaded');
    expect(await registryBlobs()).toEqual(before);

    expect((await prebake(sandbox.home, 'build', dir)).exitCode).toBe(0);
    const rebuilt = await prebake(sandbox.home, 'push', 'hello-node', `${registry.address}/functions/hello-node:v2`);
    expect(rebuilt.exitCode, rebuilt.stderr).toBe(0);
    const [, uploaded, present] = /: (\d+) blob\(s\) uploaded .*, (\d+) already there/.exec(rebuilt.stdout)!.map(Number);
    expect(uploaded).toBeGreaterThan(0);
    // The function's code and the image files a rebuild writes alike are shared with v1.
    expect(present).toBeGreaterThan(0);
    // The registry keeps each manifest as a blob too: v2's is new.
    expect((await registryBlobs()).length).toBe(before.length + uploaded! + 1);
  });

  it('refuses a pulled blob the registry altered, and keeps nothing of it', async () => {
    await rm(homeB, { recursive: true, force: true });
    const manifest = (await (
      await fetch(`http://${registry.address}/v2/functions/hello-node/manifests/v1`, {
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      })
    ).json()) as { layers: { digest: string; annotations: Record<string, string> }[] };
    const layer = manifest.layers.find((l) => l.annotations['org.opencontainers.image.title'] === 'entry/meta.json')!;
    const hex = layer.digest.replace('sha256:', '');
    const blob = path.join(registry.storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
    const original = await readFile(blob, 'utf8');
    await writeFile(blob, original.replace('"hello-node"', '"hello-nodf"'));
    try {
      const pull = await prebake(homeB, 'pull', ref);
      expect(pull.stderr).toContain('[PREBAKE_ERR_BUNDLE_CORRUPT]');
      expect(pull.stderr).toContain('entry/meta.json does not match its sha256');
      expect(await homeLeftovers(homeB)).toEqual([]);
    } finally {
      await writeFile(blob, original);
    }
  });

  it('says what the registry answered for a missing tag, and refuses a malformed reference', async () => {
    const missing = await prebake(homeB, 'pull', `${registry.address}/functions/hello-node:nope`);
    expect(missing.stderr).toMatch(/answered GET manifest nope with 404: MANIFEST_UNKNOWN.*\[PREBAKE_ERR_REGISTRY\]/);
    const malformed = await prebake(sandbox.home, 'push', 'hello-node', 'no-registry:tag');
    expect(malformed.stderr).toContain('[PREBAKE_ERR_INVALID_INPUT]');
    expect(await homeLeftovers(homeB)).toEqual([]);
  });
});
