import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadFunction } from '../../src/manifest/load.ts';
import type { FunctionSpec } from '../../src/manifest/schema.ts';
import { pythonRuntime } from '../../src/runtimes/python/adapter.ts';
import { bodyJson, ShimProcess } from './shim-process.ts';

const FIXTURES = path.join(import.meta.dirname, '../fixtures/functions');
const SEED = 'ab'.repeat(32);

const processes: ShimProcess[] = [];
const tempDirs: string[] = [];

afterEach(async () => {
  await Promise.all(processes.splice(0).map((shim) => shim.stop()));
  await Promise.all(tempDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function startShim(
  fixture: string,
  handler?: string,
  extraEnv: Record<string, string> = {},
): Promise<{ shim: ShimProcess; fn: FunctionSpec; workDir: string }> {
  const loaded = await loadFunction(path.join(FIXTURES, fixture));
  const fn = handler ? { ...loaded, handler } : loaded;
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'prebake-python-shim-'));
  tempDirs.push(workDir);
  const shim = new ShimProcess(pythonRuntime.command(fn, workDir), fn, extraEnv);
  processes.push(shim);
  return { shim, fn, workDir };
}

async function startReady(fixture = 'python-shim', handler?: string): Promise<ShimProcess> {
  const { shim } = await startShim(fixture, handler);
  const ready = await shim.next();
  expect(ready.header.type).toBe('ready');
  return shim;
}

describe('the python shim', () => {
  it('sends ready once the handler is loaded', async () => {
    const { shim } = await startShim('python-shim');
    const ready = await shim.next();
    expect(ready.header).toMatchObject({ type: 'ready', runtime: 'python' });
    expect(ready.header.initMs).toBeTypeOf('number');
    expect(ready.body.length).toBe(0);
  });

  it('answers an invoke with the result and the context the controller gave', async () => {
    const shim = await startReady();
    const deadline = Date.now() + 20_000;
    const result = await shim.invoke({ hello: 'world', n: [1, 2] }, 'request-1', deadline);
    expect(result.header).toEqual({ type: 'result', id: 'request-1', ok: true });
    const body = bodyJson(result) as { event: unknown; context: Record<string, number | string> };
    expect(body.event).toEqual({ hello: 'world', n: [1, 2] });
    expect(body.context.requestId).toBe('request-1');
    expect(body.context.functionName).toBe('python-shim');
    expect(body.context.memoryLimitInMb).toBe(256);
    expect(body.context.remainingMs).toBeGreaterThan(10_000);
    expect(body.context.remainingMs).toBeLessThanOrEqual(20_000);
  });

  it('keeps module state between invocations of one process', async () => {
    const shim = await startReady();
    const counts = [];
    for (let i = 0; i < 3; i++) counts.push((bodyJson(await shim.invoke({})) as { invocations: number }).invocations);
    expect(counts).toEqual([1, 2, 3]);
  });

  it('moves events and results of several megabytes whole', async () => {
    const shim = await startReady();
    const big = 'x'.repeat(3 * 1024 * 1024) + 'ü';
    const result = await shim.invoke({ big });
    expect(result.header.ok).toBe(true);
    expect((bodyJson(result) as { event: { big: string } }).event.big).toBe(big);
  });

  it('sends null for a handler that returns None', async () => {
    const shim = await startReady();
    const result = await shim.invoke({ action: 'none' });
    expect(result.header.ok).toBe(true);
    expect(result.body.toString()).toBe('null');
  });

  it('runs a handler in a package ("pkg.sub.nested.handle")', async () => {
    const shim = await startReady('python-shim', 'pkg.sub.nested.handle');
    expect(bodyJson(await shim.invoke({}))).toEqual({ nested: true, module: 'pkg.sub.nested' });
  });

  it('reports a handler that raises as ok:false with its type, message and stack', async () => {
    const shim = await startReady();
    const result = await shim.invoke({ action: 'raise', detail: 42 }, 'request-2');
    expect(result.header).toMatchObject({ type: 'result', id: 'request-2', ok: false });
    const error = result.header.error as { type: string; message: string; stack: string };
    expect(error.type).toBe('ValueError');
    expect(error.message).toBe('bad input: 42');
    expect(error.stack).toContain('main.py');
    expect(error.stack).not.toContain('shim.py');
    expect(result.body.length).toBe(0);
    // The process lives on.
    expect((await shim.invoke({})).header.ok).toBe(true);
  });

  it('reports a result that is not JSON as ok:false', async () => {
    const shim = await startReady();
    const unserialisable = await shim.invoke({ action: 'unserialisable' });
    expect(unserialisable.header.ok).toBe(false);
    expect((unserialisable.header.error as { type: string }).type).toBe('TypeError');
    const nan = await shim.invoke({ action: 'nan' });
    expect(nan.header.ok).toBe(false);
    expect((nan.header.error as { type: string }).type).toBe('ValueError');
  });

  it("keeps the handler's print() on fds 1 and 2, off the control channel", async () => {
    const shim = await startReady();
    const result = await shim.invoke({ action: 'print', text: 'a log line from the handler' });
    expect(result.header.ok).toBe(true);
    await shim.waitForOutput('stdout', 'a log line from the handler\n');
    await shim.waitForOutput('stderr', 'a log line from the handler (stderr)\n');
    expect(shim.stdout).not.toContain('(stderr)');
    expect(shim.protocolError).toBeUndefined();
  });

  it('reports an exception in the module body as init-error, then exits 1', async () => {
    const { shim } = await startShim('python-init-error');
    const frame = await shim.next();
    expect(frame.header.type).toBe('init-error');
    const error = frame.header.error as { type: string; message: string; stack: string };
    expect(error.type).toBe('ConnectionError');
    expect(error.message).toBe('cannot reach the database at init');
    expect(error.stack).toContain('main.py');
    expect(await shim.exited).toEqual({ code: 1, signal: null });
  });

  it('reports a missing handler function or module as init-error', async () => {
    const { shim: noFunction } = await startShim('python-shim', 'main.nope');
    const missingFunction = await noFunction.next();
    expect(missingFunction.header.type).toBe('init-error');
    expect(missingFunction.header.error).toMatchObject({ type: 'AttributeError' });
    expect((missingFunction.header.error as { message: string }).message).toContain('"nope"');

    const { shim: noModule } = await startShim('python-shim', 'nomodule.handler');
    const missingModule = await noModule.next();
    expect(missingModule.header.type).toBe('init-error');
    expect(missingModule.header.error).toMatchObject({ type: 'ModuleNotFoundError' });
    expect((missingModule.header.error as { message: string }).message).toContain('"nomodule"');
    expect(await noModule.exited).toEqual({ code: 1, signal: null });
  });

  it('runs the before-checkpoint hooks in order, then answers checkpoint-ready', async () => {
    const shim = await startReady();
    expect((bodyJson(await shim.invoke({})) as { hooks: string[] }).hooks).toEqual([]);
    shim.send({ type: 'checkpoint' });
    expect((await shim.next()).header).toEqual({ type: 'checkpoint-ready' });
    expect((bodyJson(await shim.invoke({})) as { hooks: string[] }).hooks).toEqual(['before:first', 'before:second']);
  });

  it('runs the after-restore hooks on resume, then answers resumed', async () => {
    const shim = await startReady();
    shim.send({ type: 'resume', seed: SEED });
    expect((await shim.next()).header).toEqual({ type: 'resumed' });
    expect((bodyJson(await shim.invoke({})) as { hooks: string[] }).hooks).toEqual(['after']);
  });

  it('reports a before-checkpoint hook that raises as hook-error', async () => {
    const shim = await startReady();
    await shim.invoke({ action: 'failHook', phase: 'beforeCheckpoint' });
    shim.send({ type: 'checkpoint' });
    const frame = await shim.next();
    expect(frame.header).toMatchObject({ type: 'hook-error', phase: 'beforeCheckpoint' });
    expect(frame.header.error).toMatchObject({ type: 'RuntimeError', message: 'before-checkpoint hook failed on purpose' });
  });

  it('reports an after-restore hook that raises as hook-error', async () => {
    const shim = await startReady();
    await shim.invoke({ action: 'failHook', phase: 'afterRestore' });
    shim.send({ type: 'resume', seed: SEED });
    const frame = await shim.next();
    expect(frame.header).toMatchObject({ type: 'hook-error', phase: 'afterRestore' });
    expect(frame.header.error).toMatchObject({ type: 'LookupError', message: 'after-restore hook failed on purpose' });
  });

  it('refuses a resume without a proper seed', async () => {
    const shim = await startReady();
    shim.send({ type: 'resume', seed: 'abc' });
    expect((await shim.next()).header).toMatchObject({ type: 'hook-error', phase: 'afterRestore' });
  });

  it("reseeds the random module on resume, mixing fresh entropy with the controller's seed", async () => {
    const shim = await startReady();
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

  it('exits 0 at end of file on fd 3', async () => {
    const shim = await startReady();
    shim.closeControl();
    expect(await shim.exited).toEqual({ code: 0, signal: null });
  });

  it("writes no bytecode caches into the function's directory", async () => {
    // An empty PYTHONDONTWRITEBYTECODE is "unset": the host's own setting must not be what keeps them out.
    const { shim, fn } = await startShim('python-shim', 'pkg.sub.nested.handle', { PYTHONDONTWRITEBYTECODE: '' });
    expect((await shim.next()).header.type).toBe('ready');
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

  it('reports the installed version', async () => {
    expect(await pythonRuntime.version()).toMatch(/^python 3\.\d+\.\d+/);
  });
});
