// prebake export: a function's current image, its code and the environment it needs, as one tar stream. The
// files are streamed one after the other (never held in memory), each hashed as it goes; the hashes close the
// stream. The function's lock is held until the stream ends, so a build cannot remove the files midway.
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { Criu } from '../criu/criu.ts';
import { PrebakeError } from '../errors.ts';
import { isInside } from '../files/inside.ts';
import { sha256, sha256Tap } from '../files/sha256.ts';
import { type FileKind, listFiles } from '../manifest/digest.ts';
import type { ImageStore, StoredImage } from '../store/store.ts';
import { hostFingerprint } from './fingerprint.ts';
import { addEntry, BUNDLE_FORMAT, type BundleHeader, type BundlePart, formatSums, HEADER_NAME, SUMS_NAME } from './format.ts';

export interface BundleFile {
  /** Its name in the bundle: `<part>/<relative path>`. */
  name: string;
  /** What is read: the file itself, or for a symbolic link of the entry, the file it points to. */
  file: string;
  /** Directories are listed for their mode (an image dir may be root-only), before what they hold. */
  kind: 'file' | 'dir';
}

/**
 * The regular file a symbolic link of `dir` stands for in a bundle, which carries no links (docs/BUNDLES.md):
 * one inside `dir`, or one under /usr that anyone may read (a Debian jar: every instance's view has /usr).
 * Any other target would hand a file of this host to whoever asked for the bundle: the export is refused.
 */
async function linkedFile(dir: string, link: string, name: string): Promise<string> {
  const refuse = (why: string) =>
    new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `${name} is a symbolic link ${why}: a bundle carries regular files only`, {
      hint: "replace the link with the file it stands for in the function's directory, and build again",
      details: { link },
    });
  const target = await realpath(link).catch(() => undefined);
  if (target === undefined) throw refuse('that leads nowhere');
  const info = await stat(target);
  if (!info.isFile()) throw refuse(`to ${info.isDirectory() ? 'a directory' : 'something other than a file'}`);
  const inside = isInside(target, await realpath(dir));
  if (!inside && !(isInside(target, '/usr') && (info.mode & 0o004) !== 0)) throw refuse(`to ${target}, outside the function's files`);
  return target;
}

async function partFiles(part: BundlePart, dir: string): Promise<BundleFile[]> {
  const files = await listFiles(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return new Map<string, FileKind>();
    throw error;
  });
  const listed: BundleFile[] = [];
  const dirs = new Set<string>();
  for (const [relative, kind] of files) {
    // Parents first, each once: the directories that hold files (an empty one does not travel).
    const parents = [];
    for (let parent = path.dirname(relative); parent !== '.' && !dirs.has(parent); parent = path.dirname(parent)) parents.unshift(parent);
    for (const parent of parents) {
      dirs.add(parent);
      listed.push({ name: `${part}/${parent}`, file: path.join(dir, parent), kind: 'dir' });
    }
    const name = `${part}/${relative}`;
    const file = path.join(dir, relative);
    listed.push({ name, file: kind === 'link' ? await linkedFile(dir, file, name) : file, kind: 'file' });
  }
  return listed;
}

/** Every file a bundle of `image` holds, in bundle order (the header and the sums aside). */
export async function bundleFiles(image: StoredImage): Promise<BundleFile[]> {
  const { meta, buildDir } = image;
  const files = await partFiles('entry', buildDir);
  if (!isInside(meta.preparedDir, buildDir)) files.push(...(await partFiles('prepared', meta.preparedDir)));
  return files;
}

export async function bundleHeader(image: StoredImage, criu: Criu): Promise<BundleHeader> {
  const { meta } = image;
  return {
    format: BUNDLE_FORMAT,
    name: meta.name,
    buildId: meta.buildId,
    spec: meta.spec,
    entryDir: image.buildDir,
    preparedDir: meta.preparedDir,
    // With the interpreter the build ran (recorded with the image), which every start of it runs.
    fingerprint: await hostFingerprint({ ...meta.spec, interpreter: meta.interpreter.path }, meta.preparedDir, criu),
    ...(meta.rebuildReason !== undefined && { rebuildReason: meta.rebuildReason }),
  };
}

/**
 * Opens a bundle of `name` as a stream. Resolves once the function is found and locked (so a caller can still
 * answer an error properly); the lock is released when the stream ends, fails or is destroyed by its reader.
 */
export async function exportBundle(store: ImageStore, criu: Criu, name: string): Promise<Readable> {
  await store.require(name);
  const release = await store.lock(name);
  let pack: tar.Pack;
  let header: BundleHeader;
  let files: BundleFile[];
  try {
    // Read again under the lock: a build may have published between the check and the lock.
    const image = await store.require(name);
    [header, files] = await Promise.all([bundleHeader(image, criu), bundleFiles(image)]);
    pack = tar.pack();
  } catch (error) {
    await release();
    throw error;
  }
  const write = async () => {
    const sums = new Map<string, string>();
    const headerText = `${JSON.stringify(header, null, 2)}\n`;
    await addEntry(pack, { name: HEADER_NAME, mode: 0o644, mtime: new Date(0) }, headerText);
    sums.set(HEADER_NAME, sha256(headerText));
    for (const file of files) {
      const hash = await addFile(pack, file);
      if (hash !== undefined) sums.set(file.name, hash);
    }
    await addEntry(pack, { name: SUMS_NAME, mode: 0o644, mtime: new Date(0) }, formatSums(sums));
    pack.finalize();
  };
  let released = false;
  const releaseOnce = () => {
    if (released) return;
    released = true;
    // A lock found compromised (its file removed) has nothing left to release.
    release().catch(() => {});
  };
  pack.on('close', releaseOnce);
  write().then(releaseOnce, (error: unknown) => {
    releaseOnce();
    pack.destroy(error as Error);
  });
  return pack as unknown as Readable;
}

/** Streams one file into the pack; returns its sha256 (none for a directory). */
async function addFile(pack: tar.Pack, file: BundleFile): Promise<string | undefined> {
  const info = await stat(file.file);
  const mode = info.mode & 0o777;
  if (file.kind === 'dir') {
    await addEntry(pack, { name: file.name, type: 'directory', mode, mtime: info.mtime });
    return undefined;
  }
  const { tap, digest } = sha256Tap();
  const entry = pack.entry({ name: file.name, size: info.size, mode, mtime: info.mtime });
  await pipeline(createReadStream(file.file), tap, entry);
  return digest();
}
