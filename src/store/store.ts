// The image store: everything prebake keeps under its home directory.
//
//   <home>/functions/<name>/current            symlink to builds/<build id>, swapped atomically on publish
//   <home>/functions/<name>/builds/<id>/       meta.json, images/ (criu's), dump.log, code/ (the deployed code);
//                                              root only (0700, meta.json and images 0600); bundled whole by src/bundle
//   <home>/functions/<name>.lock               proper-lockfile's lock: one build or removal at a time
//   <home>/prepared/<name>-<digest>/           what a runtime prepared (e.g. compiled classes); outlives builds
//   <home>/tmp/                                work renamed into place when done (prepared files, bundle imports)
//   <home>/run/                                per-instance work dirs of restores (criu's log and pidfile, /tmp's mount point)
//   <home>/sandbox/root-<key>/                 roots of instances' views: mount points, a few /etc files
//
// A build is made in its final directory, since its instance runs from code/ there and the image records that
// path; it becomes visible only when publish points `current` at it.
//
// Temp and run dirs carry the PID of the process that made them, so a later process can sweep what a crashed
// one left behind without touching the work of one that still runs; the process removes those it still has
// (and builds it did not publish) when it exits (a SIGTERM'd `prebake invoke` included).
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { homeTag } from '../cgroup/host.ts';
import { PrebakeError } from '../errors.ts';
import type { PipeInodes } from '../launch/pipes.ts';
import type { SandboxPlan } from '../launch/sandbox-plan.ts';
import { currentNetworkMode, type FunctionSpec, isFunctionName, type RuntimeName, type StoredNetworkMode } from '../manifest/schema.ts';
import { processAlive } from '../process-alive.ts';
import type { Interpreter } from '../runtimes/runtime.ts';
import { schemaProblem } from '../validate.ts';
import { type ImageFiles, ImageVerifier } from './image-files.ts';
import { imageMetaCheck } from './meta-schema.ts';

// 2: instances run sandboxed (meta.sandbox); 3: from the build's copy of the code, with a recorded interpreter.
// An image of an older format is stale.
export const META_FORMAT = 3;

/** What the build's clone-uniqueness check (src/bake/clone-check.ts) found, stored with the image. */
export interface CloneCheck {
  /** Result fields (paths such as `$.id`) equal in two clones yet different between two plain starts. */
  sharedPaths: string[];
  /** The function turned the check off (`"cloneCheck": false`). */
  off?: true;
  /** Why the check could not compare (the probe event failed), when it could not. */
  skipped?: string;
}

/** What a build records: everything a restore and `prebake ls` need. */
export interface ImageMeta {
  format: typeof META_FORMAT;
  buildId: string;
  name: string;
  runtime: RuntimeName;
  spec: FunctionSpec;
  sourceDigest: string;
  sourceFingerprint: string;
  /** Directory the runtime prepared for this source (see RuntimeAdapter.prepare). */
  preparedDir: string;
  builtAt: string;
  buildMs: number;
  initMs: number;
  warmupInvocations: number;
  imageBytes: number;
  criuVersion: string;
  /** Which criu build dumped it: "lean static, sha256 …" (see criu/build-info.ts; absent in older images). */
  criuBuild?: string;
  runtimeVersion: string;
  /** The interpreter the build ran, which every start of this build runs too. */
  interpreter: Interpreter;
  pipeInodes: PipeInodes;
  /** What the build's clone-uniqueness check found (absent in images built before it existed). */
  cloneCheck?: CloneCheck;
  /** Every file of images/ by name: its sha256 and size (see image-files.ts). */
  files: ImageFiles;
  /** Set when the image must be rebuilt before it is restored (a bundle imported with --force: says why). */
  rebuildReason?: string;
  /**
   * When a bundle brought this build here. Its `spec.dir` is then where it was built elsewhere: information only
   * (the code runs from the entry's code/, and nothing of prebake's looks for instances by that path).
   */
  importedAt?: string;
  /** The instance's sandbox at the snapshot: a restore recreates the same view. */
  sandbox: SandboxPlan;
}

export interface StoredImage {
  meta: ImageMeta;
  buildDir: string;
  imageDir: string;
  /** The function's code as deployed by this build: what its instances run. */
  codeDir: string;
}

/** PREBAKE_ERR_UNKNOWN_FUNCTION: the store holds no function `name` (each surface says how to list or add one). */
export function unknownFunction(name: string): PrebakeError {
  return new PrebakeError('PREBAKE_ERR_UNKNOWN_FUNCTION', `no function named "${name}" is built here`, { functionName: name });
}

// A build's meta.json, checked against its schema. Which directory to build again (`details.dir`) is known
// when the file says it; `details.reason` tells the surfaces what happened: unreadable, other-version, invalid.
async function readMeta(name: string, file: string): Promise<ImageMeta> {
  const notBuilt = (reason: string, what: string, dir?: unknown, cause?: unknown) =>
    new PrebakeError('PREBAKE_ERR_NOT_BUILT', `function "${name}": its image metadata ${file} ${what}`, {
      cause,
      functionName: name,
      details: { reason, file, ...(typeof dir === 'string' && { dir }) },
    });
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw notBuilt('unreadable', `is unreadable: ${(error as Error).message}`, undefined, error);
  }
  const record = typeof parsed === 'object' && parsed !== null ? (parsed as { format?: unknown; spec?: { dir?: unknown } }) : {};
  if (record.format !== META_FORMAT) {
    throw notBuilt(
      'other-version',
      `was written by another version of prebake (format ${String(record.format)}, not ${META_FORMAT})`,
      record.spec?.dir,
    );
  }
  const problem = schemaProblem(imageMetaCheck, parsed, 'the file');
  if (problem) throw notBuilt('invalid', `is not valid: ${problem}`, record.spec?.dir);
  return withCurrentNetworkMode(parsed as ImageMeta);
}

// An image built when "host" was called "default" keeps its mode under today's name (the file is not rewritten).
function withCurrentNetworkMode(meta: ImageMeta): ImageMeta {
  const stored = meta as unknown as { spec: { network: StoredNetworkMode }; sandbox: { network: StoredNetworkMode } };
  return {
    ...meta,
    spec: { ...meta.spec, network: currentNetworkMode(stored.spec.network) },
    sandbox: { ...meta.sandbox, network: currentNetworkMode(stored.sandbox.network) },
  };
}

/** Where the code of the build in `buildDir` lives (the sandbox mounts it as the function's directory). */
export function codeDirOf(buildDir: string): string {
  return path.join(buildDir, 'code');
}

/** The function as its instances run it: the build's copy of the code, with the interpreter the build ran. */
export function deployedSpec(image: StoredImage): FunctionSpec {
  return { ...image.meta.spec, dir: image.codeDir, interpreter: image.meta.interpreter.path };
}

function storedImage(meta: ImageMeta, buildDir: string): StoredImage {
  return { meta, buildDir, imageDir: path.join(buildDir, 'images'), codeDir: codeDirOf(buildDir) };
}

const LOCK_RETRY = { retries: 300, minTimeout: 100, maxTimeout: 1_000, factor: 1.5 };

// Work dirs of this process still in use: removed synchronously if the process exits with them. The exit hook
// is registered with the first work dir, once: importing the store has no effect on the process.
const workDirs = new Set<string>();
let exitHookRegistered = false;
function removeWorkDirsAtExit(): void {
  if (exitHookRegistered) return;
  exitHookRegistered = true;
  process.once('exit', () => {
    for (const dir of workDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** A work dir that this process removes at exit unless released before. */
async function ownedWorkDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  return owned(await mkdtemp(prefix));
}

/** `dir`, made by this process: removed at its exit unless `remove` ran first. */
function owned(dir: string): { dir: string; remove: () => Promise<void> } {
  removeWorkDirsAtExit();
  workDirs.add(dir);
  return { dir, remove: () => rm(dir, { recursive: true, force: true }).finally(() => workDirs.delete(dir)) };
}

export class ImageStore {
  readonly home: string;
  /** The home's identity in its instances' cgroup names (cgroup/host.ts): each home sweeps only its own. */
  readonly homeTag: string;
  /** What this process has verified of the images it restores. */
  private readonly verifier = new ImageVerifier();
  /** The last build read per function, with where it was read from. */
  private readonly known = new Map<string, { buildDir: string; metaInode: number | undefined; image: StoredImage }>();

  constructor(home: string) {
    this.home = home;
    this.homeTag = homeTag(home);
  }

  private get functionsDir(): string {
    return path.join(this.home, 'functions');
  }

  // Every path under functions/ goes through here: a name that is not a function name ("../../etc", "x.lock")
  // would point outside the function's own directory.
  private functionDir(name: string): string {
    if (!isFunctionName(name)) {
      throw new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `"${name}" is not a function name`, {
        hint: 'a function name is lower-case letters, digits, ".", "_" and "-", at most 63, not ending in ".lock"',
      });
    }
    return path.join(this.functionsDir, name);
  }

  async init(): Promise<void> {
    for (const dir of ['functions', 'prepared', 'tmp', 'run']) await mkdir(path.join(this.home, dir), { recursive: true });
  }

  /** Holds the function's lock until the returned release is called. Waits for another holder, up to minutes. */
  async lock(name: string, options: { wait?: boolean } = {}): Promise<() => Promise<void>> {
    // Outside the try: an invalid name is bad input, not a lock held by someone else.
    const dir = this.functionDir(name);
    await this.init();
    try {
      return await lockfile.lock(dir, {
        realpath: false,
        lockfilePath: `${dir}.lock`,
        stale: 30_000,
        retries: options.wait === false ? 0 : LOCK_RETRY,
      });
    } catch (error) {
      throw new PrebakeError('PREBAKE_ERR_LOCKED', `function "${name}" is locked by another build or removal`, {
        cause: error,
        functionName: name,
        hint: 'wait for it to finish; a lock left by a crashed process goes stale after 30 s',
      });
    }
  }

  /** Where a published build of `name` lives. */
  functionBuildDir(name: string, buildId: string): string {
    return path.join(this.functionDir(name), 'builds', buildId);
  }

  /**
   * A fresh directory (0711) for a build in progress, at its final place; the caller removes it on failure or
   * publishes it, and this process removes it at exit unless published. Call with the lock held. A kill -9
   * leaves it behind until the next publish removes it.
   */
  async createBuildDir(name: string): Promise<{ buildId: string; dir: string; remove: () => Promise<void> }> {
    // Build ids start with their time, so their sort is their age.
    const buildId = `${new Date().toISOString().replace(/[-:.]/g, '')}-${randomUUID().slice(0, 8)}`;
    const dir = this.functionBuildDir(name, buildId);
    await mkdir(path.dirname(dir), { recursive: true });
    await mkdir(dir, { mode: 0o700 });
    // Searchable by others (not listable): the build's instance binds code/ from inside its user namespace,
    // where host root has no more rights than anyone; makeRestorable narrows it after the dump.
    await chmod(dir, 0o711);
    return { buildId, ...owned(dir) };
  }

  /**
   * A fresh directory (0700) under tmp/ for work renamed into place when done (a bundle being imported); the
   * caller removes it, and this process removes it at exit.
   */
  async createWorkDir(label: string): Promise<{ dir: string; remove: () => Promise<void> }> {
    await this.init();
    return ownedWorkDir(path.join(this.home, 'tmp', `${label}-${process.pid}-`));
  }

  /** A fresh work dir for one restore; the caller removes it when the instance ends. */
  async createRunDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
    // On every prebaked start: synchronous calls, and the home's dirs made only when missing, take 0.12 ms
    // (p50 of 35 starts) where six trips through libuv's thread pool took 0.46.
    const prefix = path.join(this.home, 'run', `restore-${process.pid}-`);
    let dir: string;
    try {
      dir = mkdtempSync(prefix);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      await this.init();
      dir = mkdtempSync(prefix);
    }
    const runDir = owned(dir);
    try {
      // Searchable by others: criu opens what the restore stages in it from inside the clone's user namespace,
      // where host root has no more rights than anyone (docs/SANDBOX.md).
      chmodSync(dir, 0o711);
    } catch (error) {
      await runDir.remove();
      throw error;
    }
    return runDir;
  }

  /** Where the roots of instances' views are made (launch/skeleton.ts); shared by every function. */
  get sandboxDir(): string {
    return path.join(this.home, 'sandbox');
  }

  /** Throws PREBAKE_ERR_IMAGE_CORRUPT unless `image`'s files are as built (a stat per file once verified). */
  assertIntact(image: StoredImage): Promise<void> {
    return this.verifier.assertIntact(image);
  }

  /** Hashes every file of `image` and compares with its record (`prebake verify`). */
  verifyInFull(image: StoredImage): Promise<void> {
    return this.verifier.verifyInFull(image);
  }

  /** `key`: a hex digest of what the prepared files depend on. */
  preparedDir(name: string, key: string): string {
    return path.join(this.home, 'prepared', `${name}-${key.replace(/^sha256:/, '').slice(0, 16)}`);
  }

  /**
   * The prepared directory of `name` for `key` (see preparedDir), made once by `fill` (a runtime compiling
   * classes) in a work dir and renamed into place, so that a concurrent caller sees all of it or none; shared
   * by builds and plain starts.
   */
  async prepared(name: string, key: string, fill: (dir: string) => Promise<void>): Promise<string> {
    const target = this.preparedDir(name, key);
    if (
      await stat(target).then(
        () => true,
        () => false,
      )
    ) {
      // Used now: the sweep of unused prepared dirs leaves one alone for an hour after (unreferenced.ts).
      const now = new Date();
      await utimes(target, now, now).catch(() => {});
      return target;
    }
    const work = await this.createWorkDir(`prepare-${name}`);
    try {
      await fill(work.dir);
      // mkdtemp made it 0700; instances, which run as an unprivileged uid, read it (docs/SANDBOX.md).
      await chmod(work.dir, 0o755);
      await rename(work.dir, target).catch((error: NodeJS.ErrnoException) => {
        // Another process prepared the same source first: theirs is as good as ours.
        if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
      });
    } finally {
      await work.remove();
    }
    return target;
  }

  /**
   * Points `current` at a finished build (made by createBuildDir, or moved into place from `buildDir`),
   * atomically: a concurrent reader sees the old build or the new one, never half of either. The build it replaces stays until the next publish, so
   * that a restore which read the old `current` a moment ago can finish; any other build (older ones, or
   * one a crash left half-made) is removed. Call with the lock held.
   */
  async publish(buildDir: string, meta: ImageMeta): Promise<StoredImage> {
    const fnDir = this.functionDir(meta.name);
    const buildsDir = path.join(fnDir, 'builds');
    await mkdir(buildsDir, { recursive: true });
    // Root only: the function's env is in meta.json.
    await writeFile(path.join(buildDir, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`, { mode: 0o600 });
    const finalDir = this.functionBuildDir(meta.name, meta.buildId);
    if (buildDir !== finalDir) {
      // A build made elsewhere (a bundle being imported) moves into place. The same build again (a bundle
      // imported twice): the old copy moves aside first, so that a restore holding its files open keeps them,
      // and goes once the new one is in place.
      const replaced = await rename(finalDir, `${buildDir}.replaced`).then(
        () => `${buildDir}.replaced`,
        () => undefined,
      );
      await rename(buildDir, finalDir);
      if (replaced) await rm(replaced, { recursive: true, force: true });
    }
    workDirs.delete(buildDir);
    const previous = await readlink(path.join(fnDir, 'current')).then(
      (target) => path.basename(target),
      () => undefined,
    );
    const nextLink = path.join(fnDir, `.current-${randomBytes(4).toString('hex')}`);
    await symlink(path.join('builds', meta.buildId), nextLink);
    await rename(nextLink, path.join(fnDir, 'current'));
    for (const old of await readdir(buildsDir)) {
      if (old !== meta.buildId && old !== previous) await rm(path.join(buildsDir, old), { recursive: true, force: true });
    }
    return storedImage(meta, finalDir);
  }

  /** The function's current image; PREBAKE_ERR_UNKNOWN_FUNCTION when it has none. */
  async require(name: string): Promise<StoredImage> {
    const image = await this.get(name);
    if (!image) throw unknownFunction(name);
    return image;
  }

  /** The function's current image, or undefined when it has none. */
  async get(name: string): Promise<StoredImage | undefined> {
    const current = path.join(this.functionDir(name), 'current');
    let target: string;
    try {
      // Every invocation asks, so this is the daemon's hot path: a synchronous readlink costs microseconds,
      // where a trip through libuv's thread pool (busy with the file work of restores) cost up to 2 ms.
      target = readlinkSync(current);
    } catch {
      return undefined;
    }
    const buildDir = path.resolve(this.functionDir(name), target);
    // A published build never changes (a bundle imported again replaces it whole, with a new meta.json): its
    // metadata is read once per meta.json inode.
    const metaInode = statSync(path.join(buildDir, 'meta.json'), { throwIfNoEntry: false })?.ino;
    const known = this.known.get(name);
    if (known && known.buildDir === buildDir && known.metaInode === metaInode) return known.image;
    const meta = await readMeta(name, path.join(buildDir, 'meta.json'));
    const image = storedImage(meta, buildDir);
    this.known.set(name, { buildDir, metaInode, image });
    return image;
  }

  async list(): Promise<ImageMeta[]> {
    const names = await readdir(this.functionsDir).catch(() => [] as string[]);
    const metas: ImageMeta[] = [];
    for (const name of names.filter((n) => !n.endsWith('.lock')).sort()) {
      const stored = await this.get(name).catch(() => undefined);
      if (stored) metas.push(stored.meta);
    }
    return metas;
  }

  /** Removes a function's images and prepared files. Returns false when there was nothing to remove. */
  async remove(name: string): Promise<boolean> {
    const fnDir = this.functionDir(name);
    const existed = await stat(fnDir).then(
      () => true,
      () => false,
    );
    const release = await this.lock(name);
    try {
      await rm(fnDir, { recursive: true, force: true });
      const prepared = await readdir(path.join(this.home, 'prepared')).catch(() => [] as string[]);
      for (const dir of prepared.filter((d) => d.startsWith(`${name}-`) && /^[0-9a-f]{16}$/.test(d.slice(name.length + 1)))) {
        await rm(path.join(this.home, 'prepared', dir), { recursive: true, force: true });
      }
    } finally {
      await release();
    }
    return existed;
  }

  /** Removes temp and run dirs whose creating process is gone (a crash, a kill -9). */
  async sweep(): Promise<number> {
    let removed = 0;
    for (const area of ['tmp', 'run']) {
      const dir = path.join(this.home, area);
      for (const entry of await readdir(dir).catch(() => [] as string[])) {
        const pid = Number(/-(\d+)-[^-]+$/.exec(entry)?.[1]);
        if (Number.isInteger(pid) && !processAlive(pid)) {
          await rm(path.join(dir, entry), { recursive: true, force: true });
          removed++;
        }
      }
    }
    return removed;
  }
}

/** Total bytes of the files under `dir`. */
export async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(path.join(entry.parentPath, entry.name))).size;
  }
  return total;
}
