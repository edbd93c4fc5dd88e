import { createReadStream } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { PrebakeError } from '../errors.ts';
import { Host } from '../host/host.ts';
import type { InstanceRegistry } from '../instance/registry.ts';
import { DEFAULT_EVENT_LIMIT_BYTES, eventTooLarge } from '../invoke/event.ts';
import { resolveHome } from '../paths.ts';

/** Where a command reads and writes: the process's own streams, or a caller's (runCli in-process). */
export interface CliIo {
  stdin: Readable;
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
}

/** One run of the command line: its streams, the registry of the instances it starts, and its exit code. */
export interface CliSession {
  io: CliIo;
  instances: InstanceRegistry;
  /** Set by a command that ends without an error yet reports a failure (bench, doctor). */
  exitCode: number;
}

export interface GlobalOptions {
  home?: string;
  verbose?: boolean;
}

/**
 * The Host every command works through, on --home. A command's process exits when it is done: it keeps no
 * instances between calls, and a failed restore is reported rather than hidden behind a plain start (a rebuild
 * mark would not outlive the process).
 */
export function cliHost(options: GlobalOptions, instances?: InstanceRegistry): Host {
  return new Host({ home: resolveHome(options.home), instances, keepInstances: false, config: { fallback: false } });
}

/** cliHost for a command that works on the store, once the home is made and swept (Host.open). */
export async function openHost(options: GlobalOptions, instances?: InstanceRegistry): Promise<Host> {
  const host = cliHost(options, instances);
  await host.open();
  return host;
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
export async function readEventOption(data: string, stdin: Readable, limitBytes = DEFAULT_EVENT_LIMIT_BYTES): Promise<string> {
  if (data === '-') return readBounded(stdin, limitBytes);
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
