// Spawning through native/spawn.c (a posix_spawn-style clone(CLONE_VM | CLONE_VFORK)) rather than child_process:
// libuv fork()s the whole controller before exec, which costs milliseconds of CPU per spawn in a large Node
// process; a vfork-style clone copies nothing. Used where a spawn is on the hot path (criu restore, once per
// prebaked start), and wherever the child must join an instance's cgroups before it runs.
import { closeSync, openSync } from 'node:fs';
import { loadNativeAddon } from './native.ts';
import type { OwnerProcess } from './owner.ts';

export interface SpawnAddon {
  /** Starts `file` (searched on PATH without a slash) with the child's fd i = fds[i]; returns its pid. */
  spawn(
    file: string,
    argv: string[],
    fds: number[],
    onExit: (code: number | null, signal: string | null) => void,
    options?: { env?: string[]; cwd?: string; cgroupProcs?: string[] },
  ): number;
}

export function loadSpawnAddon(): SpawnAddon {
  return loadNativeAddon<SpawnAddon>('spawn');
}

export interface SpawnOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** cgroup.procs files the child joins before exec (an instance's cgroups, src/cgroup/). */
  cgroupProcs?: string[];
}

export interface ProcessExit {
  exitCode?: number;
  signal?: string;
}

/** A child started by native/spawn.c, with the parts of a ChildProcess that an OwnerProcess needs. */
export class SpawnedProcess implements OwnerProcess {
  readonly pid: number;
  readonly spawnargs: string[];
  /** The exit code; null while running, and (as for a ChildProcess) when a signal ended it. */
  exitCode: number | null = null;
  signalCode: string | null = null;
  private exited = false;
  private readonly done: Promise<ProcessExit>;
  private resolveDone!: (exit: ProcessExit) => void;

  /**
   * Spawns `file` with `args`; the child's fd i is fds[i] (give 0..2 too), /dev/null where fds[i] is null.
   * Without `options.env` the child gets the controller's environment; without `options.cwd`, its working
   * directory. Whoever spawns it owns it: an instance (its owner process) kills it at its end.
   */
  constructor(file: string, args: string[], fds: (number | null)[], options: SpawnOptions = {}) {
    this.spawnargs = [file, ...args];
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    // The child gets its own copy of /dev/null; ours is closed once it has (close-on-exec, as Node opens every
    // fd, so no other child inherits it meanwhile).
    const devNull = fds.includes(null) ? openSync('/dev/null', 'r+') : undefined;
    try {
      this.pid = this.start(
        file,
        args,
        fds.map((fd) => fd ?? devNull!),
        options,
      );
    } finally {
      if (devNull !== undefined) closeSync(devNull);
    }
  }

  private start(file: string, args: string[], fds: number[], options: SpawnOptions): number {
    return loadSpawnAddon().spawn(
      file,
      [file, ...args],
      fds,
      (code, signal) => {
        this.exited = true;
        this.exitCode = code;
        this.signalCode = signal;
        this.resolveDone({ ...(code !== null && { exitCode: code }), ...(signal !== null && { signal }) });
      },
      {
        ...(options.env && { env: Object.entries(options.env).map(([name, value]) => `${name}=${value}`) }),
        ...(options.cwd && { cwd: options.cwd }),
        ...(options.cgroupProcs && { cgroupProcs: options.cgroupProcs }),
      },
    );
  }

  /** Sends `signal` unless the child has been reaped; false when it could not be sent. */
  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.exited) return false;
    try {
      return process.kill(this.pid, signal);
    } catch {
      return false;
    }
  }

  // biome-ignore lint/suspicious/noThenProperty: awaitable by design, as execa's child is
  then<T1 = ProcessExit, T2 = never>(
    onFulfilled?: ((value: ProcessExit) => T1 | PromiseLike<T1>) | null,
    onRejected?: ((reason: unknown) => T2 | PromiseLike<T2>) | null,
  ): Promise<T1 | T2> {
    return this.done.then(onFulfilled, onRejected);
  }
}
