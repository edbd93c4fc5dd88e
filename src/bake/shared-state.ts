// The logic of the clone-uniqueness check (clone-check.ts runs the instances): which fields of a result are
// state that clones share. A value that differs between two plain starts comes from something each process
// makes for itself (a random pool, a generator seeded at init); if two clones of one image return the same
// value there, that something was made once, before the snapshot, and every clone repeats it.

/** Field paths of a JSON result, e.g. `$`, `$.id`, `$.items[0].token`, `$["a b"]`. */
export type FieldPath = string;

// Values that two independent processes can give alike by chance (a flag, a count, a duration rounded to
// 0.1 ms) would make the comparison flag noise: only values with room for entropy are compared. A random
// float has 15 to 17 significant digits, a random 32-bit integer 9 or 10.
const MIN_STRING_LENGTH = 8;
const MIN_SIGNIFICANT_DIGITS = 7;
// The init time is shared by design (init ran once, before the snapshot), not a uniqueness bug.
const ISO_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/;
const TIME_WINDOW_MS = 366 * 24 * 60 * 60 * 1000;

interface CompareOptions {
  /** Epoch milliseconds the check ran at: numbers near it, in ms or s, are times. */
  nowMs: number;
}

/**
 * The paths whose value differs between the two plain starts but is the same in both clones. Only leaves
 * present in all four results are compared.
 */
export function sharedStatePaths(plain: [unknown, unknown], clones: [unknown, unknown], options: CompareOptions): FieldPath[] {
  const [a, b] = [withIdParts(leaves(plain[0])), withIdParts(leaves(plain[1]))];
  const [c, d] = [withIdParts(leaves(clones[0])), withIdParts(leaves(clones[1]))];
  const shared: FieldPath[] = [];
  for (const [path, value] of a) {
    if (!b.has(path) || !c.has(path) || !d.has(path)) continue;
    const part = ID_PART.test(path);
    if (!part && (!distinctive(value, options) || !distinctive(b.get(path), options))) continue;
    if (!Object.is(value, b.get(path)) && Object.is(c.get(path), d.get(path))) shared.push(path);
  }
  // A whole value shared says it all: its parts are not listed again.
  return shared.filter((path) => !ID_PART.test(path) || !shared.includes(path.replace(ID_PART, '')));
}

// Ids made of parts, some drawn once per process: a clone repeats those parts while the whole id still
// differs (its time or counter part moves). uuid@9's v1() draws its node id and clock sequence on its first
// call; a MongoDB ObjectId carries 5 bytes drawn once per process. Each part is compared as a leaf of its own,
// named `<path> (<part>)`; a short part (a clock sequence has 14 bits) is compared too, since a false alarm
// needs two clones to draw it alike and two plain starts not to.
const ID_PART = / \([a-z -]+\)$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-([0-9a-f])[0-9a-f]{3}-([0-9a-f]{4})-([0-9a-f]{12})$/i;
const OBJECT_ID = /^[0-9a-f]{8}([0-9a-f]{10})[0-9a-f]{6}$/i;

/** `found` with, after each id-shaped string, its per-process parts as leaves of their own. */
function withIdParts(found: Map<FieldPath, unknown>): Map<FieldPath, unknown> {
  const out = new Map<FieldPath, unknown>();
  for (const [path, value] of found) {
    out.set(path, value);
    if (typeof value !== 'string') continue;
    const uuid = UUID.exec(value);
    // Version 1 and 6 UUIDs are time-based: a time, a clock sequence, a node id (RFC 9562).
    if (uuid && (uuid[1] === '1' || uuid[1] === '6')) {
      out.set(`${path} (uuid clock sequence)`, (parseInt(uuid[2]!, 16) & 0x3fff).toString(16));
      out.set(`${path} (uuid node)`, uuid[3]!.toLowerCase());
    }
    const objectId = OBJECT_ID.exec(value);
    if (objectId) out.set(`${path} (objectid process part)`, objectId[1]!.toLowerCase());
  }
  return out;
}

function distinctive(value: unknown, { nowMs }: CompareOptions): boolean {
  if (typeof value === 'string') return value.length >= MIN_STRING_LENGTH && !ISO_TIME.test(value);
  if (typeof value !== 'number' || !Number.isFinite(value)) return false;
  if (significantDigits(value) < MIN_SIGNIFICANT_DIGITS) return false;
  const nearNow = Math.abs(value - nowMs) < TIME_WINDOW_MS || Math.abs(value * 1000 - nowMs) < TIME_WINDOW_MS;
  return !nearNow;
}

/** Digits of the shortest decimal form that round-trips: 123.4 has 4, 0.8444218515250481 has 16. */
function significantDigits(value: number): number {
  const mantissa = Math.abs(value).toExponential().split('e')[0]!;
  return mantissa.replace('.', '').length;
}

/** Every leaf (string, number, boolean, null) of a JSON value by its path. */
export function leaves(value: unknown, path: FieldPath = '$', into = new Map<FieldPath, unknown>()): Map<FieldPath, unknown> {
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) leaves(item, `${path}[${index}]`, into);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      leaves(item, /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`, into);
    }
  } else {
    into.set(path, value);
  }
  return into;
}
