// Makes a restored clone's randomness its own. Every clone of one snapshot starts with the same memory, so
// any generator seeded before the snapshot would repeat across clones (verified: Math.random, randomUUID and
// randomBytes all repeated). Called on the `resume` frame, before any handler code runs in the clone.
//
// Covered: Math.random; crypto.randomUUID and webcrypto's randomUUID (their pre-generated cache);
// crypto.randomBytes / randomFill / getRandomValues / randomInt and TLS, all fed by OpenSSL's generator,
// which the native addon reseeds from the kernel (RAND_poll) and the controller's seed (RAND_add).
// Not covered: a reference to the old Math.random kept by the function before the snapshot, and generators
// the function wrote itself and seeded at init (reseed them in an afterRestore hook).
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const originalRandomUUID = crypto.randomUUID;
let openssl;
function opensslReseeder() {
  openssl ??= require(path.join(import.meta.dirname, '..', '..', '..', 'native', 'build', 'reseed.node'));
  return openssl;
}

// Math.random drawn from OpenSSL in 512-value batches: the clone's own once OpenSSL is reseeded.
function makeMathRandom() {
  const pool = new BigUint64Array(512);
  let next = pool.length;
  return function random() {
    if (next === pool.length) {
      crypto.randomFillSync(pool);
      next = 0;
    }
    return Number(pool[next++] >> 11n) / 2 ** 53;
  };
}

// crypto.randomInt keeps a private 6 KiB cache of random bytes, 6 per value; 1024 calls use up whatever the
// snapshot left in it, so later values come from refills made after the reseed.
function drainRandomIntCache() {
  for (let i = 0; i < 1024; i++) crypto.randomInt(1);
}

export function reseedRandomness(seedHex) {
  const seed = Buffer.from(seedHex, 'hex');
  opensslReseeder().reseed(seed);
  // From here OpenSSL's output is the clone's own: everything below draws from it.
  Math.random = makeMathRandom();
  drainRandomIntCache();
  // Node hands out UUIDs from a cache of random bytes filled before the snapshot: bypass it.
  const freshUUID = () => originalRandomUUID({ disableEntropyCache: true });
  crypto.randomUUID = freshUUID;
  if (globalThis.crypto?.randomUUID) {
    Object.defineProperty(globalThis.crypto, 'randomUUID', { value: freshUUID, configurable: true, writable: true });
  }
}
