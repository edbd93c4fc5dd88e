// Unpacks a Lambda deployment package (a zip, as CreateFunction's Code.ZipFile carries it) into a new directory.
// The archive is someone else's: yauzl reads it (it refuses absolute names, `..` and sizes that lie about
// what they inflate to), and here the limits of an upload are enforced: entries, unpacked bytes, links that
// leave the tree. Files are written into directories made here, with O_EXCL|O_NOFOLLOW, and links are made
// last, so no write ever passes through a link of the archive's.
import { constants } from 'node:fs';
import { mkdir, open, realpath, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yauzl, { type Entry, type ZipFile } from 'yauzl';
import { PrebakeError } from '../errors.ts';

export interface ZipLimits {
  /** Bytes of the archive itself. */
  maxZipBytes: number;
  /** Bytes of every file unpacked, together. */
  maxUnpackedBytes: number;
  maxEntries: number;
}

// Lambda's own: 50 MB for a direct upload, 250 MB unzipped. Real node_modules trees have thousands of files.
export const LAMBDA_ZIP_LIMITS: ZipLimits = { maxZipBytes: 50 * 1024 * 1024, maxUnpackedBytes: 250 * 1024 * 1024, maxEntries: 50_000 };

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;
// The most a link's target may be: PATH_MAX.
const MAX_LINK_BYTES = 4096;

function refused(what: string, why: string): PrebakeError {
  return new PrebakeError('PREBAKE_ERR_ZIP_REFUSED', `the deployment package ${what}${why ? `: ${why}` : ''}`, {
    hint: "zip the function's directory as it is (zip -r fn.zip .): regular files, directories and links inside it",
  });
}

/**
 * Unpacks `zip` into `dest`, which must not exist yet; on any failure `dest` is removed. Returns the number of
 * files written.
 */
export async function unpackZip(zip: Buffer, into: string, limits: ZipLimits = LAMBDA_ZIP_LIMITS): Promise<number> {
  const dest = path.resolve(into);
  if (zip.length > limits.maxZipBytes) throw refused(`is ${zip.length} bytes`, `over the limit of ${limits.maxZipBytes}`);
  await mkdir(dest, { mode: 0o755 });
  try {
    return await unpackInto(zip, dest, limits);
  } catch (error) {
    await rm(dest, { recursive: true, force: true });
    throw error;
  }
}

async function unpackInto(zip: Buffer, dest: string, limits: ZipLimits): Promise<number> {
  const archive = await openZip(zip);
  if (archive.entryCount > limits.maxEntries) {
    archive.close();
    throw refused(`has ${archive.entryCount} entries`, `over the limit of ${limits.maxEntries}`);
  }
  const links: { at: string; target: string; name: string }[] = [];
  const made = new Set<string>([dest]);
  let unpacked = 0;
  let files = 0;
  try {
    for await (const entry of entries(archive)) {
      const name = entry.fileName;
      // path.join keeps a directory entry's trailing slash; resolve drops it (made holds canonical paths).
      const at = path.resolve(dest, name);
      const mode = (entry.externalFileAttributes >>> 16) & 0o177777;
      const kind = mode & S_IFMT;
      if (name.endsWith('/') || kind === S_IFDIR) {
        await makeDirs(at, made);
        continue;
      }
      await makeDirs(path.dirname(at), made);
      unpacked += entry.uncompressedSize;
      if (unpacked > limits.maxUnpackedBytes) throw refused(`unpacks to more than ${limits.maxUnpackedBytes} bytes (at ${name})`, '');
      if (kind === S_IFLNK) {
        if (entry.uncompressedSize > MAX_LINK_BYTES) throw refused(`has a link ${name}`, 'whose target is too long');
        const target = (await readAll(await openEntry(archive, entry))).toString('utf8');
        const resolved = path.resolve(path.dirname(at), target);
        if (path.isAbsolute(target) || (resolved !== dest && !resolved.startsWith(`${dest}/`))) {
          throw refused(`has a link ${name} -> ${target}`, "that leads outside the function's directory");
        }
        links.push({ at, target, name });
        continue;
      }
      if (kind !== 0 && kind !== 0o100000) throw refused(`has ${name}`, 'which is neither a file, a directory nor a link');
      await writeEntry(archive, entry, at, mode & 0o111 ? 0o755 : 0o644);
      files += 1;
    }
  } finally {
    archive.close();
  }
  for (const link of links) {
    await symlink(link.target, link.at).catch((error: NodeJS.ErrnoException) => {
      throw refused(`has a link ${link.name}`, error.code === 'EEXIST' ? 'where a file of the same name is' : error.message);
    });
  }
  // Lexically inside is not enough once links are made: `x -> .` then `y -> x/../z` leaves the tree.
  const root = await realpath(dest);
  for (const link of links) {
    const real = await realpath(link.at).catch(() => undefined);
    if (real === undefined) throw refused(`has a link ${link.name} -> ${link.target}`, 'that leads nowhere');
    if (real !== root && !real.startsWith(`${root}/`))
      throw refused(`has a link ${link.name} -> ${link.target}`, "that leads outside the function's directory");
  }
  return files;
}

async function writeEntry(archive: ZipFile, entry: Entry, at: string, mode: number): Promise<void> {
  const handle = await open(at, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode).catch(
    (error: NodeJS.ErrnoException) => {
      throw refused(`has ${entry.fileName}`, error.code === 'EEXIST' ? 'twice' : error.message);
    },
  );
  try {
    // yauzl checks that the entry inflates to exactly its declared size (validateEntrySizes). The stream
    // closes the handle when done.
    await pipeline(await openEntry(archive, entry), handle.createWriteStream());
  } catch (error) {
    await handle.close().catch(() => {});
    throw error instanceof PrebakeError ? error : refused(`has ${entry.fileName}`, (error as Error).message);
  }
}

/** mkdir -p below `dest`, refusing a path through anything this unpacking did not make as a directory. */
async function makeDirs(dir: string, made: Set<string>): Promise<void> {
  if (made.has(dir)) return;
  await makeDirs(path.dirname(dir), made);
  await mkdir(dir, { mode: 0o755 }).catch((error: NodeJS.ErrnoException) => {
    throw refused(`has ${dir}`, error.code === 'EEXIST' ? 'both as a file and as a directory' : error.message);
  });
  made.add(dir);
}

function openZip(zip: Buffer): Promise<ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(zip, { lazyEntries: true, validateEntrySizes: true, strictFileNames: true, decodeStrings: true }, (error, archive) => {
      if (error) reject(refused('is not a zip archive', error.message));
      else resolve(archive);
    });
  });
}

async function* entries(archive: ZipFile): AsyncGenerator<Entry> {
  for (;;) {
    const next = new Promise<Entry | undefined>((resolve, reject) => {
      archive.once('entry', resolve);
      archive.once('end', () => resolve(undefined));
      archive.once('error', (error: Error) => reject(refused('is damaged', error.message)));
    });
    archive.readEntry();
    const entry = await next;
    archive.removeAllListeners('entry').removeAllListeners('end').removeAllListeners('error');
    if (!entry) return;
    yield entry;
  }
}

function openEntry(archive: ZipFile, entry: Entry): Promise<Readable> {
  return new Promise((resolve, reject) => {
    archive.openReadStream(entry, (error, stream) => {
      if (error) reject(refused(`has ${entry.fileName}`, error.message));
      else resolve(stream);
    });
  });
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
