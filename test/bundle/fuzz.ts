// Random and mutated tar streams for the bundle importer: mostly a real header (so the importer reads on),
// then entries drawn from names, types and link targets an attacker would try, sums right, wrong or absent, and
// sometimes the bytes themselves flipped or cut. Seeded: a seed gives the same cases again.
import { createHash } from 'node:crypto';
import { buffer } from 'node:stream/consumers';
import tar from 'tar-stream';
import { type BundleEntry, writeEntries } from './bundle-tools.ts';

/** mulberry32: small, seedable, good enough to pick cases. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const TYPES = [
  'file',
  'file',
  'file',
  'directory',
  'symlink',
  'link',
  'character-device',
  'block-device',
  'fifo',
  'contiguous-file',
] as const;
const FORGED_TYPES = ['file', 'directory', 'symlink', 'symlink', 'link', 'fifo', 'character-device'] as const;

export interface FuzzOptions {
  seed: number;
  /** The real bundle's header entry. */
  header: BundleEntry;
  /** A regular file's entry of the real bundle (its header's fields). */
  template: BundleEntry;
  /**
   * Entries of a real bundle (its big image files may be left out: import checks them against meta.json only at
   * restore): some cases are it with intruders slipped in and the sums made right, so that they get as far as
   * the permission fix-up and the publish.
   */
  real: BundleEntry[];
  /** A directory outside the store: names and link targets point into it. */
  outside: string;
  /** Cases made whatever the time: how many does not depend on how loaded the machine is. */
  minCases: number;
  maxCases: number;
  /** Past minCases, more cases while this much time has not passed. */
  maxMs: number;
}

export function* fuzzBundles(options: FuzzOptions): Generator<{ bundle: () => Promise<Buffer>; label: string }> {
  const next = random(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const bytes = (max: number) => Buffer.from(Array.from({ length: Math.floor(next() * max) }, () => Math.floor(next() * 256)));
  const { outside } = options;
  const names = [
    'entry/meta.json',
    'entry/images/x.img',
    'entry/code/a.js',
    'entry/code',
    'entry',
    'prepared/p-0123456789abcdef/x',
    'source/index.mjs',
    '../x',
    'entry/../../x',
    'entry/../../outside/victim',
    `${outside}/new`,
    `${outside}/victim`,
    'entry/a/b/c',
    'entry/a',
    '/',
    'entry//x',
    'entry/x/',
    './entry/x',
    'SHA256SUMS',
    'prebake-bundle.json',
    `entry/${'a'.repeat(300)}`,
    'entry/images/x.img/inner',
  ];
  // Where a forged bundle's intruder does harm if accepted: the image files fixed up as root, the code.
  const forgedNames = [
    'entry/images/evil',
    'entry/images/evil',
    'entry/code/evil.js',
    'entry/evil',
    'entry/images',
    'entry/meta.json',
    'entry/tmp',
    'entry/tmp/root',
  ];
  const linknames = [
    `${outside}/victim`,
    `${outside}/victim`,
    '../outside/victim',
    '../../../outside/victim',
    'entry/meta.json',
    '/',
    'entry/images',
  ];
  const started = Date.now();
  for (let i = 0; i < options.maxCases && (i < options.minCases || Date.now() - started < options.maxMs); i++) {
    const intruder = (pool = names, types: readonly (typeof TYPES)[number][] = TYPES): BundleEntry => {
      const type = pick(types);
      const content = type === 'file' || type === 'contiguous-file' ? bytes(64) : Buffer.alloc(0);
      return {
        header: {
          ...options.template.header,
          name: pick(pool),
          type,
          mode: Math.floor(next() * 0o7777),
          linkname: pick(linknames),
          size: content.length,
        },
        content,
      };
    };
    if (next() < 0.5) {
      // The real bundle, forged: its importer reads every file, and an accepted one is published and fixed up.
      const forged = options.real.slice(0, -1);
      const intruders = 1 + Math.floor(next() * 2);
      for (let n = 0; n < intruders; n++)
        forged.splice(1 + Math.floor(next() * (forged.length - 1)), 0, intruder(forgedNames, FORGED_TYPES));
      const label = `the real bundle with ${forged
        .filter((e) => !options.real.includes(e))
        .map((e) => `${e.header.type}:${e.header.name.slice(0, 60)}`)
        .join(', ')}`;
      yield { bundle: () => writeEntries([...forged, options.real.at(-1)!], { resum: true }), label };
      continue;
    }
    const entries: BundleEntry[] = [];
    const headerKind = next();
    if (headerKind < 0.85) entries.push(options.header);
    else if (headerKind < 0.95) {
      const json = JSON.parse(options.header.content.toString());
      json.spec.dir = pick([`${outside}/new-dir`, outside, '/']);
      entries.push({ ...options.header, content: Buffer.from(JSON.stringify(json)) });
    }
    const count = Math.floor(next() * 7);
    for (let n = 0; n < count; n++) entries.push(intruder());
    const sumsKind = next();
    if (sumsKind < 0.6) {
      const lines = entries
        .slice(1)
        .filter((e) => e.header.type !== 'directory')
        .map((e) => {
          const hashed = e.header.type === 'symlink' || e.header.type === 'link' ? Buffer.from(e.header.linkname ?? '') : e.content;
          return `${createHash('sha256').update(hashed).digest('hex')}  ${e.header.name}\n`;
        });
      const header = options.header.header;
      const sumsOf = (text: string) => ({
        header: { ...header, name: 'SHA256SUMS', size: Buffer.byteLength(text) },
        content: Buffer.from(text),
      });
      entries.push(
        sumsOf(
          `${createHash('sha256')
            .update(entries[0]?.content ?? '')
            .digest('hex')}  prebake-bundle.json\n${lines.join('')}`,
        ),
      );
    } else if (sumsKind < 0.8) {
      entries.push({ header: { ...options.header.header, name: 'SHA256SUMS', size: 0 }, content: bytes(200) });
    }
    const flips = next() < 0.3 ? 1 + Math.floor(next() * 8) : 0;
    const cut = next() < 0.1 ? next() : 1;
    const flipAt = Array.from({ length: flips }, () => [next(), Math.floor(next() * 256)] as const);
    const label = `${entries.map((e) => `${e.header.type}:${e.header.name.slice(0, 60)}`).join(', ')}${flips ? `; ${flips} byte(s) flipped` : ''}${cut < 1 ? `; cut at ${(cut * 100).toFixed(0)}%` : ''}`;
    const bundle = async () => {
      const pack = tar.pack();
      const done = buffer(pack);
      for (const { header, content } of entries) {
        const sized = { ...header, size: content.length };
        // A header tar-stream itself cannot write (an empty name, say) is left out: the importer never sees it.
        await new Promise<void>((resolve) => {
          try {
            pack.entry(sized, content, () => resolve());
          } catch {
            resolve();
          }
        });
      }
      pack.finalize();
      const tarBytes = Buffer.from(await done);
      for (const [where, value] of flipAt) {
        const at = Math.floor(where * tarBytes.length);
        tarBytes[at] = tarBytes[at]! ^ (value || 1);
      }
      return tarBytes.subarray(0, Math.floor(cut * tarBytes.length));
    };
    yield { bundle, label };
  }
}
