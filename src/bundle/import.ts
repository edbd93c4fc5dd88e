// prebake import: a bundle (docs/BUNDLES.md) read as a stream into a temp dir, every file hashed on the way and
// checked against the bundle's SHA256SUMS, then published under the function's lock. Whatever goes wrong (a
// damaged or truncated stream, a mismatch, an incompatible host), the temp dir goes and nothing is published.
import { constants } from 'node:fs';
import { cp, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { Criu } from '../criu/criu.ts';
import { makeRestorable } from '../criu/image-access.ts';
import { isPrebakeError, PrebakeError } from '../errors.ts';
import { setModeNoFollow } from '../files/no-follow.ts';
import { sha256, sha256OfStream, sha256Tap } from '../files/sha256.ts';
import { namespaceRootHostId } from '../launch/sandbox-plan.ts';
import { FUNCTION_NAME_PATTERN, RUNTIMES } from '../manifest/schema.ts';
import { imageMetaCheck } from '../store/meta-schema.ts';
import type { ImageMeta, ImageStore, StoredImage } from '../store/store.ts';
import { schemaProblem } from '../validate.ts';
import { fingerprintDifferences, hostFingerprint } from './fingerprint.ts';
import { BUNDLE_FORMAT, type BundleHeader, corrupt, HEADER_NAME, LEGACY_SOURCE_PART, PARTS, parseSums, SUMS_NAME } from './format.ts';
import { localSandbox } from './local-sandbox.ts';

export interface ImportOptions {
  /** Import a bundle from an incompatible host anyway, marked for rebuild. */
  force?: boolean;
  /** The name the caller expects the bundle to carry (the daemon's PUT /functions/:name/bundle). */
  expectedName?: string;
  /** Throws when the bundle's source directory (information only) lies where this host takes no function from. */
  checkSourceDir?: (dir: string) => Promise<void>;
  /**
   * Publish the function under this name instead of the bundle's (`prebake pull --name`). Invoking by name runs
   * the build's own copy of the code, so a renamed function restores as it was built; only the restored
   * process's PREBAKE_FUNCTION_NAME, set at its start, keeps the old name.
   */
  name?: string;
}

export interface ImportResult extends StoredImage {
  /** Why the imported image must be rebuilt before it is restored (set with --force on an incompatible host). */
  rebuildReason?: string;
}

const BUILD_ID_PATTERN = /^[0-9A-Za-z][0-9A-Za-z._-]{0,127}$/;
const PREPARED_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}-[0-9a-f]{16}$/;

function parseHeader(content: string): BundleHeader {
  let header: BundleHeader;
  try {
    header = JSON.parse(content) as BundleHeader;
  } catch (error) {
    throw corrupt(`${HEADER_NAME} is not JSON`, error);
  }
  if (header?.format !== BUNDLE_FORMAT)
    throw corrupt(`format ${JSON.stringify(header?.format)} (this prebake reads format ${BUNDLE_FORMAT})`);
  if (typeof header.name !== 'string' || !new RegExp(FUNCTION_NAME_PATTERN).test(header.name))
    throw corrupt(`bad function name ${JSON.stringify(header.name)}`);
  if (typeof header.buildId !== 'string' || !BUILD_ID_PATTERN.test(header.buildId))
    throw corrupt(`bad build id ${JSON.stringify(header.buildId)}`);
  if (typeof header.spec?.dir !== 'string' || !path.isAbsolute(header.spec.dir)) throw corrupt('the spec has no absolute source directory');
  if (!(RUNTIMES as readonly string[]).includes(header.spec.runtime))
    throw corrupt(`unknown runtime ${JSON.stringify(header.spec.runtime)}`);
  if (!PREPARED_NAME_PATTERN.test(path.basename(String(header.preparedDir))))
    throw corrupt(`bad prepared dir ${JSON.stringify(header.preparedDir)}`);
  if (typeof header.fingerprint?.kernel !== 'string' || !Array.isArray(header.fingerprint.cpuFeatures))
    throw corrupt('the fingerprint is incomplete');
  return header;
}

/** `name` as a path under the temp dir, refusing anything that could land outside it or outside the layout. */
function safePath(name: string): string {
  const bare = name.replace(/\/$/, '');
  const normal = path.posix.normalize(bare);
  const [part] = normal.split('/');
  if (normal !== bare || normal.startsWith('/') || normal.split('/').includes('..') || ![...PARTS, LEGACY_SOURCE_PART].includes(part!)) {
    throw corrupt(`unexpected entry ${JSON.stringify(name)}`);
  }
  return normal;
}

// A bundle holds regular files and directories only: a link (symbolic or hard) would make a later step as root
// (the permission fix-up, a copy) reach wherever it points; devices and fifos are not a function's files.
function assertAllowedType(name: string, type: tar.Header['type']): void {
  if (type !== 'file' && type !== 'directory') {
    throw corrupt(`entry ${JSON.stringify(name)} is a ${type ?? 'entry of no type'}: a bundle holds regular files and directories only`);
  }
}

// Files are created by the import itself, never opened through a link or over something already there.
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

async function readMeta(entryDir: string, header: BundleHeader): Promise<ImageMeta> {
  let meta: ImageMeta;
  try {
    meta = JSON.parse(await readFile(path.join(entryDir, 'meta.json'), 'utf8')) as ImageMeta;
  } catch (error) {
    throw corrupt('entry/meta.json is missing or not JSON', error);
  }
  const problem = schemaProblem(imageMetaCheck, meta, 'entry/meta.json');
  if (problem) throw corrupt(`entry/meta.json is not valid: ${problem}`);
  if (meta.name !== header.name || meta.buildId !== header.buildId || meta.spec?.dir !== header.spec.dir) {
    throw corrupt('entry/meta.json names another function, build or directory than the header');
  }
  return meta;
}

/** Reads, verifies and publishes one bundle from `input`. */
export async function importBundle(store: ImageStore, criu: Criu, input: Readable, options: ImportOptions = {}): Promise<ImportResult> {
  await store.init();
  const work = await store.createWorkDir('import');
  try {
    const { header, rebuildReason } = await extractVerified(input, work.dir, store, criu, options);
    return await publishImport(store, work.dir, header, rebuildReason, options);
  } finally {
    await work.remove();
  }
}

async function extractVerified(
  input: Readable,
  workDir: string,
  store: ImageStore,
  criu: Criu,
  options: ImportOptions,
): Promise<{ header: BundleHeader; rebuildReason?: string }> {
  const extract = tar.extract();
  // Piped, not pipeline(): a refusal stops reading but leaves `input` to its owner (the daemon still answers
  // on the request's socket). An input that fails or closes early ends the extraction.
  const onInputError = (error: Error) => extract.destroy(error);
  const onInputClose = () => {
    if (!input.readableEnded) extract.destroy(corrupt('the stream was cut before its end'));
  };
  input.on('error', onInputError).on('close', onInputClose);
  input.pipe(extract);
  const seen = new Map<string, string>();
  const names = new Set<string>();
  const dirModes = new Map<string, number>();
  let header: BundleHeader | undefined;
  let sums: Map<string, string> | undefined;
  let rebuildReason: string | undefined;
  try {
    for await (const entry of extract) {
      const { name, type } = entry.header;
      if (sums) throw corrupt(`entry ${JSON.stringify(name)} after ${SUMS_NAME}`);
      assertAllowedType(name, type);
      if (!header) {
        if (name !== HEADER_NAME || type !== 'file') throw corrupt(`it starts with ${JSON.stringify(name)}, not ${HEADER_NAME}`);
        const content = await smallText(entry);
        header = parseHeader(content);
        seen.set(name, sha256(content));
        rebuildReason = await checkHost(header, store, criu, options);
        continue;
      }
      if (name === SUMS_NAME && type === 'file') {
        sums = parseSums(await smallText(entry));
        continue;
      }
      const relative = safePath(name);
      if (names.has(relative)) throw corrupt(`entry ${JSON.stringify(name)} appears twice`);
      names.add(relative);
      if (relative.split('/')[0] === LEGACY_SOURCE_PART) {
        // Bundles of older prebakes carried the code twice: verified like the rest, never written (docs/BUNDLES.md).
        if (type === 'directory') entry.resume();
        else seen.set(relative, await sha256OfStream(entry as unknown as Readable));
        continue;
      }
      const target = path.join(workDir, relative);
      await mkdir(path.dirname(target), { recursive: true });
      if (type === 'directory') {
        entry.resume();
        await mkdir(target, { recursive: true });
        dirModes.set(target, (entry.header.mode ?? 0o755) & 0o777);
        continue;
      }
      const { tap, digest } = sha256Tap();
      const file = await open(target, CREATE_FLAGS, (entry.header.mode ?? 0o644) & 0o777);
      await pipeline(entry, tap, file.createWriteStream());
      seen.set(relative, digest());
    }
  } catch (error) {
    input.unpipe(extract);
    extract.destroy();
    throw asBundleError(error);
  } finally {
    input.off('close', onInputClose);
    // Still listening: an error of an input left to its owner must not go unhandled.
    input.off('error', onInputError).on('error', () => {});
  }
  if (!header) throw corrupt('it is empty');
  if (!sums) throw corrupt(`it ends before ${SUMS_NAME} (truncated?)`);
  for (const [name, hash] of seen) {
    const expected = sums.get(name);
    if (expected === undefined) throw corrupt(`${name} is not listed in ${SUMS_NAME}`);
    if (expected !== hash) throw corrupt(`${name} does not match its sha256`);
  }
  const missing = [...sums.keys()].filter((name) => !seen.has(name));
  if (missing.length > 0) throw corrupt(`${missing.length} file(s) listed in ${SUMS_NAME} are missing, ${missing[0]} first`);
  // Last, so that a directory made read-only (an image dir kept root-only) was still writable while filled.
  for (const [dir, mode] of dirModes) await setModeNoFollow(dir, mode);
  return { header, rebuildReason };
}

// The disk or the host, not the bundle: these keep their own meaning. Anything else that goes wrong while
// reading a bundle (a bad tar header, a file where the bundle made a directory) is the bundle's fault.
const HOST_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EACCES', 'EPERM', 'EROFS', 'EMFILE', 'ENFILE', 'ENOMEM']);

function asBundleError(error: unknown): PrebakeError | unknown {
  if (isPrebakeError(error)) return error;
  if (HOST_ERRORS.has((error as NodeJS.ErrnoException)?.code ?? '')) return error;
  return corrupt((error as Error)?.message ?? String(error), error);
}

// The header and the sums are read whole: bounded, so that a bundle cannot make import hold gigabytes.
const SMALL_ENTRY_BYTES = 16 * 1024 * 1024;

async function smallText(entry: Parameters<typeof text>[0] & { header: tar.Header }): Promise<string> {
  if ((entry.header.size ?? 0) > SMALL_ENTRY_BYTES)
    throw corrupt(`${entry.header.name} is ${entry.header.size} bytes, over ${SMALL_ENTRY_BYTES}`);
  return text(entry);
}

/** Undefined when this host can restore the bundle; the reason to rebuild when forced; throws otherwise. */
async function checkHost(header: BundleHeader, store: ImageStore, criu: Criu, options: ImportOptions): Promise<string | undefined> {
  if (options.expectedName !== undefined && header.name !== options.expectedName) {
    throw new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `the bundle holds function "${header.name}", not "${options.expectedName}"`, {
      functionName: options.expectedName,
    });
  }
  // Nothing is written there, but a rebuild and the source status read it: a daemon's roots still bound it.
  await options.checkSourceDir?.(header.spec.dir);
  const here = await hostFingerprint(header.spec, path.join(store.home, 'prepared', path.basename(header.preparedDir)), criu);
  const differences = fingerprintDifferences(header.fingerprint, here);
  if (differences.length === 0) return header.rebuildReason;
  const reason = `made on an incompatible host: ${differences.join('; ')}`;
  if (options.force) return reason;
  throw new PrebakeError('PREBAKE_ERR_BUNDLE_INCOMPATIBLE', `function "${header.name}": the bundle was ${reason}`, {
    functionName: header.name,
    hint: 'build the function on this host instead, or import it forced, to keep it marked for rebuild',
    details: { there: header.fingerprint, here },
  });
}

/**
 * Moves the verified files into place under the function's lock: the prepared files (into the home, by a name
 * checked in the header), then the entry. The code is the entry's own copy (code/); the bundle's `spec.dir` is
 * kept as information only: nothing is written there, and the sweep of leftovers does not look for it.
 */
async function publishImport(
  store: ImageStore,
  workDir: string,
  header: BundleHeader,
  hostReason: string | undefined,
  options: ImportOptions,
): Promise<ImportResult> {
  const entryDir = path.join(workDir, 'entry');
  const bundled = await readMeta(entryDir, header);
  const name = options.name ?? header.name;
  const preparedDir = path.join(store.home, 'prepared', path.basename(header.preparedDir));
  const meta: ImageMeta = { ...bundled, name, spec: { ...bundled.spec, name }, preparedDir };
  const local = await localSandbox(store, meta, store.functionBuildDir(name, meta.buildId));
  let rebuildReason = hostReason;
  if (local.differences.length > 0) {
    const reason = `made with another sandbox than this host gives: ${local.differences.join('; ')}`;
    if (!options.force) {
      throw new PrebakeError('PREBAKE_ERR_BUNDLE_INCOMPATIBLE', `function "${header.name}": the bundle was ${reason}`, {
        functionName: header.name,
        hint: 'build the function on this host instead, or import it forced, to keep it marked for rebuild',
      });
    }
    rebuildReason = [hostReason, reason].filter(Boolean).join('; ');
  }
  const release = await store.lock(name);
  try {
    await installIfAbsent(path.join(workDir, 'prepared'), preparedDir);
    const imported: ImageMeta = {
      ...meta,
      // This host's, never the bundle's: a forged plan would bind any host path into the view.
      sandbox: local.sandbox,
      interpreter: local.interpreter,
      importedAt: new Date().toISOString(),
      ...(rebuildReason !== undefined && { rebuildReason }),
    };
    // Tar kept the modes, not the owners: the image's group and the snapshot's /tmp as a restore needs them.
    // What fails here (no images/, a file where a directory belongs) is the bundle's shape. The image's user
    // namespace maps are the exporting host's: its clones run as that function's host ids.
    await makeRestorable(entryDir, namespaceRootHostId(meta.sandbox)).catch((error: unknown) => {
      throw asBundleError(error);
    });
    const stored = await store.publish(entryDir, imported);
    return { ...stored, rebuildReason };
  } finally {
    await release();
  }
}

/**
 * Puts `from` at `to` unless `to` exists already (prepared files are named by their content). `to` may be on
 * another filesystem: copied to a sibling first, then renamed, so it appears whole.
 */
async function installIfAbsent(from: string, to: string): Promise<void> {
  if (
    !(await stat(from).then(
      () => true,
      () => false,
    ))
  )
    return;
  if (
    await stat(to).then(
      () => true,
      () => false,
    )
  )
    return;
  await mkdir(path.dirname(to), { recursive: true });
  const sibling = `${to}.prebake-import-${process.pid}`;
  try {
    await cp(from, sibling, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    await rename(sibling, to);
  } finally {
    await rm(sibling, { recursive: true, force: true });
  }
}
