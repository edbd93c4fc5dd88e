import { chmod, cp, mkdtemp, readdir, readlink, rm } from 'node:fs/promises';
import type { Socket as NetSocket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, expect } from 'vitest';
import { type BuildResult, buildFunction } from '../src/bake/build.ts';
import { hostCgroups } from '../src/cgroup/host.ts';
import { cgroupOwner } from '../src/cgroup/sweep.ts';
import { Criu } from '../src/criu/criu.ts';
import { isPrebakeError, type PrebakeError } from '../src/errors.ts';
import { InstanceRegistry } from '../src/instance/registry.ts';
import { listProcesses } from '../src/launch/proc.ts';
import { loadFunction } from '../src/manifest/load.ts';
import { ImageStore } from '../src/store/store.ts';

export const ROOT = path.resolve(import.meta.dirname, '..');
export const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'functions');
export const BUNDLED = path.join(ROOT, 'functions');

/**
 * A private world for one test file: a prebake home and private copies of the functions it uses, all under
 * one temp dir whose path also names every process started for it (so leftovers can be found by it).
 */
export interface Sandbox {
  root: string;
  home: string;
  store: ImageStore;
  criu: Criu;
  /** The registry of every instance the test file starts outside a daemon. */
  instances: InstanceRegistry;
  /** Copies a fixture (test/fixtures/functions) or bundled function into the sandbox; returns its path. */
  addFunction(name: string, from?: 'fixture' | 'bundled'): Promise<string>;
  /** Copies a function into the sandbox (as addFunction) and builds its image with real criu. */
  build(name: string, from?: 'fixture' | 'bundled'): Promise<BuildResult>;
  /** Processes whose command line mentions the sandbox (instances, unshare, criu). */
  processes(): Promise<string[]>;
  /** Asserts that no process of the sandbox is left (after a moment to be reaped), no work dir, no cgroup. */
  expectClean(): Promise<void>;
  /** Build and restore work dirs left under the home. */
  tempDirs(): Promise<string[]>;
  cleanup(): Promise<void>;
  /** expectClean, then cleanup whatever it found: the usual afterAll of a test file. */
  finish(): Promise<void>;
}

export async function makeSandbox(): Promise<Sandbox> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'prebake-test-'));
  // As a home and function directories must be (docs/SANDBOX.md): criu mounts from them in a user namespace.
  await chmod(root, 0o711);
  const home = path.join(root, 'home');
  const store = new ImageStore(home);
  await store.init();
  const sandbox: Sandbox = {
    root,
    home,
    store,
    criu: new Criu(),
    instances: new InstanceRegistry(),
    async addFunction(name, from = 'fixture') {
      const target = path.join(root, 'functions', name);
      await cp(path.join(from === 'fixture' ? FIXTURES : BUNDLED, name), target, { recursive: true });
      return target;
    },
    async build(name, from) {
      const dir = await sandbox.addFunction(name, from);
      return buildFunction(await loadFunction(dir), { store, criu: sandbox.criu, instances: sandbox.instances });
    },
    processes: () => processesMentioning(root),
    async expectClean() {
      expect(await settled(() => sandbox.processes())).toEqual([]);
      // An instance's work dirs go once it has ended, after its processes (the daemon ends it after answering).
      expect(await settled(() => sandbox.tempDirs())).toEqual([]);
      expect(await settled(async () => ownCgroups())).toEqual([]);
    },
    async tempDirs() {
      const found: string[] = [];
      for (const area of ['tmp', 'run']) {
        for (const entry of await readdir(path.join(home, area)).catch(() => [])) found.push(path.join(area, entry));
      }
      return found;
    },
    async cleanup() {
      await rm(root, { recursive: true, force: true });
    },
    async finish() {
      try {
        await sandbox.expectClean();
      } finally {
        await sandbox.cleanup();
      }
    },
  };
  return sandbox;
}

/**
 * Copies npm packages from prebake's own node_modules (devDependencies such as uuid@9 and nanoid@3) into a
 * function's node_modules, as `npm install` would have put them there: fixtures stay small in git and work
 * from a fresh clone.
 */
export async function addPackages(functionDir: string, packages: string[]): Promise<void> {
  for (const name of packages) {
    await cp(path.join(ROOT, 'node_modules', name), path.join(functionDir, 'node_modules', name), { recursive: true });
  }
}

/** Instance cgroups this test process made that still exist (test files run one at a time per process). */
export function ownCgroups(): string[] {
  return (hostCgroups()?.names() ?? []).filter((name) => cgroupOwner(name)?.pid === process.pid);
}

export async function processesMentioning(text: string): Promise<string[]> {
  // A zombie has an empty command line; it is gone as far as resources go.
  return [...(await listProcesses()).values()]
    .filter((info) => info.argv.join(' ').includes(text))
    .map((info) => `${info.pid}: ${info.argv.join(' ')}`);
}

/** Waits until `check` returns an empty list (processes take a moment to be reaped), or returns what is left. */
export async function settled(check: () => Promise<string[]>, timeoutMs = 3_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = await check();
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The PID namespace of a process, to tell instances (own namespace) apart. */
export async function pidNamespace(pid: number): Promise<string> {
  return readlink(`/proc/${pid}/ns/pid`);
}

/** The PrebakeError `promise` rejects with; fails the test when it resolves or rejects with something else. */
export async function prebakeFailure(promise: Promise<unknown>): Promise<PrebakeError> {
  try {
    await promise;
  } catch (error) {
    if (isPrebakeError(error)) return error;
    throw error;
  }
  throw new Error('expected a failure');
}

/**
 * A sandbox for a whole test file, with the fixtures named built before its first test; after the last, it must
 * be clean (no process, no work dir) and is removed. Returns a getter, valid once the file's tests run.
 */
export function sandboxForFile(...fixtures: string[]): () => Sandbox {
  let sandbox: Sandbox | undefined;
  beforeAll(async () => {
    sandbox = await makeSandbox();
    for (const name of fixtures) await sandbox.build(name);
  });
  afterAll(async () => {
    try {
      await sandbox?.expectClean();
    } finally {
      await sandbox?.cleanup();
    }
  });
  return () => {
    if (!sandbox) throw new Error('the sandbox exists only while the test file runs');
    return sandbox;
  };
}

export interface CliRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * `prebake ...args` run in this process (src/cli/run.ts): the same commands, streams and exit codes as
 * bin/prebake, without a Node start per call (about 0.75 s of CPU). Not for what needs a process of its
 * own (serve, signals, environment variables, a CLI beside a daemon of this process); tests of the binary
 * itself spawn it. Whatever instance the command left alive is killed, as bin/prebake's exit would.
 */
export async function runPrebake(args: string[], input?: Buffer | string): Promise<CliRun> {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const collect = (chunks: Buffer[]) =>
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(Buffer.from(chunk));
        done();
      },
    });
  const stdin = input === undefined ? new PassThrough().end() : Readable.from([Buffer.from(input)]);
  const instances = new InstanceRegistry();
  // Imported here: most files that import these helpers never run the CLI, and it loads every command.
  const { runCli } = await import('../src/cli/run.ts');
  try {
    const { exitCode } = await runCli(args, { stdin, stdout: collect(stdout), stderr: collect(stderr) }, instances);
    return { exitCode, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString() };
  } finally {
    instances.killNow();
  }
}

/** A host listener's answer to the sandbox probes, which connect and close at once (EPIPE, ECONNRESET are fine). */
export function answerSecret(socket: NetSocket): void {
  socket.on('error', () => {});
  socket.end('host secret');
}
