// The huge page fill (src/criu/huge-page-fill.ts): which host settings allow it and what prebake changes, on a
// fake THP sysfs directory; and, where the patched lean criu is installed, that a real clone's memory is in
// large folios with the fill and in 4 KiB pages without it, with the same pages present either way.
import { closeSync, openSync, readSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readCriuBuild } from '../../src/criu/build-info.ts';
import { FILL_PATCH, fillSizes, prepareHugePageFill, selected, THP_DIR } from '../../src/criu/huge-page-fill.ts';
import { criuBinary } from '../../src/paths.ts';
import { startPrebaked } from '../../src/start/restore.ts';
import { sandboxForFile } from '../helpers.ts';

const temps: string[] = [];
afterEach(async () => {
  await Promise.all(temps.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A THP sysfs directory: `top` for `enabled`, and each size's setting. */
async function fakeThp(top: string, sizes: Record<number, string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'prebake-thp-'));
  temps.push(dir);
  const line = (word: string, words: string[]) => words.map((w) => (w === word ? `[${w}]` : w)).join(' ');
  await writeFile(path.join(dir, 'enabled'), `${line(top, ['always', 'madvise', 'never'])}\n`);
  for (const [kb, word] of Object.entries(sizes)) {
    await mkdir(path.join(dir, `hugepages-${kb}kB`));
    await writeFile(path.join(dir, `hugepages-${kb}kB`, 'enabled'), `${line(word, ['always', 'inherit', 'madvise', 'never'])}\n`);
  }
  return dir;
}
const setting = async (dir: string, kb: number) => (await readFile(path.join(dir, `hugepages-${kb}kB`, 'enabled'), 'utf8')).trim();

describe('the host settings the huge page fill needs', () => {
  it('reads the word in brackets', () => {
    expect(selected('always [madvise] never\n')).toBe('madvise');
    expect(selected('always inherit madvise never')).toBeUndefined();
  });

  it('fills with the sizes given to mappings that ask, and inherit counts only under "madvise"', () => {
    const sizes = new Map([
      [16, 'never'],
      [64, 'madvise'],
      [2048, 'inherit'],
    ]);
    expect(fillSizes('madvise', sizes)).toEqual({ sizesKb: [64, 2048] });
    expect(fillSizes('never', sizes)).toEqual({ sizesKb: [64] });
    expect(fillSizes('always', sizes).why).toMatch(/THP is "always"/);
    expect(
      fillSizes(
        'madvise',
        new Map([
          [64, 'always'],
          [256, 'madvise'],
        ]),
      ).why,
    ).toMatch(/64 kB are "always"/);
    expect(fillSizes('never', new Map([[2048, 'inherit']])).why).toMatch(/no huge page size/);
  });

  it('turns on the 64 and 256 kB sizes where they are "never", and leaves an administrator\'s choice alone', async () => {
    const dir = await fakeThp('madvise', { 16: 'never', 64: 'never', 256: 'never', 2048: 'inherit' });
    await mkdir(path.join(dir, 'hugepages-8kB')); // listed without an `enabled`, as on this VM's kernel
    const fill = prepareHugePageFill({}, dir);
    expect(fill.on).toBe(true);
    expect(fill.detail).toMatch(/64 kB, 256 kB, 2 MB .*set hugepages-64kB, hugepages-256kB to madvise/);
    expect([await setting(dir, 64), await setting(dir, 256)]).toEqual(['madvise', 'madvise']);
    expect(await setting(dir, 16)).toMatch(/\[never\]/);

    const chosen = await fakeThp('never', { 64: 'inherit', 256: 'madvise' });
    expect(prepareHugePageFill({}, chosen)).toEqual({ on: true, detail: 'huge pages of 256 kB' });
    expect(await setting(chosen, 64)).toMatch(/\[inherit\]/);
  });

  it('changes nothing where a mapping without advice gets huge pages, or when told not to', async () => {
    const always = await fakeThp('always', { 64: 'never', 256: 'never' });
    expect(prepareHugePageFill({}, always)).toMatchObject({ on: false, detail: expect.stringMatching(/THP is "always"/) });
    const sizeAlways = await fakeThp('madvise', { 64: 'always', 256: 'never' });
    expect(prepareHugePageFill({}, sizeAlways)).toMatchObject({ on: false, detail: expect.stringMatching(/64 kB are "always"/) });
    const told = await fakeThp('madvise', { 64: 'never', 256: 'never' });
    expect(prepareHugePageFill({ PREBAKE_THP_FILL: '0' }, told)).toMatchObject({
      on: false,
      detail: expect.stringMatching(/PREBAKE_THP_FILL=0/),
    });
    for (const dir of [always, sizeAlways, told]) expect(await setting(dir, 256)).toMatch(/\[never\]/);
    expect(prepareHugePageFill({}, path.join(told, 'missing'))).toMatchObject({ on: false, detail: expect.stringMatching(/cannot read/) });
  });
});

// /proc/kpageflags bits (Documentation/admin-guide/mm/pagemap.rst).
const KPF_COMPOUND_HEAD = 15n;
const KPF_COMPOUND_TAIL = 16n;

/** The present pages of a process's private anonymous mappings, and how many of them are in large folios. */
async function anonPages(pid: number): Promise<{ present: number; inLargeFolios: number }> {
  const maps = await readFile(`/proc/${pid}/maps`, 'utf8');
  const pagemap = openSync(`/proc/${pid}/pagemap`, 'r');
  const kpageflags = openSync('/proc/kpageflags', 'r');
  const entry = Buffer.alloc(8);
  let present = 0;
  let inLargeFolios = 0;
  try {
    for (const line of maps.trim().split('\n')) {
      const [range, perms, , , inode, name] = line.split(/\s+/);
      if (inode !== '0' || !perms!.endsWith('p') || (name && name !== '[heap]')) continue;
      const [start, end] = range!.split('-').map((hex) => Number.parseInt(hex, 16)) as [number, number];
      const pages = (end - start) / 4096;
      const entries = Buffer.alloc(pages * 8);
      readSync(pagemap, entries, 0, entries.length, (start / 4096) * 8);
      for (let i = 0; i < pages; i++) {
        const value = entries.readBigUInt64LE(i * 8);
        if (!(value >> 63n)) continue;
        present++;
        const pfn = value & ((1n << 55n) - 1n);
        readSync(kpageflags, entry, 0, 8, Number(pfn) * 8);
        const flags = entry.readBigUInt64LE(0);
        if ((flags >> KPF_COMPOUND_HEAD) & 1n || (flags >> KPF_COMPOUND_TAIL) & 1n) inLargeFolios++;
      }
    }
  } finally {
    closeSync(pagemap);
    closeSync(kpageflags);
  }
  return { present, inLargeFolios };
}

const installed = await readCriuBuild(criuBinary()).catch(() => undefined);
const hostFills = installed?.patches.includes(FILL_PATCH) && prepareHugePageFill().on;
const sandboxOfFile = hostFills ? sandboxForFile('faulty-node') : () => undefined as never;

// Where setup.sh built the patched lean criu (it does on CI) and the kernel has multi-size THP (Linux 6.8).
describe.runIf(hostFills)(`a clone restored by the lean criu (${THP_DIR})`, () => {
  it('has its memory in large folios, the same pages as without the fill, and answers', async () => {
    const sandbox = sandboxOfFile();
    const image = (await sandbox.store.get('faulty-node'))!;
    const measure = async (fill: boolean) => {
      if (!fill) process.env.PREBAKE_THP_FILL = '0';
      try {
        const clone = await startPrebaked(image, sandbox.store, sandbox.criu, sandbox.instances);
        try {
          const pages = await anonPages(await clone.instance.initPid());
          const result = await clone.instance.invoke('{"n":1}', { requestId: `fill-${fill}`, timeoutMs: 10_000 });
          return { ...pages, answer: JSON.parse(result.body.toString()) as { echo: unknown; requestId: string; invocations: number } };
        } finally {
          await clone.instance.end();
          await clone.cleanup();
        }
      } finally {
        delete process.env.PREBAKE_THP_FILL;
      }
    };
    const withFill = await measure(true);
    const without = await measure(false);
    expect(withFill.inLargeFolios).toBeGreaterThan(withFill.present / 2); // seen: 86%
    expect(without.inLargeFolios).toBeLessThan(withFill.inLargeFolios / 4);
    // Only blocks the image fills whole are advised: no huge page holds memory the image does not (a block
    // advised whole for a page or two would make tens of pages present). Seen: 3,078 against 3,071 pages.
    expect(Math.abs(withFill.present - without.present)).toBeLessThan(without.present * 0.05);
    // The restored heap is the snapshot's: the counter the warm-ups left and the event come back as they should.
    expect(withFill.answer).toMatchObject({ echo: { n: 1 }, requestId: 'fill-true', invocations: without.answer.invocations });
  });
});
