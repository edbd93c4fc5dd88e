// The one place that runs criu: a thin typed wrapper over its command line. Everything else in prebake asks
// this module to dump or restore. A faster driver (criu's RPC over a SOCK_SEQPACKET socket) can replace the
// CLI behind the same interface later.
import { closeSync } from 'node:fs';
import { readFile, statfs } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { PrebakeError } from '../errors.ts';
import type { OwnerProcess } from '../launch/owner.ts';
import { createPipe } from '../launch/pipes.ts';
import { SpawnedProcess } from '../launch/spawn.ts';
import { criuBinary, NATIVE_BUILD_DIR } from '../paths.ts';
import { type Breakpoints, hostBreakpoints } from './breakpoints.ts';
import { type CriuBuild, DEFAULT_KDAT_FILE, readCriuBuild } from './build-info.ts';
import { type CriuDeadlines, type CriuPhase, criuDeadlinesFromEnv, criuTimeout, runWithin, withinMs } from './deadline.ts';
import { criuEnvironment } from './environment.ts';
import { FILL_PATCH, type HugePageFill, prepareHugePageFill } from './huge-page-fill.ts';
import { ensureKdatCache, type KdatState } from './kdat.ts';

export const MIN_CRIU_VERSION = [4, 1] as const;
// What a check is about: the host, not a function.
const HOST = { label: 'this host' };
const LOG_TAIL_LINES = 15;
const PREBAKE_RESTORE = path.join(NATIVE_BUILD_DIR, 'prebake-restore');

export interface DumpOptions {
  /** Host PID of the tree's root: the init of the instance's PID namespace. */
  pid: number;
  imageDir: string;
  /** Where the log goes (a path); kept next to the image for diagnosis. */
  logFile: string;
  /** What is being dumped, for the error message ("function \"hello\""). */
  label: string;
  /** The function dumped, for the error. */
  functionName?: string;
  /** `--external` resources: the sandbox's mounts (launch/sandbox-plan.ts dumpExternals). */
  externals: string[];
}

export interface InheritedPipe {
  /** The fd number criu gets the fresh pipe end on. */
  fd: number;
  /** The inode of the pipe the image recorded. */
  inode: number;
}

export interface RestoreOptions {
  imageDir: string;
  /** A directory of this restore's own, for its log and pidfile. */
  workDir: string;
  /** Pipes to plug in, each passed to criu as fd `fd` (see `extraFds`). */
  inheritPipes: InheritedPipe[];
  /** The fds criu gets as 3, 4, ... in order; `inheritPipes` refer to them. */
  extraFds: number[];
  /** cgroup.procs files criu joins before exec, so that the tree it restores starts inside them. */
  cgroupProcs?: string[];
  /** The sandbox to restore into (launch/sandbox-plan.ts). */
  sandbox: RestoreSandbox;
  /** Restore at this nice value (1..19), a background refill; the clone gets its own priority back at the end. */
  nice?: number;
}

export interface RestoreSandbox {
  /** A directory of the restore's own where native/prebake-restore stages what criu mounts. */
  stageDir: string;
  /** The view's root (launch/skeleton.ts). */
  skeleton: string;
  /** The binds the dump recorded as external: each key on the host path to bind now. */
  mounts: Array<{ source: string; key: string }>;
  /** The key of /tmp, and its size: a fresh tmpfs filled from `tmpContent`. */
  tmpKey: string;
  tmpMb: number;
  tmpContent: string;
}

/**
 * How a restore ended: `restored` once criu has exited after a complete restore (every thread of the clone let
 * go, so the clone's exit is seen as an exit); `failed` when criu failed or the restore ended before that;
 * `timeout` when neither came within the restore deadline (the caller ends the instance, and with it criu).
 */
export type RestoreOutcome = 'restored' | 'failed' | 'timeout';

/** When each step of a restore happened (process.hrtime's CLOCK_MONOTONIC ns), filled in as they become known. */
export interface RestoreTimeline {
  /** Just before prebake-restore was spawned. */
  spawnNs: bigint;
  /** From prebake-restore's notice: its main began, it forked criu after the staging, criu exited. */
  mainNs?: bigint;
  stagedNs?: bigint;
  criuExitNs?: bigint;
  /** When the controller read the notice. */
  noticeNs?: bigint;
}

/**
 * A restore under native/prebake-restore, which runs criu detached and then owns the clone: `process` exits
 * when the clone ends (with its status), or when criu fails (with criu's).
 */
export interface RunningRestore {
  process: OwnerProcess;
  restored: Promise<RestoreOutcome>;
  timeline: RestoreTimeline;
  /** Its deadline, for the timeout's error (Criu.restoreTimeout). */
  deadlineMs: number;
  pidFile: string;
  logFile: string;
  workDir: string;
}

export class Criu {
  readonly binary: string;
  /** How long each phase may take before criu is killed (deadline.ts); PREBAKE_CRIU_DEADLINE_S by default. */
  readonly deadlines: Readonly<CriuDeadlines>;
  private kdat: Promise<KdatState> | undefined;
  private fill: Promise<HugePageFill> | undefined;
  private buildInfo: Promise<CriuBuild> | undefined;
  private hardwareBreakpoints: Promise<Breakpoints> | undefined;

  constructor(binary: string = criuBinary(), deadlines: Partial<CriuDeadlines> = {}) {
    this.binary = binary;
    this.deadlines = Object.freeze({ ...criuDeadlinesFromEnv(), ...deadlines });
  }

  /** This criu with some deadlines changed (the daemon's config), sharing what it has probed once. */
  withDeadlines(deadlines: Partial<CriuDeadlines>): Criu {
    if (Object.keys(deadlines).length === 0) return this;
    const changed = new Criu(this.binary, { ...this.deadlines, ...deadlines });
    changed.kdat = this.kdat;
    changed.fill = this.fill;
    changed.buildInfo = this.buildInfo;
    changed.hardwareBreakpoints = this.hardwareBreakpoints;
    return changed;
  }

  /** Runs criu with `args` within the `phase`'s deadline; PREBAKE_ERR_CRIU_TIMEOUT (criu and its tree killed) past it. */
  private async run(phase: CriuPhase, args: string[], about: { label: string; functionName?: string; logFile?: string } = HOST) {
    const deadlineMs = this.deadlines[`${phase}Ms`];
    const { result, timedOut } = await runWithin(this.binary, args, deadlineMs, { env: await this.environment() });
    if (timedOut) {
      const tail = (about.logFile && (await logTail(about.logFile))) || lastLines(result.all ?? '');
      throw criuTimeout({
        phase,
        deadlineMs,
        label: about.label,
        functionName: about.functionName,
        logTail: tail,
        command: [this.binary, ...args].join(' '),
      });
    }
    return result;
  }

  /** criu's version as "X.Y[.Z]"; throws PREBAKE_ERR_CRIU_MISSING when criu cannot run or is older than 4.1. */
  async version(): Promise<string> {
    const result = await this.run('check', ['--version']);
    const match = /Version:\s*(\d+)\.(\d+)(?:\.(\d+))?/.exec(result.stdout ?? '');
    if (result.failed || !match) {
      throw new PrebakeError('PREBAKE_ERR_CRIU_MISSING', `cannot run criu (${this.binary})`, {
        cause: result,
        hint: 'run scripts/setup.sh, or set PREBAKE_CRIU to a criu >= 4.1',
      });
    }
    const [major, minor] = [Number(match[1]), Number(match[2])];
    const version = match.slice(1).filter(Boolean).join('.');
    if (major < MIN_CRIU_VERSION[0] || (major === MIN_CRIU_VERSION[0] && minor < MIN_CRIU_VERSION[1])) {
      throw new PrebakeError('PREBAKE_ERR_CRIU_MISSING', `criu ${version} at ${this.binary} is too old: prebake needs >= 4.1`, {
        hint: "criu 3.x fails on current kernels' vDSO layout; run scripts/setup.sh",
      });
    }
    return version;
  }

  /** Which build this criu is (see build-info.ts); read once per process. */
  build(): Promise<CriuBuild> {
    this.buildInfo ??= readCriuBuild(this.binary);
    return this.buildInfo;
  }

  /** Once per process: give criu a kernel-probe cache where this build looks for it (see kdat.ts). */
  prepare(): Promise<KdatState> {
    this.kdat ??= Promise.all([this.build(), this.environment()]).then(
      ([build, env]) => ensureKdatCache(this.binary, build.kdatFile, env, this.deadlines.checkMs),
      () => 'unavailable' as const,
    );
    return this.kdat;
  }

  /** Once per process: whether criu may stop tasks with hardware breakpoints here (breakpoints.ts). */
  breakpoints(): Promise<Breakpoints> {
    this.hardwareBreakpoints ??= this.build()
      .then(
        (build) => build.kdatFile,
        () => DEFAULT_KDAT_FILE,
      )
      .then((kdatFile) => hostBreakpoints(path.dirname(kdatFile)));
    return this.hardwareBreakpoints;
  }

  /** What every criu run adds to the controller's environment (environment.ts). */
  async environment(): Promise<Record<string, string>> {
    return criuEnvironment(await this.breakpoints());
  }

  /**
   * Once per process: whether this criu fills restored memory with huge pages, after turning on the sizes it
   * fills with (huge-page-fill.ts); only a build with the patch does, and only then is the host touched.
   */
  hugePageFill(): Promise<HugePageFill> {
    this.fill ??= this.build().then(
      (build) =>
        build.patches.includes(FILL_PATCH)
          ? prepareHugePageFill()
          : { on: false, detail: `off: this criu is not built with ${FILL_PATCH} (scripts/setup.sh builds one that is)` },
      (error: unknown) => ({ on: false, detail: `off: ${error instanceof Error ? error.message : String(error)}` }),
    );
    return this.fill;
  }

  /** `criu check`: whether the kernel has what criu needs. */
  async check(): Promise<{ ok: boolean; output: string }> {
    const result = await this.run('check', ['check']);
    const output = (result.all ?? '').trim();
    return { ok: result.exitCode === 0 && /Looks good/.test(output), output };
  }

  /** `criu check --feature NAME`: whether criu and the kernel support one feature (`clone3_set_tid`, ...). */
  async hasFeature(name: string): Promise<boolean> {
    const result = await this.run('check', ['check', '--feature', name]);
    return result.exitCode === 0;
  }

  /** Dumps the tree rooted at `pid` into `imageDir`; the tree ends (no --leave-running). */
  async dump(options: DumpOptions): Promise<void> {
    await this.prepare();
    // Cgroups stay out of the image: each restore runs in a fresh cgroup of its own (see restore).
    // An instance's own network namespace has no firewall rules to save (no instance holds CAP_NET_ADMIN) and
    // nothing outside the dumped tree to block while it is frozen, while criu runs iptables-save and
    // iptables-restore for both, which a fresh Debian lacks (issue 23): --network-lock skip, and CR_IPTABLES
    // (environment.ts) saves an empty rule set, which a restore skips.
    const args = [
      'dump',
      '--tree',
      String(options.pid),
      '--images-dir',
      options.imageDir,
      '--log-file',
      options.logFile,
      '--manage-cgroups=ignore',
      '--network-lock',
      'skip',
      '-v2',
      ...options.externals.flatMap((external) => ['--external', external]),
    ];
    const result = await this.run('dump', args, options);
    if (result.exitCode === 0) return;
    const tail = (await logTail(options.logFile)) || lastLines(result.all ?? '');
    const details = { command: [this.binary, ...args].join(' '), exitCode: result.exitCode, signal: result.signal, logTail: tail };
    const fault = await hostFault(options.imageDir, tail, result.signal);
    if (fault) {
      const what = fault.signal ? `criu dump was killed by ${fault.signal}` : `criu dump failed: ${fault.reason}`;
      throw new PrebakeError('PREBAKE_ERR_DUMP_INTERRUPTED', `${options.label}: ${what}`, {
        cause: result,
        functionName: options.functionName,
        hint: 'a problem of the host, not of the function: free disk or memory, find what sends signals to criu, and build again',
        details,
      });
    }
    throw new PrebakeError(
      'PREBAKE_ERR_DUMP_FAILED',
      `${options.label}: criu dump failed: ${firstError(tail) ?? `exit code ${result.exitCode}`}`,
      {
        cause: result,
        functionName: options.functionName,
        hint: dumpHint(tail),
        details,
      },
    );
  }

  /** Starts `criu restore` (see RunningRestore). */
  async restore(options: RestoreOptions): Promise<RunningRestore> {
    const [env] = await Promise.all([this.environment(), this.prepare(), this.hugePageFill()]);
    const pidFile = path.join(options.workDir, 'pid');
    const logFile = path.join(options.workDir, 'restore.log');
    const { sandbox } = options;
    const staged = (name: string) => path.join(sandbox.stageDir, name);
    const criuArgs = [
      'restore',
      '--images-dir',
      options.imageDir,
      '--work-dir',
      options.workDir,
      '--log-file',
      logFile,
      '--pidfile',
      pidFile,
      '-v2',
      '--restore-detached',
      // The restored tree stays in criu's own cgroup, the instance's (cgroupProcs). By default criu puts restored
      // tasks back into the cgroups an image records (images dumped before prebake ignored cgroups: the build's).
      '--manage-cgroups=ignore',
      '--root',
      staged('root'),
      ...[...sandbox.mounts.map((mount) => mount.key), sandbox.tmpKey].flatMap((key) => ['--external', `mnt[${key}]:${staged(key)}`]),
    ];
    for (const pipe of options.inheritPipes) criuArgs.push('--inherit-fd', `fd[${pipe.fd}]:pipe:[${pipe.inode}]`);
    // prebake-restore says on this pipe, after the extra fds, when criu is done (see RunningRestore.restored).
    const ready = createPipe();
    const readyFd = 3 + options.extraFds.length;
    // criu runs inside native/prebake-restore, which stages the view's root, its binds and a fresh /tmp.
    const args = [
      '--stage',
      sandbox.stageDir,
      '--root',
      sandbox.skeleton,
      ...sandbox.mounts.flatMap((mount) => ['--bind', mount.source, mount.key]),
      '--tmp',
      sandbox.tmpKey,
      String(sandbox.tmpMb),
      '--tmp-content',
      sandbox.tmpContent,
      '--error-log',
      logFile,
      '--ready-fd',
      String(readyFd),
      ...(options.nice ? ['--nice', String(options.nice)] : []),
      '--',
      this.binary,
      ...criuArgs,
    ];
    // posix_spawn, not child_process: a fork() of the controller costs ~3 ms of CPU on every prebaked start.
    // criu logs to --log-file, so its stdio is /dev/null; the instance's pipe ends follow as fds 3, 4, ...
    // The instance made of it owns the process (its end, or its registry's kill at exit, ends it).
    let child: SpawnedProcess;
    const timeline: RestoreTimeline = { spawnNs: process.hrtime.bigint() };
    try {
      child = new SpawnedProcess(PREBAKE_RESTORE, args, [null, null, null, ...options.extraFds, ready.write], {
        ...(options.cgroupProcs && { cgroupProcs: options.cgroupProcs }),
        env: { ...definedEnv(), ...env },
      });
    } catch (error) {
      closeSync(ready.read);
      if (error instanceof PrebakeError) throw error;
      throw new PrebakeError(
        'PREBAKE_ERR_RESTORE_FAILED',
        `cannot run criu (${this.binary}): ${error instanceof Error ? error.message : String(error)}`,
        {
          cause: error,
          hint: 'run scripts/setup.sh, or set PREBAKE_CRIU to a criu >= 4.1',
          details: { command: [this.binary, ...args].join(' ') },
        },
      );
    } finally {
      closeSync(ready.write);
    }
    const deadlineMs = this.deadlines.restoreMs;
    const restored = withinMs(restoreNotice(ready.read, timeline), deadlineMs);
    return { process: child, restored, timeline, deadlineMs, pidFile, logFile, workDir: options.workDir };
  }

  /** PREBAKE_ERR_CRIU_TIMEOUT for a restore whose outcome was `timeout`; end the instance (criu's with it) after. */
  async restoreTimeout(restore: RunningRestore, label: string, functionName?: string): Promise<PrebakeError> {
    return criuTimeout({
      phase: 'restore',
      deadlineMs: restore.deadlineMs,
      label,
      functionName,
      logTail: await logTail(restore.logFile),
      command: restore.process.spawnargs.join(' '),
    });
  }

  /**
   * A PREBAKE_ERR_RESTORE_FAILED that says why, from criu's log, and carries the log's last lines; with
   * `details.transient` when the host is to blame rather than the image (criu killed, memory or disk ran out: the
   * same image may restore next time). `label` names what was restored (`function "hello"`); `fallback` is the
   * reason when nothing else gives one. Call it before ending the instance, whose end kills criu.
   */
  async restoreError(restore: RunningRestore, label: string, fallback: string, cause?: unknown): Promise<PrebakeError> {
    const tail = await logTail(restore.logFile);
    const transient = await transientCause(restore, tail);
    const known = transient ? undefined : restoreFailure(tail);
    return new PrebakeError(
      'PREBAKE_ERR_RESTORE_FAILED',
      `${label}: criu restore failed: ${transient ?? known?.reason ?? firstError(tail) ?? fallback}`,
      {
        cause,
        hint: transient
          ? 'a problem of the host, not of the image: free disk or memory and retry'
          : (known?.hint ?? 'the image may be corrupt or from another kernel or criu: rebuild it'),
        details: { command: restore.process.spawnargs.join(' '), logTail: tail, ...(transient && { transient }) },
      },
    );
  }
}

/** The controller's environment without unset names, for a child given an environment of its own. */
function definedEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

/**
 * Whether prebake-restore wrote its notice on `fd` (criu done) before the pipe closed, noting its times in
 * `timeline`; owns `fd`.
 */
function restoreNotice(fd: number, timeline: RestoreTimeline): Promise<'restored' | 'failed'> {
  return new Promise((resolve) => {
    const notice = new net.Socket({ fd, readable: true, writable: false });
    const settle = (outcome: 'restored' | 'failed') => {
      resolve(outcome);
      notice.destroy();
    };
    notice.once('data', (line: Buffer) => {
      timeline.noticeNs = process.hrtime.bigint();
      // One write under PIPE_BUF on the other side: the line comes whole.
      const times = /^R (\d+) (\d+) (\d+)/.exec(line.toString('latin1'));
      if (times) [timeline.mainNs, timeline.stagedNs, timeline.criuExitNs] = times.slice(1, 4).map((text) => BigInt(text!));
      settle('restored');
    });
    notice.once('end', () => settle('failed'));
    notice.once('error', () => settle('failed'));
  });
}

/** Why a restore failed when the host is to blame rather than the image; undefined when nothing says so. */
async function transientCause(restore: RunningRestore, log: string): Promise<string | undefined> {
  const exit = await Promise.race([
    restore.process,
    new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 1_000).unref()),
  ]);
  const fault = await hostFault(restore.workDir, log, exit?.signal);
  return fault && (fault.signal ? `criu was killed by ${fault.signal}` : fault.reason);
}

type HostFault = { reason: string; signal?: undefined } | { signal: string; reason?: undefined };

/** What the host did to a criu run that failed (`dir` holds its output); undefined when nothing says the host is to blame. */
async function hostFault(dir: string, log: string, signal: string | null | undefined): Promise<HostFault | undefined> {
  // A full disk truncates criu's log and pidfile before it can say so: ask the filesystem.
  const space = await statfs(dir).catch(() => undefined);
  if ((space && space.bavail === 0) || /No space left on device/.test(log)) return { reason: 'the disk holding the store is full' };
  if (/Cannot allocate memory|Out of memory/i.test(log)) return { reason: 'the host ran out of memory' };
  if (signal) return { signal };
  return undefined;
}

/** The first error criu reports: the cause; later ones tend to be its consequences. Restore logs prefix a PID. */
function firstError(log: string): string | undefined {
  return /^(?:\s*\d+: )?Error \([^)]*\): (.*)$/m.exec(log)?.[1]?.trim();
}

const FILE_HINT =
  'a function must not hold open, at the snapshot, a file that changes after the build: open it per ' +
  'invocation, or close it in a beforeCheckpoint hook and reopen it in afterRestore; then rebuild';

// Restore failures a function can cause, said the way its author thinks of them. criu logs paths without
// their leading slash.
function restoreFailure(log: string): { reason: string; hint: string } | undefined {
  const size = /File (\S+) has bad size (\d+) \(expect (\d+)\)/.exec(log);
  if (size) {
    return { reason: `/${size[1]} changed size since the build (${size[3]} bytes then, ${size[2]} now)`, hint: FILE_HINT };
  }
  const gone = /Can't open file (\S+) on restore: No such file or directory/.exec(log);
  if (gone) return { reason: `/${gone[1]} is gone since the build`, hint: FILE_HINT };
  return undefined;
}

// What a user can do about the dump failures a function can cause.
function dumpHint(log: string): string | undefined {
  if (/sockets?[:.]|inet|tcp|unix/i.test(log)) {
    return (
      'the function holds an open connection (a database client, a kept-alive HTTP connection) or a listening socket at the snapshot, ' +
      'which no clone could take over: close it in a beforeCheckpoint hook and reopen it in afterRestore or on first use ' +
      "(prebake already closes the idle connections of Node's fetch, Python's urllib3, requests and http.client, and Java's HttpClient)"
    );
  }
  if (/io_uring/.test(log)) return 'the function uses io_uring, which criu cannot dump';
  return undefined;
}

/** The last lines of a criu log, minus the noise every log has. */
export async function logTail(logFile: string): Promise<string> {
  return lastLines(await readFile(logFile, 'utf8').catch(() => ''));
}

function lastLines(text: string, lines = LOG_TAIL_LINES): string {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.includes("Can't setup RLIMIT_NOFILE"))
    .slice(-lines)
    .join('\n');
}
