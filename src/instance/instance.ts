// A running function instance, however it started (plain start, build, or restore): the controller's side
// of the protocol in docs/PROTOCOL.md, its logs, and its end. Whoever creates an Instance calls end() on every
// path; it is alive in its owner's registry (registry.ts) until its end is complete, for counting and for the
// owner's last-resort kill at exit.

import type { InstanceCgroup } from '../cgroup/instance-cgroup.ts';
import { type ErrorCode, type FunctionErrorInfo, PrebakeError } from '../errors.ts';
import { outsideView } from '../launch/missing-path.ts';
import type { OwnerProcess } from '../launch/owner.ts';
import type { InstancePipes } from '../launch/pipes.ts';
import type { ViewOp } from '../launch/view-ops.ts';
import type { NetworkMode } from '../manifest/schema.ts';
import { ChannelError, ControlChannel } from './channel.ts';
import { type Frame, LAMBDA_PAYLOAD_BYTES } from './frames.ts';
import { type LambdaContextFields, lambdaContextFields, lambdaHeader, logStreamName } from './lambda-context.ts';
import { LogCollector } from './logs.ts';
import type { InstanceRegistry } from './registry.ts';

const END_GRACE_MS = 5_000;
const LOG_DRAIN_MS = 200;
// Enough for a Python traceback's last frames or a Node SyntaxError with its source line and caret.
const STDERR_TAIL_LINES = 12;

export interface InstanceOptions {
  functionName: string;
  /** The process whose exit means the instance is gone (unshare, or criu restoring in the foreground). */
  owner: OwnerProcess;
  pipes: InstancePipes;
  /** Host PID of the instance's PID-namespace init; killing it ends the whole instance. */
  initPid: () => Promise<number>;
  /** Whether it sends `ready` by itself (a launched instance, the default) or is a restored clone. */
  restored?: boolean;
  /**
   * The cgroup every process of the instance runs in (the owner included): end() kills all of it and removes
   * it, and a process the kernel killed for memory is told by it. Without one (tests of the protocol), end()
   * kills the namespace init.
   */
  cgroup?: InstanceCgroup;
  /** The registry of the instances' owner: the instance is in it from now until its end is complete. */
  registry: InstanceRegistry;
}

export interface InvokeOptions {
  requestId: string;
  timeoutMs: number;
  /** The largest result taken (default DEFAULT_RESULT_LIMIT_BYTES); past it, RESULT_TOO_LARGE and the instance ends. */
  resultLimitBytes?: number;
  /** Lambda's context fields the caller knows (an ARN with its region, a client context); defaults for the rest. */
  lambda?: Partial<LambdaContextFields>;
}

/** The largest result taken by default: Lambda's limit for a synchronous invocation's response. */
export const DEFAULT_RESULT_LIMIT_BYTES = LAMBDA_PAYLOAD_BYTES;

export interface InvokeResult {
  /** The handler's result as JSON text. */
  body: Buffer;
  runMs: number;
}

export class Instance {
  readonly functionName: string;
  /** Its log stream's name in Lambda's context: one per instance, as Lambda has one per execution environment. */
  readonly logStream = logStreamName();
  readonly owner: InstanceOptions['owner'];
  readonly logs: LogCollector;
  private readonly cgroup: InstanceCgroup | undefined;
  private readonly registry: InstanceRegistry;
  private readonly channel: ControlChannel;
  private readonly resolveInitPid: () => Promise<number>;
  private knownInitPid: number | undefined;
  private ending: Promise<void> | undefined;
  private readonly endListeners: (() => void)[] = [];

  constructor(options: InstanceOptions) {
    this.functionName = options.functionName;
    this.owner = options.owner;
    this.resolveInitPid = options.initPid;
    this.cgroup = options.cgroup;
    this.channel = new ControlChannel(options.pipes.controlOut.read, options.pipes.controlIn.write, !options.restored);
    // An instance that breaks the protocol is ended at once, even while idle (a warm instance flooding frames).
    this.channel.onViolation = () => void this.end();
    this.logs = new LogCollector(options.pipes.stdout.read, options.pipes.stderr.read);
    this.registry = options.registry;
    this.registry.add(this);
    // When the owner goes, the instance is gone: fail any wait at once rather than at its timeout.
    void this.owner.then(() => this.channel.close());
  }

  /** The cgroup.procs files of its cgroup (none without one): a helper spawned for it joins them. */
  get cgroupProcs(): string[] {
    return this.cgroup?.procsFiles ?? [];
  }

  get ended(): boolean {
    return this.ending !== undefined;
  }

  async initPid(): Promise<number> {
    this.knownInitPid ??= await this.resolveInitPid();
    return this.knownInitPid;
  }

  /**
   * Waits for the end of init; returns the init time the shim measured. A failure carries the end of the runtime's
   * stderr; one on a file outside the instance's view (`context.view`) says so and names "readOnlyPaths"; else
   * `context.interpreter`, the binary that runs the function, is named, since a module missing from one python is
   * often installed in another.
   */
  async waitReady(timeoutMs: number, context: InitContext = {}): Promise<number> {
    const frame = await this.expect('ready', timeoutMs, {
      timeout: () =>
        this.fail(
          'PREBAKE_ERR_INIT_TIMEOUT',
          `init did not finish within ${timeoutMs} ms`,
          'make init faster or raise timeoutMs in function.json',
        ),
      closed: (exit) => this.initFailure(`the runtime exited during init (${exit})`, context),
      frame: (f) => (f.header.type === 'init-error' ? this.initFailure('init failed', context, f) : undefined),
    });
    const initMs = Number(frame.header.initMs);
    return Number.isFinite(initMs) ? initMs : 0;
  }

  private async initFailure(what: string, context: InitContext, frame?: Frame): Promise<PrebakeError> {
    // An exited runtime's last words may still be in the pipe.
    if (!frame) await this.logs.drained(LOG_DRAIN_MS);
    const stderr = this.logs.tail('stderr', STDERR_TAIL_LINES);
    const reported = frame && functionErrorOf(frame);
    const said = [reported && `${reported.message}\n${reported.stack ?? ''}`, stderr].filter(Boolean).join('\n');
    const outside = context.view ? await outsideView(context.view, said) : undefined;
    const { interpreter } = context;
    let suffix = interpreter ? ` (interpreter: ${interpreter})` : '';
    let hint =
      interpreter &&
      `${frame ? 'fix the init error' : 'see the function logs (--logs)'}; another interpreter is chosen with "interpreter" in function.json`;
    if (outside) {
      const via = outside.link
        ? `leads outside the sandbox's view through the symbolic link ${outside.link.path} -> ${outside.link.target}`
        : "is outside the sandbox's view";
      suffix = `; ${outside.named} ${via}`;
      hint = `add "${outside.add}" to "readOnlyPaths" in function.json to let instances read it (docs/SANDBOX.md)`;
    }
    // Without --logs, the end of stderr is all a reader has of why the runtime exited.
    if (!frame && stderr) suffix += `; its stderr ended with:\n${stderr}`;
    const details = stderr ? { stderr } : undefined;
    return reported
      ? this.functionFail('PREBAKE_ERR_INIT_FAILED', what, frame!, { suffix, hint, details })
      : new PrebakeError('PREBAKE_ERR_INIT_FAILED', `function "${this.functionName}": ${what}${suffix}`, {
          functionName: this.functionName,
          hint,
          details,
        });
  }

  /** Runs the handler once. The instance ends if the invocation times out. */
  async invoke(event: Buffer | string, options: InvokeOptions): Promise<InvokeResult> {
    const started = performance.now();
    const limit = options.resultLimitBytes ?? DEFAULT_RESULT_LIMIT_BYTES;
    const lambda = lambdaHeader(lambdaContextFields(this.functionName, this.logStream, options.lambda));
    this.channel.send({ type: 'invoke', id: options.requestId, deadline: Date.now() + options.timeoutMs, ...lambda }, event, limit);
    const frame = await this.expect('result', options.timeoutMs, {
      timeout: async () => {
        await this.end();
        return this.fail(
          'PREBAKE_ERR_TIMEOUT',
          `the invocation did not finish within ${options.timeoutMs} ms; the instance was ended`,
          'raise timeoutMs in function.json, or look for a handler that never returns',
        );
      },
      closed: (exit) =>
        this.fail(
          'PREBAKE_ERR_FUNCTION_EXITED',
          `the function process exited during the invocation (${exit})`,
          'a handler must return (or throw) rather than exit the process',
        ),
      tooLarge: (bytes) =>
        this.fail(
          'PREBAKE_ERR_RESULT_TOO_LARGE',
          `the handler's result of ${bytes} bytes is over the limit of ${limit} bytes; the instance was ended`,
          'return large data by reference (a path or URL in the result), as with Lambda',
        ),
    });
    if (frame.header.id !== options.requestId) {
      throw this.fail('PREBAKE_ERR_PROTOCOL', `the instance answered request ${String(frame.header.id)} instead of ${options.requestId}`);
    }
    if (frame.header.ok !== true) throw this.functionFail('PREBAKE_ERR_FUNCTION_ERROR', 'the handler threw', frame);
    return { body: frame.body, runMs: performance.now() - started };
  }

  /** Runs the before-checkpoint hooks; afterwards the instance sits idle, ready to be dumped. */
  async checkpoint(timeoutMs: number): Promise<void> {
    this.channel.send({ type: 'checkpoint' });
    await this.expect('checkpoint-ready', timeoutMs, this.hookFailures('beforeCheckpoint', timeoutMs));
  }

  /** First words to a restored clone: reseed its randomness and run the after-restore hooks. */
  async resume(seed: string, timeoutMs: number): Promise<void> {
    this.channel.send({ type: 'resume', seed });
    await this.expect('resumed', timeoutMs, this.hookFailures('afterRestore', timeoutMs));
  }

  /** Makes a restored Python clone a fork template (docs/PROTOCOL.md, "Fork templates"); returns its thread count. */
  async becomeTemplate(timeoutMs: number): Promise<number> {
    this.channel.send({ type: 'template' });
    const frame = await this.expect('template-ready', timeoutMs, this.templateFailures('becoming a fork template', timeoutMs));
    return Number(frame.header.threads);
  }

  /**
   * Has a template fork a child with a /tmp of `tmpMb` (and a network namespace of its own for "none" and "outbound"; able to
   * create user namespaces only with `userNamespaces`): the child's pid in the template's PID namespace, and the
   * template's fds of the controller's ends of the child's pipes, which it holds until release().
   */
  async fork(
    tmpMb: number,
    network: NetworkMode,
    userNamespaces: boolean,
    timeoutMs: number,
  ): Promise<{ pid: number; fds: Record<string, number> }> {
    this.channel.send({ type: 'fork', tmpMb, network, userNamespaces });
    const frame = await this.expect('forked', timeoutMs, this.templateFailures('forking a child', timeoutMs));
    const { pid, fds } = frame.header as { pid?: unknown; fds?: unknown };
    if (typeof pid !== 'number' || typeof fds !== 'object' || fds === null) {
      throw this.fail('PREBAKE_ERR_PROTOCOL', 'the fork template answered "forked" without a pid and fds');
    }
    return { pid, fds: fds as Record<string, number> };
  }

  /** Tells a template to close its copies of the last child's pipe ends, now that the controller holds them. */
  async release(timeoutMs: number): Promise<void> {
    this.channel.send({ type: 'release' });
    await this.expect('released', timeoutMs, this.templateFailures('releasing a child', timeoutMs));
  }

  /** Ends the instance and everything in its PID namespace; waits until its owner is reaped. Idempotent. */
  end(): Promise<void> {
    if (!this.ending) {
      this.ending = this.terminate();
      for (const listener of this.endListeners.splice(0)) listener();
    }
    return this.ending;
  }

  /** Calls `listener` once when the instance starts ending, by whoever's hand (at once if it has). */
  onEnd(listener: () => void): void {
    if (this.ending) listener();
    else this.endListeners.push(listener);
  }

  /** Synchronous last resort at process exit. */
  killNow(): void {
    this.cgroup?.killNow();
    try {
      if (this.knownInitPid) process.kill(this.knownInitPid, 'SIGKILL');
    } catch {
      // already gone
    }
    this.owner.kill('SIGKILL');
  }

  private async terminate(): Promise<void> {
    try {
      if (this.cgroup) {
        // Every process of the instance at once, whatever its state: a criu stopped mid-restore, the tree it
        // was restoring, processes the function forked. A failure is left to the next start's sweep.
        await this.cgroup.end().catch((error: unknown) => process.emitWarning(error as Error));
      } else {
        await this.killInit();
      }
      const reaped = await Promise.race([this.owner.then(() => true), sleep(END_GRACE_MS).then(() => false)]);
      if (!reaped) {
        this.owner.kill('SIGKILL');
        await this.owner;
      }
      await this.logs.drained(LOG_DRAIN_MS);
    } finally {
      this.channel.close();
      this.logs.close();
      this.registry.delete(this);
    }
  }

  private async killInit(): Promise<void> {
    const pid = await this.initPid().catch(() => undefined);
    if (pid !== undefined && this.owner.exitCode === null) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    } else {
      this.owner.kill('SIGKILL');
    }
  }

  private hookFailures(phase: string, timeoutMs: number): FrameExpectations {
    return {
      timeout: () => this.fail('PREBAKE_ERR_HOOK_FAILED', `the ${phase} hooks did not finish within ${timeoutMs} ms`),
      closed: (exit) => this.fail('PREBAKE_ERR_FUNCTION_EXITED', `the function process exited during its ${phase} hooks (${exit})`),
      frame: (f) =>
        f.header.type === 'hook-error' ? this.functionFail('PREBAKE_ERR_HOOK_FAILED', `its ${phase} hook threw`, f) : undefined,
    };
  }

  private templateFailures(what: string, timeoutMs: number): FrameExpectations {
    return {
      timeout: () => this.fail('PREBAKE_ERR_TIMEOUT', `the fork template did not answer within ${timeoutMs} ms (${what})`),
      closed: (exit) =>
        this.fail(
          'PREBAKE_ERR_FUNCTION_EXITED',
          `the fork template exited while ${what} (${exit})`,
          'an image built before fork mode existed has a shim without it: rebuild the function',
        ),
      frame: (f) =>
        f.header.type === 'fork-error' ? this.functionFail('PREBAKE_ERR_SPAWN', `the fork template failed ${what}`, f) : undefined,
    };
  }

  /** Waits for a frame of `type`; maps every other outcome to the error `on` gives. */
  private async expect(type: string, timeoutMs: number, on: FrameExpectations): Promise<Frame> {
    let frame: Frame;
    try {
      frame = await this.channel.next(timeoutMs);
    } catch (error) {
      if (!(error instanceof ChannelError)) throw error;
      const { failure } = error;
      // A process the OOM killer ended is the cause, also of a wait that ran into its timeout (a handler waiting
      // on a child process that was killed).
      if (this.cgroup && this.cgroup.oomKills() > 0) throw await this.outOfMemory();
      if (failure.kind === 'timeout') throw await on.timeout();
      if (failure.kind === 'closed') throw await on.closed(await this.describeExit());
      await this.end();
      if (failure.kind === 'too-large' && on.tooLarge) throw on.tooLarge(failure.bytes);
      throw this.fail('PREBAKE_ERR_PROTOCOL', `${error.message}; the instance was ended`);
    }
    if (frame.header.type === type) return frame;
    const mapped = await on.frame?.(frame);
    if (mapped) throw mapped;
    throw this.fail('PREBAKE_ERR_PROTOCOL', `expected a "${type}" frame, got "${String(frame.header.type)}"`);
  }

  // The kernel killed a process for going over the memory limit: the whole instance goes, and the error says so.
  private async outOfMemory(): Promise<PrebakeError> {
    await this.end();
    return this.fail(
      'PREBAKE_ERR_OUT_OF_MEMORY',
      'the instance went over its memory limit (memoryMb) and the kernel ended it',
      'raise memoryMb in function.json, or use less memory',
    );
  }

  private async describeExit(): Promise<string> {
    const result = await Promise.race([this.owner, sleep(1_000).then(() => undefined)]);
    if (!result) return 'no exit status';
    if (result.signal) return `killed by ${result.signal}`;
    return `exit code ${result.exitCode}`;
  }

  private fail(code: ErrorCode, message: string, hint?: string): PrebakeError {
    return new PrebakeError(code, `function "${this.functionName}": ${message}`, { functionName: this.functionName, hint });
  }

  private functionFail(
    code: ErrorCode,
    what: string,
    frame: Frame,
    extra: { suffix?: string; hint?: string; details?: Record<string, unknown> } = {},
  ): PrebakeError {
    const functionError = functionErrorOf(frame);
    return new PrebakeError(
      code,
      `function "${this.functionName}": ${what}: ${functionError.type}: ${functionError.message}${extra.suffix ?? ''}`,
      {
        functionName: this.functionName,
        functionError,
        hint: extra.hint,
        details: extra.details,
      },
    );
  }
}

/** What an init failure is explained with: the binary that ran, and what the instance's view holds. */
export interface InitContext {
  interpreter?: string;
  view?: ViewOp[];
}

/** What the function reported when it threw, from an error frame. */
function functionErrorOf(frame: Frame): FunctionErrorInfo {
  const reported = frame.header.error as Partial<FunctionErrorInfo> | undefined;
  return {
    type: String(reported?.type ?? 'Error'),
    message: String(reported?.message ?? ''),
    ...(reported?.stack !== undefined && { stack: String(reported.stack) }),
  };
}

interface FrameExpectations {
  timeout: () => PrebakeError | Promise<PrebakeError>;
  closed: (exit: string) => PrebakeError | Promise<PrebakeError>;
  /** An error for an unexpected frame that means something (init-error, hook-error). */
  frame?: (frame: Frame) => PrebakeError | Promise<PrebakeError> | undefined;
  /** An error for a reply over its size limit (else a protocol error). */
  tooLarge?: (bytes: number) => PrebakeError;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
