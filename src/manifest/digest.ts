import { createHash } from 'node:crypto';
import { lstat, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { PrebakeError } from '../errors.ts';
import { hashRegularFile } from '../files/regular-file.ts';

// Directories that never change what a function does.
const SKIPPED = new Set(['.git', '__pycache__', '.DS_Store']);

export type FileKind = 'file' | 'link';

/** Every file and symbolic link under `dir` (links are not followed), by relative path, sorted. */
export async function listFiles(dir: string, prefix = '', found = new Map<string, FileKind>()): Promise<Map<string, FileKind>> {
  const entries = await readdir(path.join(dir, prefix), { withFileTypes: true });
  for (const entry of entries) {
    if (SKIPPED.has(entry.name)) continue;
    const relative = path.join(prefix, entry.name);
    if (entry.isDirectory()) await listFiles(dir, relative, found);
    else if (entry.isFile()) found.set(relative, 'file');
    else if (entry.isSymbolicLink()) found.set(relative, 'link');
  }
  return prefix === '' ? new Map([...found].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : found;
}

/**
 * A cheap fingerprint of a function's source: every file's path, size and modification time. Equal
 * fingerprints mean unchanged source; a different one sends the caller to the content digest.
 */
export async function sourceFingerprint(dir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const file of (await listFiles(dir)).keys()) {
    const info = await lstat(path.join(dir, file));
    hash.update(`${file}\0${info.size}\0${info.mtimeMs}\n`);
  }
  return hash.digest('hex');
}

/**
 * The sha256 of every file's path and content: what an image was built from. Files are streamed through the
 * hash (a 1.5 GB file in a function's directory must not take 1.5 GB of the daemon's memory), and opened
 * without blocking, so a file swapped for a FIFO after the listing fails instead of hanging.
 */
export async function sourceDigest(dir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const [file, kind] of await listFiles(dir)) {
    // A link counts as its target's name: following it could read a directory, a device or a huge file.
    if (kind === 'link') {
      const target = Buffer.from(await readlink(path.join(dir, file)));
      hash.update(`${file}\0${target.length}\0`);
      hash.update(target);
      continue;
    }
    await hashRegularFile(path.join(dir, file), hash, (size) => `${file}\0${size}\0`).catch((error: unknown) => {
      throw new PrebakeError(
        'PREBAKE_ERR_MANIFEST',
        `${path.join(dir, file)}: cannot read the function's source: ${(error as Error).message}`,
        {
          cause: error,
          hint: "a function's directory may hold regular files, directories and symbolic links only",
        },
      );
    });
  }
  return `sha256:${hash.digest('hex')}`;
}
