// prebake import: a bundle (docs/BUNDLES.md) read as a stream into a temp dir, every file hashed on the way and
// checked against the bundle's SHA256SUMS, then published under the function's lock. Whatever goes wrong (a
// damaged or truncated stream, a mismatch, an incompatible host), the temp dir goes and nothing is published.
import { createWriteStream } from 'node:fs';
import { chmod, cp, mkdir, readFile, rename, rm, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { text } from 'node:stream/consumers';
import tar from 'tar-stream';
import type { Criu } from '../criu/criu.ts';
import { makeRestorable } from '../criu/image-access.ts';
import { namespaceRootHostId } from '../launch/sandbox-plan.ts';
import { isPrebakeError, PrebakeError } from '../errors.ts';
import { sourceFingerprint } from '../manifest/digest.ts';
import { FUNCTION_NAME_PATTERN, RUNTIMES } from '../manifest/schema.ts';
import type { ImageMeta, ImageStore, StoredImage } from '../store/store.ts';
import { isInside } from '../files/inside.ts';
import { fingerprintDifferences, hostFingerprint } from './fingerprint.ts';
import { sha256, sha256Tap } from '../files/sha256.ts';
import { BUNDLE_FORMAT, corrupt, HEADER_NAME, parseSums, PARTS, SUMS_NAME, type BundleHeader } from './format.ts';
import { imageMetaCheck } from '../store/meta-schema.ts';
import { schemaProblem } from '../validate.ts';

export interface ImportOptions {
  /** Import a bundle from an incompatible host anyway, marked for rebuild. */
  force?: boolean;
  /** The name the caller expects the bundle to carry (the daemon's PUT /functions/:name/bundle). */
  expectedName?: string;
  /** Throws when the function's code may not live in `dir` (the daemon's functions roots). */
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
  /** Set when the function's source directory was absent here and the bundle's copy was put there. */
  sourceInstalled: boolean;
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
  if (header?.format !== BUNDLE_FORMAT) throw corrupt(`format ${JSON.stringify(header?.format)} (this prebake reads format ${BUNDLE_FORMAT})`);
  if (typeof header.name !== 'string' || !new RegExp(FUNCTION_NAME_PATTERN).test(header.name)) throw corrupt(`bad function name ${JSON.stringify(header.name)}`);
  if (typeof header.buildId !== 'string' || !BUILD_ID_PATTERN.test(header.buildId)) throw corrupt(`bad build id ${JSON.stringify(header.buildId)}`);
  if (typeof header.spec?.dir !== 'string' || !path.isAbsolute(header.spec.dir)) throw corrupt('the spec has no absolute source directory');
  if (!(RUNTIMES as readonly string[]).includes(header.spec.runtime)) throw corrupt(`unknown runtime ${JSON.stringify(header.spec.runtime)}`);
  if (!PREPARED_NAME_PATTERN.test(path.basename(String(header.preparedDir)))) throw corrupt(`bad prepared dir ${JSON.stringify(header.preparedDir)}`);
  if (typeof header.fingerprint?.kernel !== 'string' || !Array.isArray(header.fingerprint.cpuFeatures)) throw corrupt('the fingerprint is incomplete');
  return header;
}

/** `name` as a path under the temp dir, refusing anything that could land outside it. */
function safePath(name: string, links: Set<string>): string {
  const bare = name.replace(/\/$/, '');
  const normal = path.posix.normalize(bare);
  const [part] = normal.split('/');
  if (normal !== bare || links.has(normal) || normal.startsWith('/') || normal.split('/').includes('..') || !(PARTS as readonly string[]).includes(part!)) {
    throw corrupt(`unexpected entry ${JSON.stringify(name)}`);
  }
  // A file under a link the bundle itself made would be written wherever the link points.
  for (let dir = path.posix.dirname(normal); dir !== '.'; dir = path.posix.dirname(dir)) {
    if (links.has(dir)) throw corrupt(`entry ${JSON.stringify(name)} lies under a symbolic link`);
  }
  return normal;
}

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
    return await publishImport(store, work.dir, header, rebuildReason, options.name ?? header.name);
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
  const links = new Set<string>();
  const dirModes = new Map<string, number>();
  let header: BundleHeader | undefined;
  let sums: Map<string, string> | undefined;
  let rebuildReason: string | undefined;
  try {
    for await (const entry of extract) {
      const name = entry.header.name;
      if (sums) throw corrupt(`entry ${JSON.stringify(name)} after ${SUMS_NAME}`);
      if (!header) {
        if (name !== HEADER_NAME) throw corrupt(`it starts with ${JSON.stringify(name)}, not ${HEADER_NAME}`);
        const content = await smallText(entry);
        header = parseHeader(content);
        seen.set(name, sha256(content));
        rebuildReason = await checkHost(header, store, criu, options);
        continue;
      }
      if (name === SUMS_NAME) {
        sums = parseSums(await smallText(entry));
        continue;
      }
      const relative = safePath(name, links);
      if (seen.has(relative)) throw corrupt(`entry ${JSON.stringify(name)} appears twice`);
      const target = path.join(workDir, relative);
      await mkdir(path.dirname(target), { recursive: true });
      const type = entry.header.type;
      if (type === 'directory') {
        entry.resume();
        await mkdir(target, { recursive: true });
        dirModes.set(target, (entry.header.mode ?? 0o755) & 0o777);
        continue;
      }
      if (type === 'symlink') {
        const linkname = entry.header.linkname ?? '';
        entry.resume();
        await symlink(linkname, target);
        links.add(relative);
        seen.set(relative, sha256(linkname));
        continue;
      }
      if (type !== 'file') throw corrupt(`entry ${JSON.stringify(name)} is a ${type}`);
      const { tap, digest } = sha256Tap();
      await pipeline(entry, tap, createWriteStream(target, { mode: (entry.header.mode ?? 0o644) & 0o777, flags: 'wx' }));
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
  for (const [dir, mode] of dirModes) await chmod(dir, mode);
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
  if ((entry.header.size ?? 0) > SMALL_ENTRY_BYTES) throw corrupt(`${entry.header.name} is ${entry.header.size} bytes, over ${SMALL_ENTRY_BYTES}`);
  return text(entry);
}

/** Undefined when this host can restore the bundle; the reason to rebuild when forced; throws otherwise. */
async function checkHost(header: BundleHeader, store: ImageStore, criu: Criu, options: ImportOptions): Promise<string | undefined> {
  if (options.expectedName !== undefined && header.name !== options.expectedName) {
    throw new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `the bundle holds function "${header.name}", not "${options.expectedName}"`, {
      functionName: options.expectedName,
    });
  }
  // Code kept in the entry stays in the store; code outside it is run (and maybe written) where it says.
  if (!(typeof header.entryDir === 'string' && isInside(header.spec.dir, header.entryDir))) await options.checkSourceDir?.(header.spec.dir);
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

/** Moves the verified files into place under the function's lock: prepared files, code, then the entry. */
async function publishImport(
  store: ImageStore,
  workDir: string,
  header: BundleHeader,
  rebuildReason: string | undefined,
  name: string,
): Promise<ImportResult> {
  const entryDir = path.join(workDir, 'entry');
  const bundled = await readMeta(entryDir, header);
  const meta: ImageMeta = name === bundled.name ? bundled : { ...bundled, name, spec: { ...bundled.spec, name } };
  const release = await store.lock(name);
  let installedSource: string | undefined;
  try {
    const preparedDir = path.join(store.home, 'prepared', path.basename(header.preparedDir));
    await installIfAbsent(path.join(workDir, 'prepared'), preparedDir);
    // Code kept inside the entry travels with it: its path follows the entry into this home.
    const inEntry = typeof header.entryDir === 'string' && isInside(meta.spec.dir, header.entryDir);
    const codeInEntry = inEntry ? path.relative(header.entryDir, meta.spec.dir) : undefined;
    const sourceDir = codeInEntry === undefined ? meta.spec.dir : path.join(store.functionBuildDir(meta.name, meta.buildId), codeInEntry);
    const sourceInstalled = await installIfAbsent(path.join(workDir, 'source'), sourceDir);
    if (sourceInstalled) installedSource = sourceDir;
    // Code written here just now has new file times (the fingerprint has relative paths: the entry's copy
    // counts as where it will be); code found in place keeps the build's fingerprint, so that the freshness
    // check compares its content with the image's.
    const fingerprintDir = codeInEntry === undefined ? (sourceInstalled ? sourceDir : undefined) : path.join(entryDir, codeInEntry);
    const imported: ImageMeta = {
      ...meta,
      spec: { ...meta.spec, dir: sourceDir },
      preparedDir,
      sourceFingerprint: fingerprintDir ? await sourceFingerprint(fingerprintDir) : meta.sourceFingerprint,
      ...(rebuildReason !== undefined && { rebuildReason }),
    };
    // Tar kept the modes, not the owners: the image's group and the snapshot's /tmp as a restore needs them.
    // The image's user namespace maps are the exporting host's: its clones run as that function's host ids.
    await makeRestorable(entryDir, namespaceRootHostId(meta.sandbox));
    const stored = await store.publish(entryDir, imported);
    installedSource = undefined;
    return { ...stored, rebuildReason, sourceInstalled };
  } finally {
    if (installedSource) await rm(installedSource, { recursive: true, force: true });
    await release();
  }
}

/**
 * Puts `from` at `to` unless `to` exists already (prepared files are named by their content; a function's code
 * already there is left as it is, and the usual freshness check compares it with the image). Returns whether
 * it did. `to` may be on another filesystem: copied to a sibling first, then renamed, so it appears whole.
 */
async function installIfAbsent(from: string, to: string): Promise<boolean> {
  if (!(await stat(from).then(() => true, () => false))) return false;
  if (await stat(to).then(() => true, () => false)) return false;
  await mkdir(path.dirname(to), { recursive: true });
  const sibling = `${to}.prebake-import-${process.pid}`;
  try {
    await cp(from, sibling, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    await rename(sibling, to);
  } finally {
    await rm(sibling, { recursive: true, force: true });
  }
  return true;
}
