// The API token as a bearer credential, checked in constant time (the daemon's routes and the Lambda API's).
import { createHash, timingSafeEqual } from 'node:crypto';

// Digests of equal length, so the comparison takes the same time whatever the given token's length or content.
const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** The token of an `Authorization: Bearer <token>` header, else undefined. */
export function bearerToken(authorization: string | undefined): string | undefined {
  return /^Bearer +(\S+) *$/i.exec(authorization ?? '')?.[1];
}

/** A check of given secrets against `expected`, which is digested once. */
export function secretChecker(expected: string): (given: string) => boolean {
  const wanted = digest(expected);
  return (given) => timingSafeEqual(digest(given), wanted);
}
