import net from 'node:net';
import { PrebakeError } from '../errors.ts';
import { encodeFrame, type Frame, FrameDecoder, FrameError, FrameTooLargeError, MAX_BODY_BYTES } from './frames.ts';

export type ChannelFailure =
  | { kind: 'closed' }
  | { kind: 'timeout' }
  | { kind: 'malformed'; message: string }
  /** A frame came that no request asked for (an idle instance writing frames in a loop). */
  | { kind: 'unsolicited'; message: string }
  | { kind: 'too-large'; bytes: number; limit: number };

function describeFailure(failure: ChannelFailure): string {
  switch (failure.kind) {
    case 'malformed':
      return `the instance sent a malformed frame: ${failure.message}`;
    case 'unsolicited':
      return failure.message;
    case 'too-large':
      return `the instance sent a frame body of ${failure.bytes} bytes, over the limit of ${failure.limit}`;
    default:
      return `control channel ${failure.kind}`;
  }
}

/** Why a wait for a frame did not get one. */
export class ChannelError extends Error {
  readonly failure: ChannelFailure;
  constructor(failure: ChannelFailure) {
    super(describeFailure(failure));
    this.failure = failure;
  }
}

/**
 * The controller's side of an instance's control pipes: frames out on fd 3's pipe, frames in from fd 4's.
 * Owns both fds (they close with the channel).
 *
 * Nothing the instance sends is queued without bound. The protocol is request and reply: every frame sent asks
 * for exactly one frame back, and the first frame (`ready`) needs no request. A frame beyond that is a protocol
 * violation that fails the channel at once, whether or not anyone is waiting, and a reply's body is refused
 * from its length prefix when it is over the limit its request set.
 */
export class ControlChannel {
  private readonly input: net.Socket;
  private readonly output: net.Socket;
  private readonly decoder = new FrameDecoder();
  private readonly frames: Frame[] = [];
  /** Frames the instance may still send: one per request, plus `ready` from a launched instance. */
  private owed: number;
  private waiter: { resolve: (frame: Frame) => void; reject: (error: ChannelError) => void } | undefined;
  private failure: ChannelFailure | undefined;
  /** Called once when the instance breaks the protocol (not when it closes), waiting or not. */
  onViolation: ((failure: ChannelFailure) => void) | undefined;

  /** `announcesReady`: the instance sends `ready` unasked (a launched one; a restored clone speaks when spoken to). */
  constructor(readFd: number, writeFd: number, announcesReady = true) {
    this.owed = announcesReady ? 1 : 0;
    this.input = new net.Socket({ fd: readFd, readable: true, writable: false });
    this.output = new net.Socket({ fd: writeFd, readable: false, writable: true });
    // A write to an instance that died is not an error here: the read side reports the death.
    this.output.on('error', () => {});
    this.input.on('data', (chunk: Buffer) => {
      try {
        for (const frame of this.decoder.push(chunk)) this.deliver(frame);
      } catch (error) {
        if (error instanceof FrameTooLargeError) this.fail({ kind: 'too-large', bytes: error.bytes, limit: error.limit });
        else this.fail({ kind: 'malformed', message: error instanceof FrameError ? error.message : String(error) });
      }
    });
    this.input.on('end', () => this.fail({ kind: 'closed' }));
    this.input.on('error', () => this.fail({ kind: 'closed' }));
  }

  /** Sends a request, which the instance answers with one frame whose body is at most `replyLimitBytes`. */
  send(header: Record<string, unknown>, body?: Buffer | string, replyLimitBytes = MAX_BODY_BYTES): void {
    this.owed++;
    this.decoder.maxBodyBytes = Math.min(replyLimitBytes, MAX_BODY_BYTES);
    if (!this.output.destroyed) this.output.write(encodeFrame(header, body));
  }

  /** The next frame from the instance; rejects with ChannelError when it closes or `timeoutMs` passes. */
  next(timeoutMs: number): Promise<Frame> {
    const queued = this.frames.shift();
    if (queued) return Promise.resolve(queued);
    if (this.failure) return Promise.reject(new ChannelError(this.failure));
    // One reader at a time is how Instance uses a channel: a second is a bug in prebake, said as such.
    if (this.waiter)
      return Promise.reject(new PrebakeError('PREBAKE_ERR_INTERNAL', 'ControlChannel.next: a wait is already pending (a bug in prebake)'));
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
    if (this.failure) return;
    if (this.owed === 0) {
      this.fail({ kind: 'unsolicited', message: `the instance sent a "${String(frame.header.type)}" frame that nothing asked for` });
      return;
    }
    this.owed--;
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter) waiter.resolve(frame);
    else this.frames.push(frame);
  }

  private fail(failure: ChannelFailure): void {
    const first = this.failure === undefined;
    this.failure ??= failure;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(new ChannelError(this.failure));
    if (first && failure.kind !== 'closed') {
      // Stop reading: nothing more from this instance is trusted or buffered.
      this.input.destroy();
      this.onViolation?.(failure);
    }
  }
}
