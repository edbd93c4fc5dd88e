// What only the Java shim does (handlers over JSON text, javac, jars, the JDK's generators). The protocol
// itself, the same for every runtime, is checked in shim-conformance.test.ts.
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isPrebakeError } from '../../src/errors.ts';
import { loadFunction } from '../../src/manifest/load.ts';
import { javacBinary, javaRuntime, jvmFlags } from '../../src/runtimes/java/adapter.ts';
import { bodyJson, ShimLauncher, type ShimProcess } from './shim-process.ts';

const SEED = 'cd'.repeat(32);
// javac and the JVM take a while to start.
const SLOW = { timeout: 60_000 };

const launcher = new ShimLauncher(javaRuntime);

beforeAll(async () => {
  // Compiled once and shared by the tests (javac is slow).
  for (const fixture of ['java-shim', 'java-init-error']) await launcher.prepare(fixture);
}, 120_000);

afterEach(() => launcher.stopAll());
afterAll(() => launcher.cleanup());

const startReady = (handler?: string): Promise<ShimProcess> => launcher.startReady('java-shim', { handler });

interface ErrorInfo {
  type: string;
  message: string;
  stack: string;
}

describe('the java shim', SLOW, () => {
  it('passes the event and the result through verbatim (a one-parameter handler)', async () => {
    const shim = await startReady('fixture.ShimFixture::plain');
    const event = '{ "spaced" :  [1, 2.50, "x"] }';
    shim.send({ type: 'invoke', id: 'verbatim', deadline: Date.now() + 10_000 }, event);
    const result = await shim.next();
    expect(result.header.ok).toBe(true);
    expect(result.body.toString('utf8')).toBe(event);
  });

  it('answers ok:false with InvalidResultException for a result that is not one JSON value', async () => {
    // `plain` returns its event, and the shim passes events through unchecked: each body below comes back.
    const shim = await startReady('fixture.ShimFixture::plain');
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
      expect(error.message, text).toBe(
        `the result is not JSON (${problem}): it is ${JSON.stringify(text)} (a handler returns JSON text: a string result needs its quotes)`,
      );
    }
    // A long one shows its first 80 characters only.
    const long = await answer('x'.repeat(79) + 'yz'.repeat(5_000));
    expect((long.header.error as ErrorInfo).message).toContain(`it begins "${'x'.repeat(79)}y..." (a handler`);
    expect(shim.protocolError).toBeUndefined();
  });

  it('reports a static initializer that throws as init-error with its cause', async () => {
    const shim = await launcher.start('java-init-error', { handler: 'StaticBroken::handleRequest' });
    const frame = await shim.next();
    expect(frame.header.type).toBe('init-error');
    expect(frame.header.error).toMatchObject({ type: 'java.lang.NumberFormatException' });
    expect((frame.header.error as ErrorInfo).message).toContain('not a number');
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
});

describe('the java adapter', SLOW, () => {
  it("compiles into the work directory, never into the function's directory", async () => {
    const { fn, workDir } = await launcher.prepare('java-shim');
    const inFunctionDir = await readdir(fn.dir, { recursive: true });
    expect(inFunctionDir.filter((file) => file.endsWith('.class'))).toEqual([]);
    const compiled = await readdir(path.join(workDir, 'classes'), { recursive: true });
    expect(compiled).toContain(path.join('fixture', 'ShimFixture.class'));
  });

  it('fails prepare with PREBAKE_ERR_INIT_FAILED and javac output when the function does not compile', async () => {
    const error = await launcher.prepare('java-compile-error').catch((caught: unknown) => caught);
    expect(isPrebakeError(error, 'PREBAKE_ERR_INIT_FAILED')).toBe(true);
    const message = (error as Error).message;
    expect(message).toMatch(/^java-compile-error: javac failed: /);
    expect(message).toContain('Bad.java');
    expect(message).toContain("';' expected");
    // The classpath javac was given, since a missing jar is the usual cause of a failed import.
    expect(message).toMatch(/\nclasspath: \S*shim-classes/);
  });

  it("puts the function's .jar files on the classpath, for javac and for the JVM, from a renamed work directory", async () => {
    // A library compiled into a jar elsewhere, then a function that ships it under lib/.
    const libraryDir = await launcher.tempDir();
    await writeFile(
      path.join(libraryDir, 'Greeter.java'),
      'package lib; public class Greeter { public static String greet(String who) { return "hi " + who; } }',
    );
    execFileSync(javacBinary(), ['-d', path.join(libraryDir, 'out'), path.join(libraryDir, 'Greeter.java')]);
    const functionDir = await launcher.tempDir();
    await mkdir(path.join(functionDir, 'lib'));
    execFileSync('jar', ['cf', path.join(functionDir, 'lib', 'greeter.jar'), '-C', path.join(libraryDir, 'out'), '.']);
    await writeFile(
      path.join(functionDir, 'UsesJar.java'),
      'public class UsesJar { public String handle(String event) { return "\\"" + lib.Greeter.greet("jar") + "\\""; } }',
    );
    await writeFile(path.join(functionDir, 'function.json'), '{"name":"uses-jar","runtime":"java","handler":"UsesJar::handle"}');
    const fn = await loadFunction(functionDir);
    // Prepared under one name and renamed, as the image store does: nothing may point at the first name.
    const preparedDir = await launcher.tempDir();
    await javaRuntime.prepare!(fn, path.join(preparedDir, 'staging'));
    const workDir = path.join(preparedDir, 'final');
    await rename(path.join(preparedDir, 'staging'), workDir);
    const shim = launcher.startPrepared({ fn, workDir });
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
    const interpreter = await javaRuntime.interpreter();
    expect(interpreter.version).toMatch(/^java \d+/);
    expect(path.isAbsolute(interpreter.path)).toBe(true);
  });
});
