import { readFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import { Criu } from '../criu/criu.ts';
import { PrebakeError } from '../errors.ts';
import { resolveHome } from '../paths.ts';
import { ImageStore } from '../store/store.ts';

export interface GlobalOptions {
  home?: string;
}

/** What every command works with: the store under --home and the criu driver. */
export function cliContext(options: GlobalOptions): { store: ImageStore; criu: Criu } {
  return { store: new ImageStore(resolveHome(options.home)), criu: new Criu() };
}

export function formatBytes(bytes: number): string {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e3).toFixed(1)} kB`;
}

export function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`;
}

/** --data as given: inline JSON, @FILE, or - for stdin. */
export async function readEventOption(data: string): Promise<string> {
  if (data === '-') return text(process.stdin);
  if (!data.startsWith('@')) return data;
  const file = data.slice(1);
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `cannot read the event from ${file}: ${(error as Error).message}`, { cause: error });
  }
}
