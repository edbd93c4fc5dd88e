// Reading files that someone else put in place (a function's directory, an image in the store) without
// trusting what they are: opened with O_NONBLOCK, so that a FIFO cannot park a libuv threadpool thread in
// open() (four such opens hang every file operation of the process), then checked with fstat to be a regular
// file, and read in bounded chunks, so that a huge file costs time but never memory.

import type { Hash } from 'node:crypto';
import { type BigIntStats, constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';

const CHUNK_BYTES = 256 * 1024;

/** Why a file could not be read: the caller turns it into its own typed error, naming the file its way. */
export class FileReadError extends Error {
  readonly reason: 'unreadable' | 'not-regular' | 'too-large';
  constructor(reason: FileReadError['reason'], message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.reason = reason;
  }
}

/** Opens `file` (symlinks followed) for reading, refusing anything that is not a regular file. */
export async function openRegularFile(file: string): Promise<{ handle: FileHandle; stats: BigIntStats }> {
  let handle: FileHandle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw new FileReadError('unreadable', `cannot open it: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, error);
  }
  try {
    const stats = await handle.stat({ bigint: true });
    if (!stats.isFile()) throw new FileReadError('not-regular', 'it is not a regular file');
    return { handle, stats };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** The whole of a regular file of at most `maxBytes`. */
export async function readRegularFile(file: string, maxBytes: number): Promise<Buffer> {
  const { handle, stats } = await openRegularFile(file);
  try {
    if (stats.size > BigInt(maxBytes)) throw new FileReadError('too-large', `it is over the limit of ${maxBytes} bytes`);
    const chunks: Buffer[] = [];
    let total = 0;
    // Read past the size fstat gave: the file may have grown since.
    for (;;) {
      const want = Math.min(CHUNK_BYTES, maxBytes + 1 - total);
      const { bytesRead, buffer } = await handle.read(Buffer.alloc(want), 0, want, null);
      if (bytesRead === 0) break;
      chunks.push(buffer.subarray(0, bytesRead));
      total += bytesRead;
      if (total > maxBytes) throw new FileReadError('too-large', `it is over the limit of ${maxBytes} bytes`);
    }
    return Buffer.concat(chunks, total);
  } finally {
    await handle.close();
  }
}

/**
 * Feeds a regular file's size (as `prefix(size)` gives it) and content into `hash`, chunk by chunk; returns
 * the number of content bytes hashed and the file's fstat (taken before reading).
 */
export async function hashRegularFile(
  file: string,
  hash: Hash,
  prefix?: (size: number) => string,
): Promise<{ size: number; stats: BigIntStats }> {
  const { handle, stats } = await openRegularFile(file);
  try {
    if (prefix) hash.update(prefix(Number(stats.size)));
    const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
    let size = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, CHUNK_BYTES, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      size += bytesRead;
    }
    return { size, stats };
  } finally {
    await handle.close();
  }
}
