// criu's restorer fills a clone's memory from the image one 4 KiB page at a time, a page fault each: in a VM
// that was most of a prebaked start (heavy-node: 25 of 34 ms for 53 MB). prebake's lean criu carries a patch
// (native/criu/0001-restore-fill-memory-with-huge-pages.patch) that fills whole blocks with transparent huge
// pages instead, where the kernel gives them to mappings that ask (MADV_HUGEPAGE) and to no others, and leaves
// each mapping as it was afterwards. Node's heap is in 256 KiB mappings, too small for a 2 MiB page: the
// smaller sizes (multi-size THP, Linux 6.8) are what make it work, and they are "never" by default. So prebake
// sets the sizes it fills with to "madvise" when they are "never": only mappings whose process asks for huge
// pages are affected, and such processes asked for larger pages than these. Measured in docs/BENCHMARKS.md,
// "Huge pages for the page fill". PREBAKE_THP_FILL=0 leaves the host as it is, and criu fills 4 KiB pages.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const THP_DIR = '/sys/kernel/mm/transparent_hugepage';
/** The patch of the lean criu's build.json that fills with huge pages. */
export const FILL_PATCH = '0001-restore-fill-memory-with-huge-pages';
/** The sizes prebake turns on: V8's pages are 256 KiB, 64 KiB fills what is left of them and other heaps. */
export const FILL_SIZES_KB = [64, 256];

export interface HugePageFill {
  /** Whether criu fills with huge pages (some size is given to mappings that ask, none to all mappings). */
  on: boolean;
  /** What was done or why not, for doctor. */
  detail: string;
}

/** The word in brackets of a THP `enabled` file ("always [madvise] never" -> "madvise"), or undefined. */
export function selected(text: string): string | undefined {
  return /\[(\w+)\]/.exec(text)?.[1];
}

/**
 * Why the fill could not leave mappings as they were under these settings, or undefined: where a mapping
 * without advice gets huge pages (THP "always", or some size "always"), advising NOHUGEPAGE after the fill would
 * change it, so criu does not fill (its own check, thp_fill_block() in the patch).
 */
function blocked(top: string | undefined, sizes: Map<number, string>): string | undefined {
  if (top !== 'madvise' && top !== 'never') return `THP is "${top ?? 'unknown'}"`;
  const always = [...sizes].find(([, word]) => word === 'always');
  return always ? `huge pages of ${always[0]} kB are "always"` : undefined;
}

/**
 * Whether the patched criu fills with huge pages under these settings, and which sizes it would fill with: `top`
 * is the `enabled` setting, `sizes` each size's (kB -> word).
 */
export function fillSizes(top: string | undefined, sizes: Map<number, string>): { sizesKb: number[]; why?: string } {
  const why = blocked(top, sizes);
  if (why) return { sizesKb: [], why };
  const sizesKb = [...sizes].filter(([, word]) => word === 'madvise' || (word === 'inherit' && top === 'madvise')).map(([kb]) => kb);
  return {
    sizesKb: sizesKb.sort((a, b) => a - b),
    ...(sizesKb.length === 0 && { why: 'no huge page size is given to mappings that ask' }),
  };
}

function readSizes(dir: string): Map<number, string> {
  const sizes = new Map<number, string>();
  for (const entry of readdirSync(dir)) {
    const kb = /^hugepages-(\d+)kB$/.exec(entry)?.[1];
    if (!kb) continue;
    // Some kernels list a size they cannot give (this VM's hugepages-8kB has no `enabled`): not a size then.
    let text: string;
    try {
      text = readFileSync(path.join(dir, entry, 'enabled'), 'utf8');
    } catch {
      continue;
    }
    const word = selected(text);
    if (word) sizes.set(Number(kb), word);
  }
  return sizes;
}

const sizeLabel = (kb: number) => (kb >= 1024 ? `${kb / 1024} MB` : `${kb} kB`);

/**
 * Turns on the sizes the fill uses (FILL_SIZES_KB, where "never") and says whether the patched criu fills with
 * huge pages here; never throws: without it restores are only slower. `dir` is the THP sysfs directory.
 */
export function prepareHugePageFill(env: NodeJS.ProcessEnv = process.env, dir = THP_DIR): HugePageFill {
  if (env.PREBAKE_THP_FILL === '0') return { on: false, detail: 'off (PREBAKE_THP_FILL=0): criu fills 4 KiB pages' };
  let top: string | undefined;
  let sizes: Map<number, string>;
  try {
    top = selected(readFileSync(path.join(dir, 'enabled'), 'utf8'));
    sizes = readSizes(dir);
  } catch (error) {
    return { on: false, detail: `off: cannot read ${dir} (${(error as Error).message})` };
  }
  const turnedOn: number[] = [];
  const refused: string[] = [];
  // Where the fill cannot work, nothing is turned on.
  if (!blocked(top, sizes)) {
    for (const kb of FILL_SIZES_KB) {
      if (sizes.get(kb) !== 'never') continue;
      try {
        writeFileSync(path.join(dir, `hugepages-${kb}kB`, 'enabled'), 'madvise');
        sizes.set(kb, 'madvise');
        turnedOn.push(kb);
      } catch (error) {
        refused.push(`hugepages-${kb}kB: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
    }
  }
  const partly = refused.length > 0 ? `; cannot set ${refused.join(', ')}` : '';
  const { sizesKb, why } = fillSizes(top, sizes);
  if (sizesKb.length === 0) return { on: false, detail: `off: ${why}${partly}` };
  const done = turnedOn.length > 0 ? ` (set ${turnedOn.map((kb) => `hugepages-${kb}kB`).join(', ')} to madvise)` : '';
  return { on: true, detail: `huge pages of ${sizesKb.map(sizeLabel).join(', ')}${done}${partly}` };
}
