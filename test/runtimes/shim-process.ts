// Runs a runtime shim directly (no CRIU) with the channels of docs/PROTOCOL.md, all real kernel pipes, and
// speaks the protocol with it through the project's own codec. Shared by the shim tests of every runtime, which start
// shims through ShimLauncher.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { encodeFrame, type Frame, FrameDecoder } from '../../src/instance/frames.ts';
import { loadFunction } from '../../src/manifest/load.ts';
import type { FunctionSpec } from '../../src/manifest/schema.ts';
import type { RuntimeAdapter, RuntimeCommand } from '../../src/runtimes/runtime.ts';

const require = createRequire(import.meta.url);
const { pipe } = require(path.join(import.meta.dirname, '../../native/build/pipe.node')) as {
  pipe(): [number, number];
};

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class ShimProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  stdout = '';
  stderr = '';
  private controlIn: number | undefined;
  private readonly readers: net.Socket[];
  private readonly frames: Frame[] = [];
  private readonly waiting: Array<(frame: Frame | undefined) => void> = [];
  private controlClosed = false;
  /** Set when the shim wrote something to fd 4 that is not a frame. */
  protocolError: Error | undefined;

  constructor(command: RuntimeCommand, fn: FunctionSpec, extraEnv: Record<string, string> = {}) {
    const [stdoutRead, stdoutWrite] = pipe();
    const [stderrRead, stderrWrite] = pipe();
    const [controlInRead, controlInWrite] = pipe();
    const [controlOutRead, controlOutWrite] = pipe();
    const [program, ...args] = command.argv;
    try {
      this.child = spawn(program!, args, {
        stdio: ['ignore', stdoutWrite, stderrWrite, controlInRead, controlOutWrite],
        env: {
          ...process.env,
          ...command.env,
          PREBAKE_FUNCTION_NAME: fn.name,
          PREBAKE_MEMORY_MB: String(fn.memoryMb),
          PREBAKE_TIMEOUT_MS: String(fn.timeoutMs),
          ...extraEnv,
        },
      });
    } catch (error) {
      for (const fd of [stdoutRead, stderrRead, controlInWrite, controlOutRead]) closeSync(fd);
      throw error;
    } finally {
      // The child has its copies now; ours would keep the pipes from ever reaching end of file.
      for (const fd of [stdoutWrite, stderrWrite, controlInRead, controlOutWrite]) closeSync(fd);
    }
    this.controlIn = controlInWrite;
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => resolve({ code, signal }));
      this.child.on('error', () => resolve({ code: null, signal: null }));
    });

    const stdout = new net.Socket({ fd: stdoutRead, readable: true, writable: false });
    const stderr = new net.Socket({ fd: stderrRead, readable: true, writable: false });
    const control = new net.Socket({ fd: controlOutRead, readable: true, writable: false });
    this.readers = [stdout, stderr, control];
    stdout.on('data', (chunk: Buffer) => (this.stdout += chunk.toString('utf8')));
    stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')));
    const decoder = new FrameDecoder();
    control.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = decoder.push(chunk);
      } catch (error) {
        // Bytes on fd 4 that are not frames: the test must fail, not the process.
        this.protocolError = error as Error;
        control.destroy();
        return;
      }
      for (const frame of frames) {
        const waiter = this.waiting.shift();
        if (waiter) waiter(frame);
        else this.frames.push(frame);
      }
    });
    control.on('close', () => {
      this.controlClosed = true;
      for (const waiter of this.waiting.splice(0)) waiter(undefined);
    });
  }

  send(header: Record<string, unknown>, body: string = ''): void {
    this.sendBytes(encodeFrame(header, body));
  }

  /** Writes `bytes` to fd 3 as they are: for frames the codec would refuse to make. */
  sendBytes(bytes: Buffer): void {
    if (this.controlIn === undefined) throw new Error('the control channel is closed');
    let written = 0;
    while (written < bytes.length) written += writeSync(this.controlIn, bytes, written);
  }

  /** The next frame from the shim; rejects if the shim closes fd 4 first or nothing comes in time. */
  async next(timeoutMs = 15_000): Promise<Frame> {
    const queued = this.frames.shift();
    if (queued) return queued;
    if (this.controlClosed) throw this.closedError();
    let timer: NodeJS.Timeout | undefined;
    const frame = await new Promise<Frame | undefined>((resolve, reject) => {
      this.waiting.push(resolve);
      timer = setTimeout(() => reject(new Error(`no frame within ${timeoutMs} ms; stderr:\n${this.stderr}`)), timeoutMs);
    }).finally(() => clearTimeout(timer));
    if (!frame) throw this.closedError();
    return frame;
  }

  private closedError(): Error {
    if (this.protocolError) return new Error(`the shim broke the framing: ${this.protocolError.message}`);
    return new Error(`the shim closed its control channel; stderr:\n${this.stderr}`);
  }

  /** Sends an invoke and returns the result frame. */
  async invoke(event: unknown, id = `req-${Math.random().toString(36).slice(2)}`, deadline = Date.now() + 30_000): Promise<Frame> {
    this.send({ type: 'invoke', id, deadline }, JSON.stringify(event));
    return this.next();
  }

  /** Waits until `stream` has received `text`: logs travel on other pipes than the frames, so they may lag. */
  async waitForOutput(stream: 'stdout' | 'stderr', text: string, timeoutMs = 5_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!this[stream].includes(text)) {
      if (Date.now() > until) throw new Error(`"${text}" did not appear on ${stream}; it has:\n${this[stream]}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** End of file on fd 3: the protocol's way to say "exit now". */
  closeControl(): void {
    if (this.controlIn === undefined) return;
    closeSync(this.controlIn);
    this.controlIn = undefined;
  }

  /** How the process ended, or undefined if it still runs after `timeoutMs`. */
  async exitWithin(timeoutMs: number): Promise<Exit | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs)));
    return Promise.race([this.exited, timeout]).finally(() => clearTimeout(timer));
  }

  /** Ends the process (if it still runs) and releases every descriptor. Safe to call twice. */
  async stop(): Promise<Exit> {
    this.closeControl();
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    const exit = await this.exited;
    for (const reader of this.readers) reader.destroy();
    return exit;
  }
}

export function bodyJson(frame: Frame): unknown {
  return JSON.parse(frame.body.toString('utf8'));
}

/**
 * What a Lambda caller sends (a client context, a Cognito identity) and the invoke frame's Lambda fields for
 * `functionName`, as src/instance/lambda-context.ts makes them: the same in every runtime's test.
 */
export function lambdaCall(functionName: string) {
  const clientContext = {
    client: { installation_id: 'install-1', app_title: 'Cake shop' },
    custom: { flavour: 'lemon' },
    env: { locale: 'en' },
  };
  const identity = { cognitoIdentityId: 'eu-west-1:abc', cognitoIdentityPoolId: 'eu-west-1:pool' };
  const fields = {
    version: '$LATEST',
    arn: `arn:aws:lambda:eu-west-1:000000000000:function:${functionName}`,
    logGroup: `/aws/lambda/${functionName}`,
    logStream: '2026/12/06/[$LATEST]0123456789abcdef0123456789abcdef',
  };
  return { clientContext, identity, fields };
}

const FIXTURES = path.join(import.meta.dirname, '../fixtures/functions');
/** Where src/runtimes/java/adapter.ts compiles its shim in a work dir, with a stamp of the sources. */
const JAVA_SHIM_CLASSES = 'shim-classes';

export interface PreparedFunction {
  fn: FunctionSpec;
  /** What the runtime's prepare() filled (compiled classes for Java; empty for the others). */
  workDir: string;
}

export interface StartOptions {
  /** Another handler of the same function. */
  handler?: string;
  env?: Record<string, string>;
}

/**
 * Starts the shims of one runtime on the functions in test/fixtures/functions, the way an instance starts
 * (prepared into a work directory first), and owns what they leave: `stopAll()` kills and awaits every shim
 * started so far (for afterEach), `cleanup()` does that and removes the temp dirs (for afterAll).
 */
export class ShimLauncher {
  private readonly prepared = new Map<string, Promise<PreparedFunction>>();
  private readonly running: ShimProcess[] = [];
  private readonly tempDirs: string[] = [];
  /** A work dir prepared without error, whose compiled shim later ones start from. */
  private preparedBefore: string | undefined;

  readonly runtime: RuntimeAdapter;

  constructor(runtime: RuntimeAdapter) {
    this.runtime = runtime;
  }

  /** A fresh temp dir that `cleanup()` removes. */
  async tempDir(): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), `prebake-${this.runtime.name}-shim-`));
    this.tempDirs.push(dir);
    return dir;
  }

  /** The fixture, prepared once and shared by the tests (javac is slow). */
  prepare(fixture: string): Promise<PreparedFunction> {
    let prepared = this.prepared.get(fixture);
    if (!prepared) {
      prepared = loadFunction(path.join(FIXTURES, fixture)).then((fn) => this.prepareFunction(fn));
      this.prepared.set(fixture, prepared);
    }
    return prepared;
  }

  /** Prepares any function into a fresh work directory. */
  async prepareFunction(fn: FunctionSpec): Promise<PreparedFunction> {
    const workDir = await this.tempDir();
    // Java's shim is the same for every function: javac took 3.6 s of CPU for it here. The adapter compiles it
    // into a work dir once, and skips it when the copy there is stamped with its sources' digest.
    const shim = (dir: string) => path.join(dir, JAVA_SHIM_CLASSES);
    if (this.runtime.name === 'java' && this.preparedBefore) await cp(shim(this.preparedBefore), shim(workDir), { recursive: true });
    await this.runtime.prepare?.(fn, workDir);
    this.preparedBefore ??= workDir;
    return { fn, workDir };
  }

  /** Starts the shim on a fixture; the test reads the first frame itself. */
  async start(fixture: string, options: StartOptions = {}): Promise<ShimProcess> {
    const { fn, workDir } = await this.prepare(fixture);
    return this.startPrepared({ fn: options.handler ? { ...fn, handler: options.handler } : fn, workDir }, options.env);
  }

  startPrepared({ fn, workDir }: PreparedFunction, env: Record<string, string> = {}): ShimProcess {
    const shim = new ShimProcess(this.runtime.command(fn, workDir), fn, env);
    this.running.push(shim);
    return shim;
  }

  /** Starts the shim on a fixture and waits for its ready frame. */
  async startReady(fixture: string, options: StartOptions = {}): Promise<ShimProcess> {
    const shim = await this.start(fixture, options);
    const first = await shim.next();
    if (first.header.type !== 'ready') {
      throw new Error(`the shim sent ${JSON.stringify(first.header)} instead of ready; stderr:\n${shim.stderr}`);
    }
    return shim;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.running.splice(0).map((shim) => shim.stop()));
  }

  async cleanup(): Promise<void> {
    await this.stopAll();
    this.prepared.clear();
    this.preparedBefore = undefined;
    await Promise.all(this.tempDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  }
}
