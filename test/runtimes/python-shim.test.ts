// What only the Python shim does. The protocol itself, the same for every runtime, is checked in
// shim-conformance.test.ts.
import { execFileSync } from 'node:child_process';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { pythonRuntime } from '../../src/runtimes/python/adapter.ts';
import { bodyJson, ShimLauncher } from './shim-process.ts';

const SEED = 'ab'.repeat(32);

const launcher = new ShimLauncher(pythonRuntime);

afterEach(() => launcher.stopAll());
afterAll(() => launcher.cleanup());

describe('the python shim', () => {
  it('runs a handler in a package ("pkg.sub.nested.handle")', async () => {
    const shim = await launcher.startReady('python-shim', { handler: 'pkg.sub.nested.handle' });
    expect(bodyJson(await shim.invoke({}))).toEqual({ nested: true, module: 'pkg.sub.nested' });
  });

  it('reports a result that is not JSON as ok:false', async () => {
    const shim = await launcher.startReady('python-shim');
    const unserialisable = await shim.invoke({ action: 'unserialisable' });
    expect(unserialisable.header.ok).toBe(false);
    expect((unserialisable.header.error as { type: string }).type).toBe('TypeError');
    const nan = await shim.invoke({ action: 'nan' });
    expect(nan.header.ok).toBe(false);
    expect((nan.header.error as { type: string }).type).toBe('ValueError');
  });

  it("reseeds the random module on resume, mixing fresh entropy with the controller's seed", async () => {
    const shim = await launcher.startReady('python-shim');
    const drawAfter = async (resume: boolean): Promise<number> => {
      await shim.invoke({ action: 'seedRandom', seed: 7 });
      if (resume) {
        shim.send({ type: 'resume', seed: SEED });
        expect((await shim.next()).header.type).toBe('resumed');
      }
      return (bodyJson(await shim.invoke({ action: 'random' })) as { random: number }).random;
    };
    const seeded = await drawAfter(false);
    expect(await drawAfter(false)).toBe(seeded); // the same state draws the same number...
    const firstResume = await drawAfter(true);
    expect(firstResume).not.toBe(seeded); // ...unless a resume reseeds it,
    expect(await drawAfter(true)).not.toBe(firstResume); // with fresh entropy even for the same seed.
  });

  it("writes no bytecode caches into the function's directory", async () => {
    // An empty PYTHONDONTWRITEBYTECODE is "unset": the host's own setting must not be what keeps them out.
    const shim = await launcher.startReady('python-shim', { handler: 'pkg.sub.nested.handle', env: { PYTHONDONTWRITEBYTECODE: '' } });
    expect(bodyJson(await shim.invoke({}))).toMatchObject({ nested: true });
    const { fn } = await launcher.prepare('python-shim');
    const written = await readdir(fn.dir, { recursive: true });
    expect(written.filter((file) => file.includes('__pycache__'))).toEqual([]);
  });
});

describe('the python adapter', () => {
  it('accepts module.function handlers and rejects others', () => {
    for (const good of ['main.handler', 'pkg.mod.fn', '_private._fn']) expect(pythonRuntime.checkHandler(good)).toBeUndefined();
    for (const bad of ['main', 'main.', '.handler', 'main..handler', 'my-module.handler', 'main.handler()', '1main.handler']) {
      expect(pythonRuntime.checkHandler(bad), bad).toBeTypeOf('string');
    }
  });

  it('starts the interpreter itself, not the wrapper script PREBAKE_PYTHON names (as pyenv installs)', async () => {
    const wrapper = path.join(await launcher.tempDir(), 'python3');
    await writeFile(wrapper, '#!/bin/sh\nexec python3 "$@"\n', { mode: 0o755 });
    const interpreter = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
    const { fn } = await launcher.prepare('python-shim');
    const previous = process.env.PREBAKE_PYTHON;
    process.env.PREBAKE_PYTHON = wrapper;
    try {
      const command = pythonRuntime.command(fn, '');
      expect(command.argv[0]).toBe(interpreter);
      expect(command.argv[0]).not.toBe(wrapper);
    } finally {
      if (previous === undefined) delete process.env.PREBAKE_PYTHON;
      else process.env.PREBAKE_PYTHON = previous;
    }
  });

  it('reports the installed version', async () => {
    const interpreter = await pythonRuntime.interpreter();
    expect(interpreter.version).toMatch(/^python 3\.\d+\.\d+/);
    expect(path.isAbsolute(interpreter.path)).toBe(true);
  });
});
