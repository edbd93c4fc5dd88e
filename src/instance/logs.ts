import net from 'node:net';
import { StringDecoder } from 'node:string_decoder';

export const DEFAULT_LOG_LIMIT_BYTES = 1024 * 1024;

/**
 * Collects what a function writes to its stdout and stderr (its logs), up to a limit per stream, so that a
 * function that floods its output cannot exhaust the controller's memory. Owns both fds.
 */
export class LogCollector {
  private readonly streams: net.Socket[];
  private readonly parts: { stream: 'stdout' | 'stderr'; text: string }[] = [];
  private readonly sizes = { stdout: 0, stderr: 0 };
  // Per stream, so that a character split across two reads (or cut at the limit) is never mangled.
  private readonly decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  private truncated = false;
  private readonly ended: Promise<void>;

  private readonly limitBytes: number;

  constructor(stdoutFd: number, stderrFd: number, limitBytes = DEFAULT_LOG_LIMIT_BYTES) {
    this.limitBytes = limitBytes;
    const open = (fd: number, name: 'stdout' | 'stderr') => {
      const socket = new net.Socket({ fd, readable: true, writable: false });
      socket.on('data', (chunk: Buffer) => this.add(name, chunk));
      socket.on('error', () => socket.destroy());
      return socket;
    };
    this.streams = [open(stdoutFd, 'stdout'), open(stderrFd, 'stderr')];
    this.ended = Promise.all(this.streams.map((s) => new Promise<void>((resolve) => s.once('close', () => resolve())))).then(() => {});
  }

  /** Counts bytes, not characters: the limit bounds the controller's memory. */
  private add(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    const room = this.limitBytes - this.sizes[stream];
    if (room <= 0) {
      this.truncated = true;
      return;
    }
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (kept.length < chunk.length) this.truncated = true;
    this.sizes[stream] += kept.length;
    const text = this.decoders[stream].write(kept);
    if (text) this.parts.push({ stream, text });
  }

  /** The logs so far, stdout and stderr interleaved as they arrived. */
  text(): string {
    const joined = this.parts.map((p) => p.text).join('');
    return this.truncated ? `${joined}\n[prebake: logs truncated at ${this.limitBytes} bytes per stream]\n` : joined;
  }

  /** The last `lines` lines `stream` wrote (as far as the limit kept them), without trailing blank lines. */
  tail(stream: 'stdout' | 'stderr', lines: number): string {
    const text = this.parts
      .filter((p) => p.stream === stream)
      .map((p) => p.text)
      .join('')
      .trimEnd();
    return text.split('\n').slice(-lines).join('\n');
  }

  /** Takes the logs so far, so that the next call returns only what came after (one invocation's logs). */
  take(): string {
    const text = this.text();
    this.parts.length = 0;
    return text;
  }

  /** Resolves once both streams reached end of file (every writer is gone), or after `timeoutMs`. */
  async drained(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.ended, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  close(): void {
    for (const stream of this.streams) stream.destroy();
  }
}
