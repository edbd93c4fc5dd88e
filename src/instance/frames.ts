// The framing codec of the instance protocol (docs/PROTOCOL.md): a length-prefixed JSON header followed by a
// length-prefixed body that is passed through verbatim. The shims in src/runtimes/* implement the same format.

export const MAX_HEADER_BYTES = 64 * 1024;
export const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** Lambda's limit for a synchronous invocation's event and its response: prebake's default for both. */
export const LAMBDA_PAYLOAD_BYTES = 6 * 1024 * 1024;

export interface Frame {
  header: Record<string, unknown>;
  /** UTF-8 JSON text, or empty. */
  body: Buffer;
}

export function encodeFrame(header: Record<string, unknown>, body: Buffer | string = ''): Buffer {
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const bodyBytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const out = Buffer.allocUnsafe(8 + headerBytes.length + bodyBytes.length);
  out.writeUInt32BE(headerBytes.length, 0);
  headerBytes.copy(out, 4);
  out.writeUInt32BE(bodyBytes.length, 4 + headerBytes.length);
  bodyBytes.copy(out, 8 + headerBytes.length);
  return out;
}

export class FrameError extends Error {}

/** A frame whose body is over the decoder's limit: found from its length, before the body is buffered. */
export class FrameTooLargeError extends FrameError {
  readonly bytes: number;
  readonly limit: number;
  constructor(bytes: number, limit: number) {
    super(`frame body of ${bytes} bytes is over the limit of ${limit} bytes`);
    this.bytes = bytes;
    this.limit = limit;
  }
}

/** Accumulates bytes from a stream and yields whole frames. */
export class FrameDecoder {
  /** The largest body accepted (at most MAX_BODY_BYTES); the caller may lower it per expected frame. */
  maxBodyBytes = MAX_BODY_BYTES;
  private chunks: Buffer[] = [];
  private buffered = 0;
  // Bytes needed before the next frame can be complete: saves re-joining a large body's chunks on every push.
  private needed = 4;

  /** Adds bytes; returns the frames they complete. Throws FrameError on a malformed stream. */
  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      const frame = this.next();
      if (!frame) return frames;
      frames.push(frame);
    }
  }

  get pendingBytes(): number {
    return this.buffered;
  }

  private next(): Frame | undefined {
    if (this.buffered < this.needed) return undefined;
    const data = this.concat();
    const headerLength = data.readUInt32BE(0);
    if (headerLength > MAX_HEADER_BYTES) throw new FrameError(`frame header of ${headerLength} bytes is over the limit`);
    if (data.length < 8 + headerLength) {
      this.needed = 8 + headerLength;
      return undefined;
    }
    const bodyLength = data.readUInt32BE(4 + headerLength);
    if (bodyLength > this.maxBodyBytes) throw new FrameTooLargeError(bodyLength, this.maxBodyBytes);
    const end = 8 + headerLength + bodyLength;
    if (data.length < end) {
      this.needed = end;
      return undefined;
    }
    let header: unknown;
    try {
      header = JSON.parse(data.toString('utf8', 4, 4 + headerLength));
    } catch {
      throw new FrameError('frame header is not JSON');
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) {
      throw new FrameError('frame header is not a JSON object');
    }
    const body = data.subarray(8 + headerLength, end);
    const rest = data.subarray(end);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    this.needed = 4;
    return { header: header as Record<string, unknown>, body };
  }

  private concat(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }
}
