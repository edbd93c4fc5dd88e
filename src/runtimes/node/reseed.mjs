// Makes a restored clone's randomness its own. Every clone of one snapshot starts with the same memory, so
// any generator seeded before the snapshot would repeat across clones (verified: Math.random, randomUUID and
// randomBytes all repeated). Called on the `resume` frame, before any handler code runs in the clone.
//
// Covered: Math.random; Node's cache of pre-generated UUIDs behind every reference to randomUUID (node:crypto's
// export however it was imported, webcrypto's, and libraries that kept it, such as uuid@9's v4);
// crypto.randomBytes / randomFill / getRandomValues / randomInt and TLS, all fed by OpenSSL's generator,
// which the native addon reseeds from the kernel (RAND_poll) and the controller's seed (RAND_add).
// Not covered: a reference to the old Math.random kept by the function before the snapshot, and generators
// the function or its libraries seeded at init (nanoid@3's pool; reseed them in an afterRestore hook).
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
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
// snapshot left in it, so later values come from refills made after the reseed. The two-argument form reads the
// same 6 bytes a call and takes a quarter of the time (0.13 against 0.58 ms for the 1024 here): this runs on
// every prebaked start.
function drainRandomIntCache() {
  for (let i = 0; i < 1024; i++) crypto.randomInt(0, 1);
}

// Node hands out UUIDs from one 2 KiB cache of random bytes, 128 UUIDs per fill, refilled when its cursor
// wraps to 0. Any function that captured randomUUID (destructured, imported, kept by a library) calls that same
// cache, so replacing the property is not enough: the snapshot's bytes must go. 128 calls take the cursor once
// round, through a refill from the reseeded OpenSSL, back to where it was, leaving only fresh bytes behind.
const UUID_CACHE_SIZE = 128;
function refillRandomUUIDCache() {
  for (let i = 0; i < UUID_CACHE_SIZE; i++) crypto.randomUUID();
}

export function reseedRandomness(seedHex) {
  const seed = Buffer.from(seedHex, 'hex');
  opensslReseeder().reseed(seed);
  // From here OpenSSL's output is the clone's own: everything below draws from it.
  Math.random = makeMathRandom();
  drainRandomIntCache();
  refillRandomUUIDCache();
}
