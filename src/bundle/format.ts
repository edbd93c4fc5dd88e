// The bundle format (docs/BUNDLES.md): one tar stream, in this order
//
//   prebake-bundle.json   the header: format, function name, build id, spec, fingerprint (read first, so an
//                         incompatible bundle is refused before any of its data is written)
//   entry/<path>          every file of the store entry (the build dir: meta.json, images/, whatever else a
//                         build keeps there), whatever it holds
//   prepared/<path>       what the runtime prepared (compiled classes), when it lives outside the entry
//   SHA256SUMS            "<sha256>  <path>" for every entry above, in sha256sum's format; written last because
//                         the exporter learns each hash while it streams the file
//
// Regular files and directories only: a symbolic link of the entry travels as the file it points to.
import type tar from 'tar-stream';
import { PrebakeError } from '../errors.ts';
import type { FunctionSpec } from '../manifest/schema.ts';
import type { Fingerprint } from './fingerprint.ts';

export const BUNDLE_FORMAT = 1;
export const HEADER_NAME = 'prebake-bundle.json';
export const SUMS_NAME = 'SHA256SUMS';
export const PARTS = ['entry', 'prepared'] as const;
/** Older bundles also carried the function's source here: import verifies it and writes none of it. */
export const LEGACY_SOURCE_PART = 'source';
export type BundlePart = (typeof PARTS)[number];
export const BUNDLE_MEDIA_TYPE = 'application/x-tar';

export interface BundleHeader {
  format: typeof BUNDLE_FORMAT;
  name: string;
  buildId: string;
  spec: FunctionSpec;
  /** The store entry's path on the exporting host: paths inside it are moved to the new entry on import. */
  entryDir: string;
  /** Where the runtime's prepared files were on the exporting host (their name is kept on import). */
  preparedDir: string;
  fingerprint: Fingerprint;
  /** Set when the image was already marked for rebuild where it was exported. */
  rebuildReason?: string;
}

/** A Transform that passes data through and feeds it to `hash`. */
export function formatSums(sums: Map<string, string>): string {
  return [...sums].map(([name, hash]) => `${hash}  ${name}\n`).join('');
}

export function parseSums(text: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of text.split('\n').filter(Boolean)) {
    const match = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
    if (!match) throw corrupt(`${SUMS_NAME} has a malformed line: ${JSON.stringify(line.slice(0, 100))}`);
    sums.set(match[2]!, match[1]!);
  }
  return sums;
}

export function corrupt(why: string, cause?: unknown): PrebakeError {
  return new PrebakeError('PREBAKE_ERR_BUNDLE_CORRUPT', `the bundle is damaged or not a prebake bundle: ${why}`, {
    cause,
    hint: 'export it again, and check that nothing cut or rewrote it on the way',
  });
}

/** Adds an entry without a stream of content (a small buffer, a directory, a link) and waits until it is written. */
export function addEntry(pack: tar.Pack, header: Partial<tar.Header> & { name: string }, content?: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error | null) => (error ? reject(error) : resolve());
    if (content === undefined) pack.entry(header, done);
    else pack.entry(header, content, done);
  });
}
