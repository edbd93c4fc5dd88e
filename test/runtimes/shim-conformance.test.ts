// The instance protocol (docs/PROTOCOL.md), checked against every runtime's shim the same way: each shim runs
// directly (no CRIU) over real pipes, on a fixture function that behaves the same in each language
// (test/fixtures/functions/<runtime>-shim). What only one runtime does is tested in <runtime>-shim.test.ts.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Frame, MAX_BODY_BYTES, MAX_HEADER_BYTES } from '../../src/instance/frames.ts';
import { javaRuntime } from '../../src/runtimes/java/adapter.ts';
import { nodeRuntime } from '../../src/runtimes/node/adapter.ts';
import { pythonRuntime } from '../../src/runtimes/python/adapter.ts';
import type { RuntimeAdapter } from '../../src/runtimes/runtime.ts';
import { bodyJson, lambdaCall, ShimLauncher, type ShimProcess } from './shim-process.ts';

const SEED = 'ab'.repeat(32);
// Long enough for a JVM to start and exit; a shim that has not exited by then hangs.
const EXIT_WITHIN_MS = 5_000;

/** A missing handler, and what the init-error frame says about it. */
interface Missing {
  handler: string;
  type: string;
  /** Text the message must contain: the name that was not found. */
  mentions: string;
}

interface Runtime {
  name: string;
  adapter: RuntimeAdapter;
  /** The fixture every case runs: test/fixtures/functions/<fixture>. */
  fixture: string;
  /** Its source file, as the stacks of its errors name it. */
  source: string;
  /** How the shim's own code shows in a stack. */
  shimInStack: string;
  /** The error classes the fixture throws, as the shim names them. */
  errors: { handler: string; beforeCheckpoint: string; afterRestore: string };
  /** A function whose init throws "cannot reach the database at init". */
  initError: { fixture: string; type: string; source: string };
  missingFunction: Missing;
  missingModule: Missing;
}

const RUNTIMES: Runtime[] = [
  {
    name: 'node',
    adapter: nodeRuntime,
    fixture: 'node-shim',
    source: 'node-shim/index.mjs',
    shimInStack: 'runtimes/node/shim.mjs',
    errors: { handler: 'TypeError', beforeCheckpoint: 'RangeError', afterRestore: 'URIError' },
    initError: { fixture: 'node-init-error', type: 'ConnectionError', source: 'node-init-error/index.mjs' },
    missingFunction: { handler: 'index.nope', type: 'TypeError', mentions: '"nope"' },
    missingModule: { handler: 'nomodule.handler', type: 'Error', mentions: 'nomodule.mjs' },
  },
  {
    name: 'python',
    adapter: pythonRuntime,
    fixture: 'python-shim',
    source: 'python-shim/main.py',
    shimInStack: 'runtimes/python/shim.py',
    errors: { handler: 'ValueError', beforeCheckpoint: 'RuntimeError', afterRestore: 'LookupError' },
    initError: { fixture: 'python-init-error', type: 'ConnectionError', source: 'python-init-error/main.py' },
    missingFunction: { handler: 'main.nope', type: 'AttributeError', mentions: '"nope"' },
    missingModule: { handler: 'nomodule.handler', type: 'ModuleNotFoundError', mentions: '"nomodule"' },
  },
  {
    name: 'java',
    adapter: javaRuntime,
    fixture: 'java-shim',
    source: '(ShimFixture.java:',
    shimInStack: 'prebake.Shim.',
    errors: {
      handler: 'java.lang.IllegalArgumentException',
      beforeCheckpoint: 'java.lang.IllegalStateException',
      afterRestore: 'java.io.IOException',
    },
    initError: { fixture: 'java-init-error', type: 'java.lang.IllegalStateException', source: 'at Broken.<init>(Broken.java:' },
    missingFunction: { handler: 'fixture.ShimFixture::nope', type: 'java.lang.NoSuchMethodException', mentions: 'nope(String)' },
    missingModule: { handler: 'fixture.Nope::handle', type: 'java.lang.ClassNotFoundException', mentions: 'fixture.Nope' },
  },
];

/** What the fixture's handler answers when the event asks for nothing in particular. */
interface Echo {
  invocations: number;
  event: unknown;
  hooks: string[];
  context: { requestId: string; functionName: string; memoryLimitInMB: number; remainingMs: number } & Record<string, unknown>;
}

interface ErrorInfo {
  type: string;
  message: string;
  stack: string;
}

const echo = (frame: Frame): Echo => bodyJson(frame) as Echo;
const errorOf = (frame: Frame): ErrorInfo => frame.header.error as ErrorInfo;

describe.each(RUNTIMES.map((runtime) => [runtime.name, runtime] as const))('the %s shim', (_name, runtime) => {
  const launcher = new ShimLauncher(runtime.adapter);
  const startReady = (handler?: string): Promise<ShimProcess> => launcher.startReady(runtime.fixture, { handler });

  /** A case of the protocol; one the runtime is known to differ on runs as an expected failure. */

  /** Checks that the shim exits with status 2, in time, without answering what it was sent. */
  const expectExitWithoutAnswer = async (shim: ShimProcess): Promise<void> => {
    const exit = await shim.exitWithin(EXIT_WITHIN_MS);
    expect(exit, `still running after ${EXIT_WITHIN_MS} ms`).toBeDefined();
    expect(exit!.signal).toBeNull();
    expect(exit!.code, 'a protocol error exits with status 2 (docs/PROTOCOL.md)').toBe(2);
    await expect(shim.next(1_000)).rejects.toThrow(/closed its control channel/);
  };

  beforeAll(async () => {
    // Prepared up front (javac takes seconds), one after the other: the machine has two cores.
    await launcher.prepare(runtime.fixture);
    await launcher.prepare(runtime.initError.fixture);
  });

  afterEach(() => launcher.stopAll());
  afterAll(() => launcher.cleanup());

  it('sends ready once the handler is loaded, and only once', async () => {
    const shim = await launcher.start(runtime.fixture);
    const ready = await shim.next();
    expect(ready.header).toEqual({ type: 'ready', runtime: runtime.name, initMs: expect.any(Number) });
    expect(ready.header.initMs).toBeGreaterThan(0);
    expect(ready.header.initMs).toBeLessThan(60_000);
    expect(ready.body.length).toBe(0);
    // The next frame answers the next request: no second ready was waiting.
    expect((await shim.invoke({}, 'after-ready')).header).toEqual({ type: 'result', id: 'after-ready', ok: true });
  });

  it('answers an invoke with the result and the context the controller gave', async () => {
    const shim = await startReady();
    const deadline = Date.now() + 20_000;
    const event = { hello: 'wörld "quoted"', n: [1, 2.5, null, true] };
    const result = await shim.invoke(event, 'request-1', deadline);
    expect(result.header).toEqual({ type: 'result', id: 'request-1', ok: true });
    const { event: received, context } = echo(result);
    expect(received).toEqual(event);
    expect(context.requestId).toBe('request-1');
    expect(context.functionName).toBe(runtime.fixture);
    expect(context.memoryLimitInMB).toBe(256);
    expect(context.remainingMs).toBeGreaterThan(10_000);
    expect(context.remainingMs).toBeLessThanOrEqual(20_000);
  });

  it("hands Lambda's context fields from the invoke frame to the handler, and the defaults' absence as null", async () => {
    const shim = await startReady();
    const { clientContext, identity, fields } = lambdaCall(runtime.fixture);
    const lambda = {
      ...fields,
      clientContext: JSON.stringify(clientContext),
      identity: JSON.stringify(identity),
    };
    shim.send({ type: 'invoke', id: 'lambda-1', deadline: Date.now() + 20_000, ...lambda }, JSON.stringify({}));
    expect(echo(await shim.next()).context).toMatchObject({
      requestId: 'lambda-1',
      functionVersion: '$LATEST',
      invokedFunctionArn: lambda.arn,
      logGroupName: lambda.logGroup,
      logStreamName: lambda.logStream,
      clientContext,
      identity,
    });
    // A caller that sent neither: none in the context.
    const { clientContext: _, identity: __, ...plain } = lambda;
    shim.send({ type: 'invoke', id: 'lambda-2', deadline: Date.now() + 20_000, ...plain }, JSON.stringify({}));
    expect(echo(await shim.next()).context).toMatchObject({ clientContext: null, identity: null, invokedFunctionArn: lambda.arn });
  });

  it('hands the handler a null event for an empty body', async () => {
    const shim = await startReady();
    shim.send({ type: 'invoke', id: 'empty', deadline: Date.now() + 10_000 });
    const result = await shim.next();
    expect(result.header).toEqual({ type: 'result', id: 'empty', ok: true });
    expect(echo(result).event).toBeNull();
  });

  it('keeps module state between invocations of one process', async () => {
    const shim = await startReady();
    const counts = [];
    for (let i = 0; i < 3; i++) counts.push(echo(await shim.invoke({})).invocations);
    expect(counts).toEqual([1, 2, 3]);
  });

  it('moves events and results of several megabytes whole', async () => {
    const shim = await startReady();
    const big = `ü${'x'.repeat(3 * 1024 * 1024)}€😀`;
    const result = await shim.invoke({ big }, 'big');
    expect(result.header).toEqual({ type: 'result', id: 'big', ok: true });
    expect(result.body.length).toBeGreaterThan(3 * 1024 * 1024);
    expect(echo(result).event).toEqual({ big });
  });

  it('sends null for a handler that returns nothing', async () => {
    const shim = await startReady();
    const result = await shim.invoke({ action: 'none' }, 'none');
    expect(result.header).toEqual({ type: 'result', id: 'none', ok: true });
    expect(result.body.toString('utf8')).toBe('null');
  });

  it('reports a handler that throws as ok:false with its type, message and stack, and keeps serving', async () => {
    const shim = await startReady();
    const result = await shim.invoke({ action: 'raise', detail: 42 }, 'request-2');
    expect(result.header).toMatchObject({ type: 'result', id: 'request-2', ok: false });
    expect(errorOf(result)).toMatchObject({ type: runtime.errors.handler, message: 'bad input: 42' });
    expect(errorOf(result).stack).toContain(runtime.source);
    expect(result.body.length).toBe(0);
    expect((await shim.invoke({}, 'next')).header).toEqual({ type: 'result', id: 'next', ok: true });
  });

  it("leaves the shim's own frames out of an error's stack", async () => {
    const shim = await startReady();
    const stack = errorOf(await shim.invoke({ action: 'raise', detail: 42 })).stack;
    expect(stack).toContain(runtime.source);
    expect(stack).not.toContain(runtime.shimInStack);
  });

  it("keeps the function's stdout and stderr on fds 1 and 2, off the control channel", async () => {
    const shim = await startReady();
    // The Java fixture prints this very text, whatever the event says.
    const text = 'a log line from the handler';
    expect((await shim.invoke({ action: 'print', text }, 'logs')).header).toEqual({ type: 'result', id: 'logs', ok: true });
    await shim.waitForOutput('stdout', `${text}\n`);
    await shim.waitForOutput('stderr', `${text} (stderr)\n`);
    expect(shim.stdout).not.toContain('(stderr)');
    // fd 4 carried nothing but whole frames, before the logs and after them.
    expect(shim.protocolError).toBeUndefined();
    expect((await shim.invoke({}, 'after-logs')).header).toEqual({ type: 'result', id: 'after-logs', ok: true });
  });

  it('reports an init that throws as init-error with its type, message and stack, then exits 1', async () => {
    const shim = await launcher.start(runtime.initError.fixture);
    const frame = await shim.next();
    expect(frame.header.type).toBe('init-error');
    expect(errorOf(frame)).toMatchObject({ type: runtime.initError.type, message: 'cannot reach the database at init' });
    expect(errorOf(frame).stack).toContain(runtime.initError.source);
    expect(frame.body.length).toBe(0);
    expect(await shim.exitWithin(EXIT_WITHIN_MS)).toEqual({ code: 1, signal: null });
  });

  it('reports a missing handler function or module as init-error, then exits 1', async () => {
    for (const missing of [runtime.missingFunction, runtime.missingModule]) {
      const shim = await launcher.start(runtime.fixture, { handler: missing.handler });
      const frame = await shim.next();
      expect(frame.header.type, missing.handler).toBe('init-error');
      expect(errorOf(frame).type, missing.handler).toBe(missing.type);
      expect(errorOf(frame).message, missing.handler).toContain(missing.mentions);
      expect(await shim.exitWithin(EXIT_WITHIN_MS), missing.handler).toEqual({ code: 1, signal: null });
    }
  });

  it('runs the before-checkpoint hooks in order, then answers checkpoint-ready', async () => {
    const shim = await startReady();
    expect(echo(await shim.invoke({})).hooks).toEqual([]);
    shim.send({ type: 'checkpoint' });
    expect(await shim.next()).toMatchObject({ header: { type: 'checkpoint-ready' }, body: Buffer.alloc(0) });
    expect(echo(await shim.invoke({})).hooks).toEqual(['before:first', 'before:second']);
  });

  it('runs the after-restore hooks on resume, then answers resumed', async () => {
    const shim = await startReady();
    shim.send({ type: 'resume', seed: SEED });
    expect(await shim.next()).toMatchObject({ header: { type: 'resumed' }, body: Buffer.alloc(0) });
    expect(echo(await shim.invoke({})).hooks).toEqual(['after']);
  });

  it('reports a before-checkpoint hook that throws as hook-error, and runs no later hook', async () => {
    const shim = await startReady();
    await shim.invoke({ action: 'failHook', phase: 'beforeCheckpoint' });
    shim.send({ type: 'checkpoint' });
    const frame = await shim.next();
    expect(frame.header).toMatchObject({ type: 'hook-error', phase: 'beforeCheckpoint' });
    expect(errorOf(frame)).toMatchObject({ type: runtime.errors.beforeCheckpoint, message: 'before-checkpoint hook failed on purpose' });
    expect(errorOf(frame).stack).toContain(runtime.source);
    expect(echo(await shim.invoke({})).hooks).toEqual(['before:first']);
  });

  it('reports an after-restore hook that throws as hook-error', async () => {
    const shim = await startReady();
    await shim.invoke({ action: 'failHook', phase: 'afterRestore' });
    shim.send({ type: 'resume', seed: SEED });
    const frame = await shim.next();
    expect(frame.header).toMatchObject({ type: 'hook-error', phase: 'afterRestore' });
    expect(errorOf(frame)).toMatchObject({ type: runtime.errors.afterRestore, message: 'after-restore hook failed on purpose' });
    expect(errorOf(frame).stack).toContain(runtime.source);
  });

  it('refuses a resume without a seed of 64 hex characters, before any hook', async () => {
    const shim = await startReady();
    for (const seed of [undefined, 'abc', 'zz'.repeat(32)]) {
      shim.send({ type: 'resume', ...(seed === undefined ? {} : { seed }) });
      expect((await shim.next()).header, String(seed)).toMatchObject({ type: 'hook-error', phase: 'afterRestore' });
    }
    expect(echo(await shim.invoke({})).hooks).toEqual([]);
  });

  it('exits 0 at end of file on fd 3', async () => {
    const shim = await startReady();
    shim.closeControl();
    expect(await shim.exitWithin(EXIT_WITHIN_MS)).toEqual({ code: 0, signal: null });
  });

  it('exits on a frame of an unknown type', async () => {
    const shim = await startReady();
    shim.send({ type: 'no-such-frame' });
    await expectExitWithoutAnswer(shim);
  });

  const malformed: Array<[string, () => Buffer]> = [
    ['a header over the 64 KiB limit', () => lengthPrefix(MAX_HEADER_BYTES + 1)],
    ['a header that is not JSON', () => Buffer.concat([lengthPrefix(9), Buffer.from('{"type":"'), lengthPrefix(0)])],
    ['a header that is not a JSON object', () => Buffer.concat([lengthPrefix(2), Buffer.from('[]'), lengthPrefix(0)])],
    [
      'a body over the 64 MiB limit',
      () => {
        const header = Buffer.from(JSON.stringify({ type: 'invoke', id: 'too-big', deadline: Date.now() + 10_000 }));
        // The length alone must do: the shim may not wait for a body it will never take.
        return Buffer.concat([lengthPrefix(header.length), header, lengthPrefix(MAX_BODY_BYTES + 1)]);
      },
    ],
  ];
  it.each(malformed)('exits on a malformed frame: %s', async (_, frame) => {
    const shim = await startReady();
    shim.sendBytes(frame());
    await expectExitWithoutAnswer(shim);
  });
});

function lengthPrefix(length: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(length);
  return bytes;
}
