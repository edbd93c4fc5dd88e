// sha256, taken one way for each kind of input: bytes in memory, a regular file (opened the careful way of
// regular-file.ts), a stream read to its end, or a stream passing through on its way elsewhere (a tap that
// hashes what it passes on). Digests are lowercase hex.
import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { hashRegularFile } from './regular-file.ts';

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The sha256 and size of a regular file, with its fstat as taken before reading (FileReadError otherwise). */
export async function sha256OfFile(file: string): Promise<{ sha256: string; size: number; stats: BigIntStats }> {
  const hash = createHash('sha256');
  const { size, stats } = await hashRegularFile(file, hash);
  return { sha256: hash.digest('hex'), size, stats };
}

/** Reads `stream` to its end. */
export async function sha256OfStream(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(stream, hash);
  return hash.digest('hex');
}

/** A pass-through stream for a pipeline; `digest()` once the pipeline is done. */
export function sha256Tap(): { tap: Transform; digest: () => string } {
  const hash = createHash('sha256');
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  return { tap, digest: () => hash.digest('hex') };
}
