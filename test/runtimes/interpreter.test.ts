// The interpreter is part of the function: named in function.json (else the runtime's default), resolved and
// recorded by the build, and run by every later start of that build whatever the environment says then.
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildFunction } from '../../src/bake/build.ts';
import { invokeFunction } from '../../src/invoke/invoke.ts';
import { loadFunction } from '../../src/manifest/load.ts';
import { assertMinimumVersion } from '../../src/runtimes/interpreter.ts';
import { makeSandbox, ROOT, runPrebake, type Sandbox } from '../helpers.ts';

let sandbox: Sandbox;
let python: string;
let realPython: string;
const savedPython = process.env.PREBAKE_PYTHON;

// A python of its own name: sys.executable keeps the name it was started by, so the answers say which ran.
beforeAll(async () => {
  sandbox = await makeSandbox();
  await mkdir(path.join(sandbox.root, 'bin'));
  python = path.join(sandbox.root, 'bin', 'python-of-the-function');
  // python3 on PATH may be a wrapper script (pyenv): link the interpreter itself.
  const real = execFileSync('python3', ['-c', 'import os, sys; print(os.path.realpath(sys.executable))'], { encoding: 'utf8' }).trim();
  await symlink(real, python);
  realPython = real;
});

afterEach(() => {
  if (savedPython === undefined) delete process.env.PREBAKE_PYTHON;
  else process.env.PREBAKE_PYTHON = savedPython;
});

afterAll(() => sandbox.finish());

async function addWithInterpreter(fixture: string, interpreter: string): Promise<string> {
  const dir = await sandbox.addFunction(fixture);
  const manifestFile = path.join(dir, 'function.json');
  const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as Record<string, unknown>;
  await writeFile(manifestFile, JSON.stringify({ ...manifest, interpreter }));
  return dir;
}

const invoke = async (target: string, mode?: 'cold' | 'prebaked') =>
  JSON.parse((await invokeFunction({ target, event: '{}', mode }, sandbox.store, sandbox.criu, sandbox.instances)).result) as {
    executable: string;
  };

describe('the interpreter of a function', () => {
  it('is the one function.json names, recorded by the build and run by every start whatever PREBAKE_PYTHON says', async () => {
    const dir = await addWithInterpreter('python-interpreter', python);
    process.env.PREBAKE_PYTHON = '/nonexistent/python3';
    const built = await buildFunction(await loadFunction(dir), { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances });
    expect(built.meta.interpreter.path).toBe(python);
    expect(built.meta.interpreter.version).toMatch(/^python 3\.\d+\.\d+/);
    expect(built.meta.runtimeVersion).toBe(built.meta.interpreter.version);
    // Instances run the installation the link leads to (its prefix is what the sandbox binds into the view).
    for (const mode of ['prebaked', 'cold'] as const) expect((await invoke('python-interpreter', mode)).executable).toBe(realPython);
    // The CLI, in an environment of its own: prebaked and plain starts of the name still run the recorded one.
    for (const mode of ['prebaked', 'cold']) {
      const cli = await execa(path.join(ROOT, 'bin', 'prebake'), ['--home', sandbox.home, 'invoke', 'python-interpreter', '--mode', mode], {
        env: { PREBAKE_PYTHON: '/nonexistent/python3' },
        reject: false,
      });
      expect(cli.exitCode, cli.stderr).toBe(0);
      expect(JSON.parse(cli.stdout).executable).toBe(realPython);
    }
    const ls = await runPrebake(['--home', sandbox.home, 'ls']);
    expect(ls.stdout).toContain(`${python} (${built.meta.interpreter.version})`);
  });

  it('is the default (PREBAKE_PYTHON) when function.json names none, resolved to a path', async () => {
    process.env.PREBAKE_PYTHON = python;
    const built = await sandbox.build('python-interpreter');
    expect(built.meta.interpreter.path).toBe(python);
    delete process.env.PREBAKE_PYTHON;
    expect((await invoke('python-interpreter', 'cold')).executable).toBe(realPython);
  });

  it('is named in an init failure, with how to choose another', async () => {
    const dir = await addWithInterpreter('python-missing-module', python);
    const failed = buildFunction(await loadFunction(dir), { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances });
    await expect(failed).rejects.toMatchObject({ code: 'PREBAKE_ERR_INIT_FAILED', functionError: { type: 'ModuleNotFoundError' } });
    const error = (await failed.then(
      () => undefined,
      (e: unknown) => e,
    )) as Error & { hint?: string };
    expect(error.message).toContain(`(interpreter: ${python})`);
    expect(error.hint).toContain('"interpreter" in function.json');
    const plain = invokeFunction({ target: dir, event: '{}', mode: 'cold' }, sandbox.store, sandbox.criu, sandbox.instances);
    await expect(plain).rejects.toThrow(`(interpreter: ${python})`);
    // The failed build left no directory behind.
    expect(await readdir(path.join(sandbox.home, 'functions', 'python-missing-module', 'builds'))).toEqual([]);
  });

  it('that exits during init leaves the end of its stderr in the error, without --logs', async () => {
    const failed = sandbox.build('init-exits-python');
    await expect(failed).rejects.toMatchObject({ code: 'PREBAKE_ERR_INIT_FAILED' });
    const error = (await failed.then(
      () => undefined,
      (e: unknown) => e,
    )) as Error & { details?: { stderr?: string } };
    expect(error.message).toContain('the runtime exited during init (exit code 3)');
    expect(error.message).toMatch(/its stderr ended with:\n(loading part \d+\n)+settings\.ini: cannot parse line 3$/);
    // The last lines only, not all 31.
    expect(error.message).not.toContain('loading part 1\n');
    expect(error.details?.stderr).toMatch(/settings\.ini: cannot parse line 3$/);
  });

  it('older than the shim needs fails the build, saying which version is needed and why', async () => {
    // A stand-in answering --version as Node 20 does: the check is on what the binary says, before any start.
    const old = path.join(sandbox.root, 'bin', 'node-20');
    await writeFile(old, '#!/bin/sh\necho v20.19.2\n', { mode: 0o755 });
    const dir = await sandbox.addFunction('hello-node', 'bundled');
    await writeFile(path.join(dir, 'function.json'), JSON.stringify({ runtime: 'node', handler: 'index.handler', interpreter: old }));
    const failed = buildFunction(await loadFunction(dir), { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances });
    await expect(failed).rejects.toMatchObject({ code: 'PREBAKE_ERR_RUNTIME_MISSING' });
    await expect(failed).rejects.toThrow(
      `${old} (named by "interpreter" in function.json) is version 20.19.2; prebake needs 22.18 or later (the shim imports registerHooks from node:module`,
    );
    await sandbox.expectClean();
  });

  it('is compared with the minimum part by part, Java 8 written 1.8 included', () => {
    const refused = (runtime: 'node' | 'python' | 'java', version: string) => {
      try {
        assertMinimumVersion(runtime, undefined, 'x', version);
        return false;
      } catch {
        return true;
      }
    };
    expect(['20.19.2', '22.17.1', '22.18.0', '24.9.0'].map((v) => refused('node', v))).toEqual([true, true, false, false]);
    expect(['3.6.15', '3.7.0', '3.11.2', '3.13.0'].map((v) => refused('python', v))).toEqual([true, false, false, false]);
    expect(['1.8.0_412', '11.0.2', '17.0.15', '21'].map((v) => refused('java', v))).toEqual([true, true, false, false]);
  });

  it('that does not exist fails the build before anything starts, naming it and where it came from', async () => {
    const dir = await addWithInterpreter('python-interpreter', '/nonexistent/bin/python3');
    const failed = buildFunction(await loadFunction(dir), { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances });
    await expect(failed).rejects.toMatchObject({ code: 'PREBAKE_ERR_RUNTIME_MISSING' });
    await expect(failed).rejects.toThrow('/nonexistent/bin/python3 (named by "interpreter" in function.json)');
    await sandbox.expectClean();
  });

  it('shows in prebake doctor with its path and version, for each runtime', async () => {
    const doctor = await execa(path.join(ROOT, 'bin', 'prebake'), ['doctor', '--json'], { reject: false });
    const checks = JSON.parse(doctor.stdout) as { checks?: { name: string; detail: string }[] } | { name: string; detail: string }[];
    const list = Array.isArray(checks) ? checks : (checks.checks ?? []);
    for (const runtime of ['node', 'python', 'java']) {
      expect(list.find((c) => c.name === `runtime ${runtime}`)?.detail).toMatch(new RegExp(`^${runtime} \\S+.* at /`));
    }
  });
});
