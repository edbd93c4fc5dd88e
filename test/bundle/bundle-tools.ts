// Reading and rewriting bundles in tests, as a damaged disk or a foreign host would leave them.

import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import tar from 'tar-stream';

export interface BundleEntry {
  header: tar.Header;
  content: Buffer;
}

export async function readEntries(bundle: Buffer): Promise<BundleEntry[]> {
  const extract = tar.extract();
  Readable.from([bundle]).pipe(extract);
  const entries: BundleEntry[] = [];
  for await (const entry of extract) entries.push({ header: entry.header, content: await buffer(entry) });
  return entries;
}

/**
 * Writes the entries back as a bundle. `resum` recomputes SHA256SUMS from the contents, as a forger (or a
 * foreign host) would; without it the sums stay as they were.
 */
export async function writeEntries(entries: BundleEntry[], options: { resum?: boolean } = {}): Promise<Buffer> {
  const pack = tar.pack();
  const done = buffer(pack);
  for (const { header, content } of entries) {
    let body = content;
    if (options.resum && header.name === 'SHA256SUMS') {
      body = Buffer.from(
        entries
          .filter((e) => e.header.name !== 'SHA256SUMS' && e.header.type !== 'directory')
          .map(
            (e) =>
              `${createHash('sha256')
                .update(e.header.type === 'symlink' ? e.header.linkname! : e.content)
                .digest('hex')}  ${e.header.name}\n`,
          )
          .join(''),
      );
    }
    await new Promise<void>((resolve, reject) =>
      pack.entry(header.type === 'symlink' ? header : { ...header, size: body.length }, header.type === 'symlink' ? '' : body, (error) =>
        error ? reject(error) : resolve(),
      ),
    );
  }
  pack.finalize();
  return done;
}

/** What an import left in `home`: function dirs, build and restore work dirs (none after a refusal). */
export async function homeLeftovers(home: string): Promise<string[]> {
  const found: string[] = [];
  for (const area of ['functions', 'tmp', 'run']) {
    for (const entry of await readdir(path.join(home, area)).catch(() => [])) found.push(path.join(area, entry));
  }
  return found;
}
