// The event of an invocation, checked before anything starts: one JSON value, within the size limit. Said
// without any surface's wording: the CLI and the HTTP API each add their own how-to.
import { PrebakeError } from '../errors.ts';
import { LAMBDA_PAYLOAD_BYTES, MAX_BODY_BYTES } from '../instance/frames.ts';

/** The largest event accepted by default: Lambda's limit for a synchronous invocation. */
export const DEFAULT_EVENT_LIMIT_BYTES = LAMBDA_PAYLOAD_BYTES;

export function eventTooLarge(limitBytes: number): PrebakeError {
  return new PrebakeError('PREBAKE_ERR_PAYLOAD_TOO_LARGE', `the event is over the limit of ${limitBytes} bytes`, {
    hint: 'pass large data by reference (a path or URL in the event), as with Lambda',
  });
}

/** Throws PREBAKE_ERR_INVALID_EVENT unless `text` is one JSON value of an acceptable size. */
export function checkEvent(text: string, limitBytes = DEFAULT_EVENT_LIMIT_BYTES): void {
  if (limitBytes > MAX_BODY_BYTES) throw new RangeError(`an event limit over ${MAX_BODY_BYTES} bytes cannot be framed`);
  if (Buffer.byteLength(text) > limitBytes) throw eventTooLarge(limitBytes);
  try {
    JSON.parse(text);
  } catch (error) {
    throw new PrebakeError('PREBAKE_ERR_INVALID_EVENT', `the event is not valid JSON: ${(error as Error).message}`, {
      hint: 'an event is one JSON value, for example {"name":"x"}',
    });
  }
}
