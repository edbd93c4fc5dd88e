// Node's startup snapshot as a bench mode: a CommonJS function with its own modules, a package from
// node_modules (main and exports), JSON and built-ins gets into the snapshot (bundled by esbuild), and a start from the blob
// serves invocations without running the init again.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildNodeSnapshot,
  type NodeSnapshot,
  nodeSnapshotUnsupported,
  startFromNodeSnapshot,
} from '../../src/bench/node-snapshot/snapshot.ts';
import { resolveFunction } from '../../src/invoke/resolve.ts';
import { loadFunction } from '../../src/manifest/load.ts';
import type { FunctionSpec } from '../../src/manifest/schema.ts';
import { makeSandbox, type Sandbox, settled } from '../helpers.ts';

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await makeSandbox();
});

afterAll(async () => {
  try {
    expect(await settled(() => sandbox.processes())).toEqual([]);
  } finally {
    await sandbox.cleanup();
  }
});

async function writeFunction(name: string, files: Record<string, string>): Promise<string> {
  const dir = path.join(sandbox.root, 'functions', name);
  for (const [file, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), content);
  }
  return dir;
}

/** Starts `runs` instances from `snapshot`, one after another, and returns what each answered to `event`. */
async function answersFromSnapshot(
  spec: FunctionSpec,
  preparedDir: string,
  snapshot: NodeSnapshot,
  event: string,
  runs = 2,
): Promise<Record<string, unknown>[]> {
  const results = [];
  for (let i = 0; i < runs; i++) {
    const started = await startFromNodeSnapshot(spec, preparedDir, snapshot, sandbox.store, sandbox.instances);
    try {
      const { body } = await started.instance.invoke(event, { requestId: `r${i}`, timeoutMs: 5_000 });
      results.push(JSON.parse(body.toString('utf8')) as Record<string, unknown>);
    } finally {
      await started.instance.end();
      await started.cleanup();
    }
  }
  return results;
}

describe('node-snapshot', () => {
  it('snapshots a CommonJS function with its dependencies and starts it without running its init again', async () => {
    const dir = await writeFunction('snap-deps', {
      'function.json': JSON.stringify({ runtime: 'node', handler: 'index.handler', warmup: { invocations: 1, event: { n: 2 } } }),
      'package.json': '{ "type": "commonjs" }',
      'index.js': [
        "const os = require('node:os');",
        "const helper = require('./lib');",
        "const data = require('./data.json');",
        "const dep = require('dep');",
        "const sub = require('@scope/pkg/sub');",
        'const initId = Math.random();',
        'let calls = 0;',
        'exports.handler = async (event) => {',
        '  calls += 1;',
        '  return { initId, fresh: Math.random(), calls, sum: helper.add(event.n, data.base), dep: dep.name, sub: sub.name, cpus: os.cpus().length > 0 };',
        '};',
      ].join('\n'),
      'lib/index.js': 'exports.add = (a, b) => a + b;',
      'data.json': '{ "base": 40 }',
      'node_modules/dep/package.json': '{ "name": "dep", "main": "./main.js" }',
      'node_modules/dep/main.js': "exports.name = 'dep';",
      'node_modules/@scope/pkg/package.json':
        '{ "name": "@scope/pkg", "exports": { ".": "./index.js", "./sub": { "require": "./sub.cjs", "import": "./sub.mjs" } } }',
      'node_modules/@scope/pkg/sub.cjs': "exports.name = 'sub (cjs)';",
    });
    const spec = await loadFunction(dir);
    expect(nodeSnapshotUnsupported(spec)).toBeUndefined();
    const plain = await resolveFunction(dir, sandbox.store, 'cold');
    const work = await mkdtemp(path.join(sandbox.root, 'blobs-'));
    try {
      const snapshot = await buildNodeSnapshot(spec, plain.preparedDir, work, spec.warmup.invocations);
      expect(snapshot.bytes).toBeGreaterThan(100_000);
      const results = await answersFromSnapshot(spec, plain.preparedDir, snapshot, '{"n":1}');
      expect(results[0]).toMatchObject({ calls: 2, sum: 41, dep: 'dep', sub: 'sub (cjs)', cpus: true });
      // Both starts came from the one heap: the init ran once, at build time.
      expect(results[1]!.initId).toBe(results[0]!.initId);
      expect(results[1]!.calls).toBe(2);
      // Node reseeds Math.random when it deserialises a snapshot: values drawn after the start differ.
      expect(results[1]!.fresh).not.toBe(results[0]!.fresh);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it('snapshots an ES module function, bundled into one script', async () => {
    const dir = await writeFunction('snap-esm', {
      'function.json': JSON.stringify({ runtime: 'node', handler: 'index.handler' }),
      'index.mjs': [
        "import { add } from './lib.mjs';",
        "import { name } from '@scope/pkg/sub';",
        'const initId = Math.random();',
        'export const handler = async (event) => ({ initId, sum: add(event.n, 1), sub: name });',
      ].join('\n'),
      'lib.mjs': 'export const add = (a, b) => a + b;',
      'node_modules/@scope/pkg/package.json':
        '{ "name": "@scope/pkg", "exports": { "./sub": { "require": "./sub.cjs", "import": "./sub.mjs" } } }',
      'node_modules/@scope/pkg/sub.mjs': "export const name = 'sub (esm)';",
      'node_modules/@scope/pkg/sub.cjs': "exports.name = 'sub (cjs)';",
    });
    const spec = await loadFunction(dir);
    expect(nodeSnapshotUnsupported(spec)).toBeUndefined();
    const plain = await resolveFunction(dir, sandbox.store, 'cold');
    const work = await mkdtemp(path.join(sandbox.root, 'blobs-'));
    try {
      const snapshot = await buildNodeSnapshot(spec, plain.preparedDir, work, 0);
      const results = await answersFromSnapshot(spec, plain.preparedDir, snapshot, '{"n":2}');
      for (const result of results) expect(result).toMatchObject({ sum: 3, sub: 'sub (esm)' });
      // The init ran once, when the snapshot was built.
      expect(results[1]!.initId).toBe(results[0]!.initId);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it('says why it cannot hold top-level await or another runtime', async () => {
    const dir = await writeFunction('snap-tla', {
      'function.json': JSON.stringify({ runtime: 'node', handler: 'index.handler' }),
      'index.mjs': 'const config = await Promise.resolve(1);\nexport const handler = async () => config;',
    });
    const spec = await loadFunction(dir);
    const plain = await resolveFunction(dir, sandbox.store, 'cold');
    const work = await mkdtemp(path.join(sandbox.root, 'blobs-'));
    try {
      await expect(buildNodeSnapshot(spec, plain.preparedDir, work, 0)).rejects.toMatchObject({
        code: 'PREBAKE_ERR_INVALID_INPUT',
        message: expect.stringMatching(/snap-tla.*[Tt]op-level await.*index\.mjs:1/),
      });
    } finally {
      await rm(work, { recursive: true, force: true });
    }
    const python = await sandbox.addFunction('hello-python', 'bundled');
    expect(nodeSnapshotUnsupported(await loadFunction(python))).toMatch(/python function/);
  });

  it('reports a function whose init fails in the snapshot builder, and one that imports what is not there', async () => {
    const broken = await writeFunction('snap-broken', {
      'function.json': JSON.stringify({ runtime: 'node', handler: 'index.handler' }),
      'index.js': "throw new RangeError('no config'); exports.handler = async () => 1;",
    });
    const missing = await writeFunction('snap-missing', {
      'function.json': JSON.stringify({ runtime: 'node', handler: 'index.handler' }),
      'index.js': "require('no-such-package'); exports.handler = async () => 1;",
    });
    const work = await mkdtemp(path.join(sandbox.root, 'blobs-'));
    try {
      const brokenSpec = await loadFunction(broken);
      await expect(
        buildNodeSnapshot(brokenSpec, (await resolveFunction(broken, sandbox.store, 'cold')).preparedDir, work, 0),
      ).rejects.toMatchObject({
        code: 'PREBAKE_ERR_INIT_FAILED',
        message: expect.stringContaining('RangeError: no config'),
      });
      const missingSpec = await loadFunction(missing);
      await expect(
        buildNodeSnapshot(missingSpec, (await resolveFunction(missing, sandbox.store, 'cold')).preparedDir, work, 0),
      ).rejects.toMatchObject({
        code: 'PREBAKE_ERR_INVALID_INPUT',
        message: expect.stringContaining('Could not resolve "no-such-package"'),
      });
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
