// The image store: everything prebake keeps under its home directory.
//
//   <home>/functions/<name>/current            symlink to builds/<build id>, swapped atomically on publish
//   <home>/functions/<name>/builds/<id>/       meta.json, images/ (criu's), dump.log; root only (0700, files 0600);
//                                              bundled whole by src/bundle
//   <home>/functions/<name>.lock               proper-lockfile's lock: one build or removal at a time
//   <home>/prepared/<name>-<digest>/           what a runtime prepared (e.g. compiled classes); outlives builds
//   <home>/tmp/                                builds in progress (same filesystem, so publish is a rename)
//   <home>/run/                                per-instance work dirs of restores (criu's log and pidfile, /tmp's mount point)
//   <home>/sandbox/root-<key>/                 roots of instances' views: mount points, a few /etc files
//
// Temp and run dirs carry the PID of the process that made them, so a later process can sweep what a crashed
// one left behind without touching the work of one that still runs; the process removes those it still has
// when it exits (a SIGTERM'd `prebake invoke` included).
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import type { SandboxPlan } from '../launch/sandbox-plan.ts';
import { PrebakeError } from '../errors.ts';
import type { CloneCheck } from '../build/clone-check.ts';
import type { PipeInodes } from '../launch/pipes.ts';
import { isFunctionName, type FunctionSpec, type RuntimeName } from '../manifest/schema.ts';
import { ImageVerifier, type ImageFiles } from './image-files.ts';

// 2: instances run sandboxed (meta.sandbox); an image of format 1 is stale.
export const META_FORMAT = 2;

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
  pipeInodes: PipeInodes;
  /** What the build's clone-uniqueness check found (absent in images built before it existed). */
  cloneCheck?: CloneCheck;
  /** Every file of images/ by name: its sha256 and size (see image-files.ts). */
  files: ImageFiles;
  /** Set when the image must be rebuilt before it is restored (a bundle imported with --force: says why). */
  rebuildReason?: string;
  /** The instance's sandbox at the snapshot: a restore recreates the same view. */
  sandbox: SandboxPlan;
}

export interface StoredImage {
  meta: ImageMeta;
  buildDir: string;
  imageDir: string;
}

const LOCK_RETRY = { retries: 300, minTimeout: 100, maxTimeout: 1_000, factor: 1.5 };

// Work dirs of this process still in use: removed synchronously if the process exits with them.
const workDirs = new Set<string>();
process.once('exit', () => {
  for (const dir of workDirs) rmSync(dir, { recursive: true, force: true });
});

/** A work dir that this process removes at exit unless released before. */
async function ownedWorkDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(prefix);
  workDirs.add(dir);
  return { dir, remove: () => rm(dir, { recursive: true, force: true }).finally(() => workDirs.delete(dir)) };
}

export class ImageStore {
  readonly home: string;
  /** What this process has verified of the images it restores. */
  private readonly verifier = new ImageVerifier();

  constructor(home: string) {
    this.home = home;
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
    await this.init();
    try {
      return await lockfile.lock(this.functionDir(name), {
        realpath: false,
        lockfilePath: `${this.functionDir(name)}.lock`,
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

  /** A fresh directory (0700) for a build in progress; the caller removes it on failure or publishes it. */
  async createBuildDir(name: string): Promise<{ dir: string; remove: () => Promise<void> }> {
    await this.init();
    return ownedWorkDir(path.join(this.home, 'tmp', `build-${name}-${process.pid}-`));
  }

  /** A fresh work dir for one restore; the caller removes it when the instance ends. */
  async createRunDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
    await this.init();
    const runDir = await ownedWorkDir(path.join(this.home, 'run', `restore-${process.pid}-`));
    // Searchable by others: criu opens what the restore stages in it from inside the clone's user namespace,
    // where host root has no more rights than anyone (docs/SANDBOX.md).
    await chmod(runDir.dir, 0o711);
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
   * Moves a finished build into place and points `current` at it, atomically: a concurrent reader sees the
   * old build or the new one, never half of either. The build it replaces stays until the next publish, so
   * that a restore which read the old `current` a moment ago can finish; older ones are removed. Call with
   * the lock held.
   */
  async publish(buildDir: string, meta: ImageMeta): Promise<StoredImage> {
    const fnDir = this.functionDir(meta.name);
    const buildsDir = path.join(fnDir, 'builds');
    await mkdir(buildsDir, { recursive: true });
    // Root only: the function's env is in meta.json.
    await writeFile(path.join(buildDir, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`, { mode: 0o600 });
    const finalDir = this.functionBuildDir(meta.name, meta.buildId);
    // The same build again (a bundle imported twice): the old copy moves aside first, so that a restore
    // holding its files open keeps them, and goes once the new one is in place.
    const replaced = await rename(finalDir, `${buildDir}.replaced`).then(() => `${buildDir}.replaced`, () => undefined);
    await rename(buildDir, finalDir);
    workDirs.delete(buildDir);
    if (replaced) await rm(replaced, { recursive: true, force: true });
    const nextLink = path.join(fnDir, `.current-${randomBytes(4).toString('hex')}`);
    await symlink(path.join('builds', meta.buildId), nextLink);
    await rename(nextLink, path.join(fnDir, 'current'));
    // Build ids start with their time, so the sort is their age.
    const older = (await readdir(buildsDir)).filter((id) => id !== meta.buildId).sort();
    for (const old of older.slice(0, -1)) await rm(path.join(buildsDir, old), { recursive: true, force: true });
    return { meta, buildDir: finalDir, imageDir: path.join(finalDir, 'images') };
  }

  /** The function's current image, or undefined when it has none. */
  async get(name: string): Promise<StoredImage | undefined> {
    const current = path.join(this.functionDir(name), 'current');
    let target: string;
    try {
      target = await readlink(current);
    } catch {
      return undefined;
    }
    const buildDir = path.resolve(this.functionDir(name), target);
    let meta: ImageMeta;
    try {
      meta = JSON.parse(await readFile(path.join(buildDir, 'meta.json'), 'utf8')) as ImageMeta;
    } catch (error) {
      throw new PrebakeError('PREBAKE_ERR_NOT_BUILT', `function "${name}": its image metadata is unreadable`, {
        cause: error,
        functionName: name,
        hint: `rebuild it: prebake build ${name}`,
      });
    }
    return { meta, buildDir, imageDir: path.join(buildDir, 'images') };
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
    const existed = await stat(fnDir).then(() => true, () => false);
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

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
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
