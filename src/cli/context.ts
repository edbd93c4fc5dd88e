import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { Criu } from '../criu/criu.ts';
import { PrebakeError } from '../errors.ts';
import { DEFAULT_EVENT_LIMIT_BYTES, eventTooLarge } from '../invoke/event.ts';
import { sweepLeftovers } from '../manager/leftovers.ts';
import { resolveHome } from '../paths.ts';
import { ImageStore } from '../store/store.ts';

export interface GlobalOptions {
  home?: string;
  verbose?: boolean;
}

/** What every command works with: the store under --home and the criu driver. */
export function cliContext(options: GlobalOptions): { store: ImageStore; criu: Criu } {
  return { store: new ImageStore(resolveHome(options.home)), criu: new Criu() };
}

/**
 * cliContext for a command that works on the store, after sweeping what a killed prebake left on the home
 * (instances still running, work dirs): not only a daemon start cleans up after a SIGKILL'd `prebake invoke`.
 */
export async function openStore(options: GlobalOptions): Promise<{ store: ImageStore; criu: Criu }> {
  const context = cliContext(options);
  await sweepLeftovers(context.store);
  return context;
}

export function formatBytes(bytes: number): string {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e3).toFixed(1)} kB`;
}

export function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`;
}

/**
 * --data as given: inline JSON, @FILE, or - for stdin. Reading stops past `limitBytes` (PAYLOAD_TOO_LARGE), so
 * an endless input (`-d @/dev/zero`) costs no more than the limit.
 */
export async function readEventOption(data: string, limitBytes = DEFAULT_EVENT_LIMIT_BYTES): Promise<string> {
  if (data === '-') return readBounded(process.stdin, limitBytes);
  if (!data.startsWith('@')) return data;
  const file = data.slice(1);
  try {
    return await readBounded(createReadStream(file), limitBytes);
  } catch (error) {
    if (error instanceof PrebakeError) throw error;
    throw new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `cannot read the event from ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

async function readBounded(stream: Readable, limitBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  // Leaving the loop by a throw destroys the stream: nothing past the limit is read.
  for await (const chunk of stream) {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    total += bytes.length;
    if (total > limitBytes) throw eventTooLarge(limitBytes);
    chunks.push(bytes);
  }
  return Buffer.concat(chunks, total).toString('utf8');
}
