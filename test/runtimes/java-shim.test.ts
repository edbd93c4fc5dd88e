import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isPrebakeError } from '../../src/errors.ts';
import { loadFunction } from '../../src/manifest/load.ts';
import type { FunctionSpec } from '../../src/manifest/schema.ts';
import { javacBinary, javaRuntime, jvmFlags } from '../../src/runtimes/java/adapter.ts';
import { bodyJson, ShimProcess } from './shim-process.ts';

const FIXTURES = path.join(import.meta.dirname, '../fixtures/functions');
const SEED = 'cd'.repeat(32);
// javac and the JVM take a while to start.
const SLOW = { timeout: 60_000 };

const processes: ShimProcess[] = [];
const tempDirs: string[] = [];
// One prepared work directory per fixture, shared by the tests (javac is slow).
const prepared = new Map<string, { fn: FunctionSpec; workDir: string }>();

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'prebake-java-shim-'));
  tempDirs.push(dir);
  return dir;
}

async function prepareFixture(fixture: string): Promise<{ fn: FunctionSpec; workDir: string }> {
  const fn = await loadFunction(path.join(FIXTURES, fixture));
  const workDir = await tempDir();
  await javaRuntime.prepare!(fn, workDir);
  return { fn, workDir };
}

beforeAll(async () => {
  for (const fixture of ['java-shim', 'java-init-error']) prepared.set(fixture, await prepareFixture(fixture));
}, 120_000);

afterEach(async () => {
  await Promise.all(processes.splice(0).map((shim) => shim.stop()));
});

afterAll(async () => {
  await Promise.all(processes.splice(0).map((shim) => shim.stop()));
  await Promise.all(tempDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

function startShim(fixture: string, handler?: string): ShimProcess {
  const { fn: loaded, workDir } = prepared.get(fixture)!;
  const fn = handler ? { ...loaded, handler } : loaded;
  const shim = new ShimProcess(javaRuntime.command(fn, workDir), fn);
  processes.push(shim);
  return shim;
}

async function startReady(fixture = 'java-shim', handler?: string): Promise<ShimProcess> {
  const shim = startShim(fixture, handler);
  const ready = await shim.next();
  expect(ready.header.type).toBe('ready');
  return shim;
}

interface ErrorInfo {
  type: string;
  message: string;
  stack: string;
}

describe('the java shim', SLOW, () => {
  it('sends ready once the handler class is instantiated', async () => {
    const shim = startShim('java-shim');
    const ready = await shim.next();
    expect(ready.header).toMatchObject({ type: 'ready', runtime: 'java' });
    expect(ready.header.initMs).toBeTypeOf('number');
    expect(ready.body.length).toBe(0);
  });

  it('answers an invoke with the result and the context the controller gave', async () => {
    const shim = await startReady();
    const deadline = Date.now() + 20_000;
    const result = await shim.invoke({ hello: 'wörld "quoted"', n: [1, 2] }, 'request-1', deadline);
    expect(result.header).toEqual({ type: 'result', id: 'request-1', ok: true });
    const body = bodyJson(result) as { event: unknown; context: Record<string, number | string> };
    expect(body.event).toEqual({ hello: 'wörld "quoted"', n: [1, 2] });
    expect(body.context.requestId).toBe('request-1');
    expect(body.context.functionName).toBe('java-shim');
    expect(body.context.memoryLimitInMB).toBe(256);
    expect(body.context.remainingMs).toBeGreaterThan(10_000);
    expect(body.context.remainingMs).toBeLessThanOrEqual(20_000);
  });

  it('keeps the instance between invocations of one process', async () => {
    const shim = await startReady();
    const counts = [];
    for (let i = 0; i < 3; i++) counts.push((bodyJson(await shim.invoke({})) as { invocations: number }).invocations);
    expect(counts).toEqual([1, 2, 3]);
  });

  it('passes the event and the result through verbatim (a one-parameter handler)', async () => {
    const shim = await startReady('java-shim', 'fixture.ShimFixture::plain');
    const event = '{ "spaced" :  [1, 2.50, "x"] }';
    shim.send({ type: 'invoke', id: 'verbatim', deadline: Date.now() + 10_000 }, event);
    const result = await shim.next();
    expect(result.header.ok).toBe(true);
    expect(result.body.toString('utf8')).toBe(event);
  });

  it('answers ok:false with InvalidResultException for a result that is not one JSON value', async () => {
    // `plain` returns its event, and the shim passes events through unchecked: each body below comes back.
    const shim = await startReady('java-shim', 'fixture.ShimFixture::plain');
    const answer = async (text: string) => {
      shim.send({ type: 'invoke', id: 'check', deadline: Date.now() + 10_000 }, text);
      return shim.next();
    };
    const valid = [
      ' {"a": [1, -0, 2.5e-3, 1E+2, true, false, null, "\\u00e9\\n\\"", {}, []], "": {"b": "ü"}} ',
      '"text"',
      '0',
      '[[[]]]',
      '['.repeat(100_000) + ']'.repeat(100_000), // deep nesting: no stack overflow
    ];
    for (const text of valid) {
      const result = await answer(text);
      expect(result.header.ok, text.slice(0, 40)).toBe(true);
      expect(result.body.toString('utf8')).toBe(text);
    }
    const invalid: Array<[string, string]> = [
      ['hello', 'expected a value at offset 0'],
      ['{"a":1', 'unexpected end at offset 6'],
      ['[1,]', 'expected a value at offset 3'],
      ['{"a":1} x', 'text after the value at offset 8'],
      ["{'a':1}", 'expected a string key at offset 1'],
      ['{"a" 1}', "expected ':' at offset 5"],
      ['[1 2]', "expected ',' or ']' at offset 3"],
      ['01', 'text after the value at offset 1'],
      ['1.', 'expected a digit at offset 2'],
      ['-', 'expected a digit at offset 1'],
      ['NaN', 'expected a value at offset 0'],
      ['"tab\there"', 'unescaped control character in a string at offset 4'],
      ['"\\x"', 'bad escape at offset 2'],
      ['"\\u12g4"', 'bad \\u escape at offset 5'],
      ['"open', 'unexpected end at offset 5'],
      [' ', 'unexpected end at offset 1'],
    ];
    for (const [text, problem] of invalid) {
      const result = await answer(text);
      expect(result.header, text).toMatchObject({ type: 'result', id: 'check', ok: false });
      expect(result.body.length).toBe(0);
      const error = result.header.error as ErrorInfo;
      expect(error.type).toBe('prebake.InvalidResultException');
      expect(error.message, text).toBe(`the result is not JSON (${problem}): it is ${JSON.stringify(text)} (a handler returns JSON text: a string result needs its quotes)`);
    }
    // A long one shows its first 80 characters only.
    const long = await answer('x'.repeat(79) + 'yz'.repeat(5_000));
    expect((long.header.error as ErrorInfo).message).toContain(`it begins "${'x'.repeat(79)}y..." (a handler`);
    expect(shim.protocolError).toBeUndefined();
  });

  it('moves events and results of several megabytes whole', async () => {
    const shim = await startReady('java-shim', 'fixture.ShimFixture::plain');
    const event = JSON.stringify({ big: 'x'.repeat(3 * 1024 * 1024) + 'ü' });
    shim.send({ type: 'invoke', id: 'big', deadline: Date.now() + 10_000 }, event);
    const result = await shim.next();
    expect(result.header.ok).toBe(true);
    expect(result.body.toString('utf8')).toBe(event);
  });

  it('sends null for a handler that returns null', async () => {
    const shim = await startReady();
    const result = await shim.invoke({ action: 'null' });
    expect(result.header.ok).toBe(true);
    expect(result.body.toString()).toBe('null');
  });

  it('reports a handler that throws as ok:false with its class, message and stack', async () => {
    const shim = await startReady();
    const result = await shim.invoke({ action: 'raise' }, 'request-2');
    expect(result.header).toMatchObject({ type: 'result', id: 'request-2', ok: false });
    const error = result.header.error as ErrorInfo;
    expect(error.type).toBe('java.lang.IllegalArgumentException');
    expect(error.message).toBe('bad input: 42');
    expect(error.stack).toContain('at fixture.ShimFixture.handle(ShimFixture.java:');
    expect(error.stack).not.toContain('prebake.Shim');
    expect(result.body.length).toBe(0);
    expect((await shim.invoke({})).header.ok).toBe(true);
  });

  it("keeps the handler's System.out and System.err on fds 1 and 2, off the control channel", async () => {
    const shim = await startReady();
    expect((await shim.invoke({ action: 'print' })).header.ok).toBe(true);
    await shim.waitForOutput('stdout', 'a log line from the handler\n');
    await shim.waitForOutput('stderr', 'a log line from the handler (stderr)\n');
    expect(shim.stdout).not.toContain('(stderr)');
    expect(shim.protocolError).toBeUndefined();
  });

  it('reports a constructor that throws as init-error, then exits 1', async () => {
    const shim = startShim('java-init-error');
    const frame = await shim.next();
    expect(frame.header.type).toBe('init-error');
    const error = frame.header.error as ErrorInfo;
    expect(error.type).toBe('java.lang.IllegalStateException');
    expect(error.message).toBe('cannot reach the database at init');
    expect(error.stack).toContain('at Broken.<init>(Broken.java:');
    expect(await shim.exited).toEqual({ code: 1, signal: null });
  });

  it('reports a static initializer that throws as init-error with its cause', async () => {
    const shim = startShim('java-init-error', 'StaticBroken::handleRequest');
    const frame = await shim.next();
    expect(frame.header.type).toBe('init-error');
    expect(frame.header.error).toMatchObject({ type: 'java.lang.NumberFormatException' });
    expect((frame.header.error as ErrorInfo).message).toContain('not a number');
  });

  it('reports a missing class or method as init-error', async () => {
    const noClass = await startShim('java-shim', 'fixture.Nope::handle').next();
    expect(noClass.header.type).toBe('init-error');
    expect(noClass.header.error).toMatchObject({ type: 'java.lang.ClassNotFoundException' });
    expect((noClass.header.error as ErrorInfo).message).toContain('fixture.Nope');

    const noMethod = await startShim('java-shim', 'fixture.ShimFixture::nope').next();
    expect(noMethod.header.type).toBe('init-error');
    expect(noMethod.header.error).toMatchObject({ type: 'java.lang.NoSuchMethodException' });
    expect((noMethod.header.error as ErrorInfo).message).toContain('nope(String)');
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

  it('reports a hook that throws as hook-error, in either phase', async () => {
    const before = await startReady();
    await before.invoke({ action: 'failBeforeCheckpoint' });
    before.send({ type: 'checkpoint' });
    const beforeFrame = await before.next();
    expect(beforeFrame.header).toMatchObject({ type: 'hook-error', phase: 'beforeCheckpoint' });
    expect(beforeFrame.header.error).toMatchObject({
      type: 'java.lang.IllegalStateException',
      message: 'before-checkpoint hook failed on purpose',
    });

    const after = await startReady();
    await after.invoke({ action: 'failAfterRestore' });
    after.send({ type: 'resume', seed: SEED });
    const afterFrame = await after.next();
    expect(afterFrame.header).toMatchObject({ type: 'hook-error', phase: 'afterRestore' });
    expect(afterFrame.header.error).toMatchObject({ type: 'java.io.IOException', message: 'after-restore hook failed on purpose' });
  });

  it('refuses a resume without a proper seed', async () => {
    const shim = await startReady();
    shim.send({ type: 'resume', seed: 'zz'.repeat(32) });
    expect((await shim.next()).header).toMatchObject({ type: 'hook-error', phase: 'afterRestore' });
  });

  it("reseeds Math.random(), ThreadLocalRandom and new Random()'s seed source on resume", async () => {
    const shim = await startReady();
    const generators = async (): Promise<Record<string, string>> =>
      bodyJson(await shim.invoke({ action: 'generators' })) as Record<string, string>;
    const before = await generators();
    expect(await generators()).toEqual(before); // reading them does not change them...
    shim.send({ type: 'resume', seed: SEED });
    expect((await shim.next()).header.type).toBe('resumed');
    const after = await generators();
    expect(after.math).not.toBe(before.math); // ...a resume does
    expect(after.threadLocal).not.toBe(before.threadLocal);
    expect(after.seedUniquifier).not.toBe(before.seedUniquifier);
    expect(shim.stderr).not.toContain('could not reseed');
  });

  it('exits 0 at end of file on fd 3', async () => {
    const shim = await startReady();
    shim.closeControl();
    expect(await shim.exited).toEqual({ code: 0, signal: null });
  });
});

describe('the java adapter', SLOW, () => {
  it("compiles into the work directory, never into the function's directory", async () => {
    const { fn, workDir } = prepared.get('java-shim')!;
    const inFunctionDir = await readdir(fn.dir, { recursive: true });
    expect(inFunctionDir.filter((file) => file.endsWith('.class'))).toEqual([]);
    const compiled = await readdir(path.join(workDir, 'classes'), { recursive: true });
    expect(compiled).toContain(path.join('fixture', 'ShimFixture.class'));
  });

  it('fails prepare with PREBAKE_ERR_INIT_FAILED and javac output when the function does not compile', async () => {
    const error = await prepareFixture('java-compile-error').catch((caught: unknown) => caught);
    expect(isPrebakeError(error, 'PREBAKE_ERR_INIT_FAILED')).toBe(true);
    const message = (error as Error).message;
    expect(message).toMatch(/^java-compile-error: javac failed: /);
    expect(message).toContain('Bad.java');
    expect(message).toContain("';' expected");
  });

  it("puts the function's .jar files on the classpath, for javac and for the JVM, from a renamed work directory", async () => {
    // A library compiled into a jar elsewhere, then a function that ships it under lib/.
    const libraryDir = await tempDir();
    await writeFile(
      path.join(libraryDir, 'Greeter.java'),
      'package lib; public class Greeter { public static String greet(String who) { return "hi " + who; } }',
    );
    execFileSync(javacBinary(), ['-d', path.join(libraryDir, 'out'), path.join(libraryDir, 'Greeter.java')]);
    const functionDir = await tempDir();
    await mkdir(path.join(functionDir, 'lib'));
    execFileSync('jar', ['cf', path.join(functionDir, 'lib', 'greeter.jar'), '-C', path.join(libraryDir, 'out'), '.']);
    await writeFile(
      path.join(functionDir, 'UsesJar.java'),
      'public class UsesJar { public String handle(String event) { return "\\"" + lib.Greeter.greet("jar") + "\\""; } }',
    );
    await writeFile(path.join(functionDir, 'function.json'), '{"name":"uses-jar","runtime":"java","handler":"UsesJar::handle"}');
    const fn = await loadFunction(functionDir);
    // Prepared under one name and renamed, as the image store does: nothing may point at the first name.
    const preparedDir = await tempDir();
    await javaRuntime.prepare!(fn, path.join(preparedDir, 'staging'));
    const workDir = path.join(preparedDir, 'final');
    await rename(path.join(preparedDir, 'staging'), workDir);
    const shim = new ShimProcess(javaRuntime.command(fn, workDir), fn);
    processes.push(shim);
    expect((await shim.next()).header.type).toBe('ready');
    expect(bodyJson(await shim.invoke({}))).toBe('hi jar');
  });

  it('accepts Class::method handlers and rejects others', () => {
    for (const good of ['Hello::handleRequest', 'com.example.Hello::handle', 'a.b.C$D::m']) {
      expect(javaRuntime.checkHandler(good), good).toBeUndefined();
    }
    for (const bad of ['Hello', 'Hello::', '::handle', 'Hello.handle', 'com..Hello::m', 'Hello::a::b', 'Hel-lo::m']) {
      expect(javaRuntime.checkHandler(bad), bad).toBeTypeOf('string');
    }
  });

  it('starts the JVM with the flags CRIU needs and a heap from memoryMb', () => {
    const flags = jvmFlags(256);
    expect(flags).toContain('-XX:-UsePerfData');
    expect(flags).toContain('-XX:+DisableAttachMechanism');
    expect(flags).toContain('-Xmx192m');
  });

  it('reports the installed version', async () => {
    expect(await javaRuntime.version()).toMatch(/^java \d+/);
  });
});
