import net from 'node:net';
import { encodeFrame, FrameDecoder, FrameError, type Frame } from './frames.ts';

export type ChannelFailure =
  | { kind: 'closed' }
  | { kind: 'timeout' }
  | { kind: 'malformed'; message: string };

/** Why a wait for a frame did not get one. */
export class ChannelError extends Error {
  readonly failure: ChannelFailure;
  constructor(failure: ChannelFailure) {
    super(failure.kind === 'malformed' ? failure.message : `control channel ${failure.kind}`);
    this.failure = failure;
  }
}

/**
 * The controller's side of an instance's control pipes: frames out on fd 3's pipe, frames in from fd 4's.
 * Owns both fds (they close with the channel).
 */
export class ControlChannel {
  private readonly input: net.Socket;
  private readonly output: net.Socket;
  private readonly decoder = new FrameDecoder();
  private readonly frames: Frame[] = [];
  private waiter: { resolve: (frame: Frame) => void; reject: (error: ChannelError) => void } | undefined;
  private failure: ChannelFailure | undefined;

  constructor(readFd: number, writeFd: number) {
    this.input = new net.Socket({ fd: readFd, readable: true, writable: false });
    this.output = new net.Socket({ fd: writeFd, readable: false, writable: true });
    // A write to an instance that died is not an error here: the read side reports the death.
    this.output.on('error', () => {});
    this.input.on('data', (chunk: Buffer) => {
      try {
        for (const frame of this.decoder.push(chunk)) this.deliver(frame);
      } catch (error) {
        this.fail({ kind: 'malformed', message: error instanceof FrameError ? error.message : String(error) });
      }
    });
    this.input.on('end', () => this.fail({ kind: 'closed' }));
    this.input.on('error', () => this.fail({ kind: 'closed' }));
  }

  send(header: Record<string, unknown>, body?: Buffer | string): void {
    if (!this.output.destroyed) this.output.write(encodeFrame(header, body));
  }

  /** The next frame from the instance; rejects with ChannelError when it closes or `timeoutMs` passes. */
  next(timeoutMs: number): Promise<Frame> {
    const queued = this.frames.shift();
    if (queued) return Promise.resolve(queued);
    if (this.failure) return Promise.reject(new ChannelError(this.failure));
    if (this.waiter) return Promise.reject(new Error('ControlChannel.next: a wait is already pending'));
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new ChannelError({ kind: 'timeout' }));
      }, timeoutMs);
      this.waiter = {
        resolve: (frame) => {
          clearTimeout(timer);
          resolve(frame);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
    });
  }

  close(): void {
    this.input.destroy();
    this.output.destroy();
    this.fail({ kind: 'closed' });
  }

  private deliver(frame: Frame): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter) waiter.resolve(frame);
    else this.frames.push(frame);
  }

  private fail(failure: ChannelFailure): void {
    this.failure ??= failure;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(new ChannelError(this.failure));
    if (failure.kind === 'malformed') this.input.destroy();
  }
}
