import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';

// Directories that never change what a function does.
const SKIPPED = new Set(['.git', '__pycache__', '.DS_Store']);

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const entries = await readdir(path.join(dir, prefix), { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries) {
    if (SKIPPED.has(entry.name)) continue;
    const relative = path.join(prefix, entry.name);
    if (entry.isDirectory()) files.push(...(await listFiles(dir, relative)));
    else if (entry.isFile() || entry.isSymbolicLink()) files.push(relative);
  }
  return files.sort();
}

/**
 * A cheap fingerprint of a function's source: every file's path, size and modification time. Equal
 * fingerprints mean unchanged source; a different one sends the caller to the content digest.
 */
export async function sourceFingerprint(dir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const file of await listFiles(dir)) {
    const info = await stat(path.join(dir, file));
    hash.update(`${file}\0${info.size}\0${info.mtimeMs}\n`);
  }
  return hash.digest('hex');
}

/** The sha256 of every file's path and content: what an image was built from. */
export async function sourceDigest(dir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const file of await listFiles(dir)) {
    const content = await readFile(path.join(dir, file));
    hash.update(`${file}\0${content.length}\0`);
    hash.update(content);
  }
  return `sha256:${hash.digest('hex')}`;
}
