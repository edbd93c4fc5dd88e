// Unpacking deployment packages: real zips made with yazl (and by hand where yazl refuses to write the attack).
import { mkdtemp, readFile, readlink, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import yazl from 'yazl';
import { isPrebakeError } from '../../src/errors.ts';
import { unpackZip } from '../../src/lambda/zip.ts';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'prebake-zip-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

type Item = { name: string; content?: string | Buffer; mode?: number; dir?: true; link?: string };

/** A zip of `items` (a link is an entry whose unix mode says S_IFLNK and whose content is its target). */
async function zipOf(items: Item[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const item of items) {
    if (item.dir) zip.addEmptyDirectory(item.name);
    else if (item.link !== undefined) zip.addBuffer(Buffer.from(item.link), item.name, { mode: 0o120777 });
    else zip.addBuffer(Buffer.from(item.content ?? ''), item.name, { mode: item.mode ?? 0o100644 });
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

let n = 0;
const fresh = () => path.join(work, `fn-${++n}`);

async function refusal(zip: Buffer, limits?: Parameters<typeof unpackZip>[2]): Promise<string> {
  const dest = fresh();
  const error = await unpackZip(zip, dest, limits).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isPrebakeError(error) && error.code).toBe('PREBAKE_ERR_ZIP_REFUSED');
  // Nothing of it kept.
  await expect(stat(dest)).rejects.toThrow(/ENOENT/);
  return (error as Error).message;
}

describe('unpackZip', () => {
  it('unpacks files, directories, modes and links inside the tree, as a function directory', async () => {
    const dest = fresh();
    const zip = await zipOf([
      { name: 'index.js', content: 'exports.handler = async () => 1;\n' },
      { name: 'node_modules/dep/', dir: true },
      { name: 'node_modules/dep/cli.js', content: '#!/usr/bin/env node\n', mode: 0o100755 },
      { name: 'node_modules/.bin/dep', link: '../dep/cli.js' },
    ]);
    expect(await unpackZip(zip, dest)).toBe(2);
    expect(await readFile(path.join(dest, 'index.js'), 'utf8')).toContain('exports.handler');
    expect((await stat(path.join(dest, 'node_modules/dep/cli.js'))).mode & 0o777).toBe(0o755);
    expect((await stat(path.join(dest, 'index.js'))).mode & 0o777).toBe(0o644);
    expect(await readlink(path.join(dest, 'node_modules/.bin/dep'))).toBe('../dep/cli.js');
  });

  it('refuses links out of the tree, by their target or through another link, and links to nothing', async () => {
    expect(await refusal(await zipOf([{ name: 'a', link: '/etc/passwd' }]))).toMatch(/link a -> \/etc\/passwd.*outside/);
    expect(await refusal(await zipOf([{ name: 'sub/a', link: '../../x' }]))).toMatch(/outside/);
    // Lexically inside, but `x` is the directory itself: `x/..` is its parent.
    expect(
      await refusal(
        await zipOf([
          { name: 'x', link: '.' },
          { name: 'y', link: 'x/../outside' },
        ]),
      ),
    ).toMatch(/link y/);
    expect(await refusal(await zipOf([{ name: 'dangling', link: 'nothing-here' }]))).toMatch(/leads nowhere/);
  });

  it('writes nothing through a link of the archive, and refuses a name twice or as both file and directory', async () => {
    // `a` a link to a directory inside, then a file under `a/`: the file lands in a real directory `a`, and the
    // link, made last, finds its name taken.
    expect(
      await refusal(
        await zipOf([
          { name: 'real/', dir: true },
          { name: 'a', link: 'real' },
          { name: 'a/f', content: 'x' },
        ]),
      ),
    ).toMatch(/link a/);
    expect(
      await refusal(
        await zipOf([
          { name: 'f', content: '1' },
          { name: 'f', content: '2' },
        ]),
      ),
    ).toMatch(/has f: twice/);
    expect(
      await refusal(
        await zipOf([
          { name: 'f', content: '1' },
          { name: 'f/g', content: '2' },
        ]),
      ),
    ).toMatch(/file and as a directory|ENOTDIR/);
  });

  it('refuses names with .. or a leading /, and archives that are not zips', async () => {
    // yazl will not write these names: patch them into the archive's bytes (both headers).
    const patched = (await zipOf([{ name: 'xx/evil.js', content: 'x' }])).toString('latin1').replaceAll('xx/evil.js', '../evil.js');
    expect(await refusal(Buffer.from(patched, 'latin1'))).toMatch(/\.\.\/evil\.js|invalid relative path/);
    const absolute = (await zipOf([{ name: 'xetc/passwd', content: 'x' }])).toString('latin1').replaceAll('xetc/passwd', '/etc/passwd');
    expect(await refusal(Buffer.from(absolute, 'latin1'))).toMatch(/absolute path|\/etc\/passwd/);
    expect(await refusal(Buffer.from('PK not really a zip'))).toMatch(/is not a zip archive/);
  });

  it('refuses an archive over the size, unpacked-size or entry limits, before writing past them', async () => {
    const bomb = await zipOf([{ name: 'zeros', content: Buffer.alloc(8 * 1024 * 1024) }]);
    expect(bomb.length).toBeLessThan(100 * 1024);
    const limits = { maxZipBytes: 1024 * 1024, maxUnpackedBytes: 4 * 1024 * 1024, maxEntries: 10 };
    expect(await refusal(bomb, limits)).toMatch(/unpacks to more than 4194304 bytes \(at zeros\)/);
    expect(await refusal(bomb, { ...limits, maxZipBytes: 1000 })).toMatch(/is \d+ bytes: over the limit of 1000/);
    const many = await zipOf(Array.from({ length: 11 }, (_, i) => ({ name: `f${i}`, content: 'x' })));
    expect(await refusal(many, limits)).toMatch(/has 11 entries: over the limit of 10/);
  });

  it('refuses an entry whose data inflates to more than its header says', async () => {
    const honest = await zipOf([{ name: 'small', content: 'a'.repeat(1000) }]);
    // The uncompressed size in both headers says 10 bytes; yauzl stops the stream past them.
    const bytes = Buffer.from(honest);
    // yazl writes sizes in a data descriptor and the central directory (which yauzl reads): patch that one.
    const central = bytes.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    bytes.writeUInt32LE(10, central + 24);
    expect(await refusal(bytes)).toMatch(/has small/);
  });
});
