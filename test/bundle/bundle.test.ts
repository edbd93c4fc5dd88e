// prebake export and import as a user runs them: a function's snapshot moves between two homes and restores
// there; damaged, truncated and foreign bundles are refused and leave nothing behind.
import { chmod, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageStore } from '../../src/store/store.ts';
import { FIXTURES, makeSandbox, ROOT, runPrebake, type Sandbox } from '../helpers.ts';
import { homeLeftovers, readEntries, writeEntries } from './bundle-tools.ts';

let sandbox: Sandbox;
let homeB: string;
let bundleFile: string;
let bundle: Buffer;
const prebake = (home: string, args: string[], input?: Buffer) => runPrebake(['--home', home, ...args], input);

async function expectRefused(damaged: Buffer, code: string): Promise<string> {
  const file = path.join(sandbox.root, 'damaged.tar');
  await writeFile(file, damaged);
  const result = await prebake(homeB, ['import', file]);
  expect(result.exitCode).not.toBe(0);
  const stderr = result.stderr;
  expect(stderr).toContain(`[${code}]`);
  expect(await homeLeftovers(homeB)).toEqual([]);
  return stderr;
}

beforeAll(async () => {
  sandbox = await makeSandbox();
  homeB = path.join(sandbox.root, 'home-b');
  const dir = await sandbox.addFunction('node-shim');
  const build = await prebake(sandbox.home, ['build', dir]);
  expect(build.exitCode, build.stderr).toBe(0);
  bundleFile = path.join(sandbox.root, 'node-shim.tar');
  // An image dir kept root-only (as a hardened store keeps it) must stay so where it is imported.
  await chmod((await sandbox.store.get('node-shim'))!.imageDir, 0o700);
  const exported = await prebake(sandbox.home, ['export', 'node-shim', '-o', bundleFile]);
  expect(exported.exitCode, exported.stderr).toBe(0);
  bundle = await readFile(bundleFile);
});

afterAll(() => sandbox.finish());

describe('prebake export and import', () => {
  it('writes the header first, every file of the entry (the code among them), files and directories only, and a sha256 for each', async () => {
    const entries = await readEntries(bundle);
    const names = entries.map((e) => e.header.name);
    expect(names[0]).toBe('prebake-bundle.json');
    expect(names.at(-1)).toBe('SHA256SUMS');
    const header = JSON.parse(entries[0]!.content.toString());
    expect(header).toMatchObject({ format: 1, name: 'node-shim', fingerprint: { criu: expect.any(String), kernel: expect.any(String) } });
    expect(header.fingerprint.runtime.sha256).toMatch(/^[0-9a-f]{64}$/);
    const { buildDir } = (await sandbox.store.get('node-shim'))!;
    const entryFiles = (await readdir(buildDir, { recursive: true, withFileTypes: true })).filter((d) => d.isFile());
    for (const file of entryFiles) expect(names).toContain(`entry/${path.relative(buildDir, path.join(file.parentPath, file.name))}`);
    expect(names).toContain('entry/code/function.json');
    // The code travels once, in the entry: no separate copy of the source, no link of any kind.
    expect(names.filter((name) => name.startsWith('source/'))).toEqual([]);
    expect(new Set(entries.map((e) => e.header.type))).toEqual(new Set(['file', 'directory']));
    const sums = entries.at(-1)!.content.toString().trim().split('\n');
    expect(names).toContain('entry/images');
    const contents = entries.filter((e) => e.header.type !== 'directory' && e.header.name !== 'SHA256SUMS');
    expect(sums.map((line) => line.split('  ')[1]).sort()).toEqual(contents.map((e) => e.header.name).sort());
  });

  it('moves a function to another home, where it restores and answers', async () => {
    // The real binary, the bundle piped to its stdin.
    const imported = await execa(path.join(ROOT, 'bin', 'prebake'), ['--home', homeB, 'import', '-'], { reject: false, input: bundle });
    expect(imported.exitCode, imported.stderr).toBe(0);
    expect(imported.stdout).toMatch(/^imported node-shim \(node, build /);
    const metaA = (await sandbox.store.get('node-shim'))!.meta;
    const metaB = (await new ImageStore(homeB).get('node-shim'))!.meta;
    expect(metaB.buildId).toBe(metaA.buildId);
    expect(metaB.preparedDir.startsWith(homeB)).toBe(true);
    const imageDirB = (await new ImageStore(homeB).get('node-shim'))!.imageDir;
    // Root-only still, but for the group of the instances' namespace root, which criu reads it as (docs/SANDBOX.md).
    const imageDirStat = await stat(imageDirB);
    expect(imageDirStat.mode & 0o777).toBe(0o750);
    expect([imageDirStat.uid, imageDirStat.gid]).toEqual([0, metaA.sandbox.hostIdBase]);

    const invoke = await prebake(homeB, ['invoke', 'node-shim', '-d', '{"moved":true}', '--timing']);
    expect(invoke.exitCode, invoke.stderr).toBe(0);
    expect(JSON.parse(invoke.stdout)).toMatchObject({ event: { moved: true } });
    expect(invoke.stderr).toMatch(/start: prebaked/);
  });

  it("writes nothing at the source directory the bundle names, absent here, and restores from the entry's code", async () => {
    const { meta } = (await sandbox.store.get('node-shim'))!;
    await rm(meta.spec.dir, { recursive: true });
    await rm(homeB, { recursive: true, force: true });
    const imported = await prebake(homeB, ['import', bundleFile]);
    expect(imported.exitCode, imported.stderr).toBe(0);
    await expect(stat(meta.spec.dir)).rejects.toMatchObject({ code: 'ENOENT' });
    const importedMeta = (await new ImageStore(homeB).get('node-shim'))!.meta;
    // Shown as where it was built, and marked as imported (docs/BUNDLES.md).
    expect(importedMeta.spec.dir).toBe(meta.spec.dir);
    expect(importedMeta.importedAt).toEqual(expect.any(String));
    const invoke = await prebake(homeB, ['invoke', 'node-shim', '--timing']);
    expect(invoke.exitCode, invoke.stderr).toBe(0);
    expect(invoke.stderr).toMatch(/start: prebaked/);
  });

  it('moves code kept inside the store entry along with the entry into the new home', async () => {
    await rm(homeB, { recursive: true, force: true });
    // A build keeps its deployed code in its entry (entry/code): it travels with the entry.
    const entries = await readEntries(bundle);
    expect(entries.some((e) => e.header.name === 'entry/code/index.mjs')).toBe(true);
    const imported = await prebake(homeB, ['import', '-'], bundle);
    expect(imported.exitCode, imported.stderr).toBe(0);
    const { codeDir } = (await new ImageStore(homeB).get('node-shim'))!;
    expect(codeDir.startsWith(homeB)).toBe(true);
    expect(await readFile(path.join(codeDir, 'index.mjs'), 'utf8')).toBe(
      await readFile(path.join(FIXTURES, 'node-shim', 'index.mjs'), 'utf8'),
    );
    const invoke = await prebake(homeB, ['invoke', 'node-shim', '--timing']);
    expect(invoke.exitCode, invoke.stderr).toBe(0);
    expect(invoke.stderr).toMatch(/start: prebaked/);
  });

  it('imports under another name with --name, beside the original, and the renamed one restores', async () => {
    const homeC = path.join(sandbox.root, 'home-c');
    for (const name of [[], ['--name', 'node-shim-v2']]) {
      const imported = await prebake(homeC, ['import', bundleFile, ...name]);
      expect(imported.exitCode, imported.stderr).toBe(0);
    }
    const storeC = new ImageStore(homeC);
    expect((await storeC.list()).map((meta) => meta.name).sort()).toEqual(['node-shim', 'node-shim-v2']);
    expect((await storeC.get('node-shim-v2'))!.meta.spec.name).toBe('node-shim-v2');
    const invoke = await prebake(homeC, ['invoke', 'node-shim-v2', '-d', '{"renamed":true}', '--timing']);
    expect(invoke.exitCode, invoke.stderr).toBe(0);
    expect(JSON.parse(invoke.stdout)).toMatchObject({ event: { renamed: true } });
    expect(invoke.stderr).toMatch(/start: prebaked/);
    const before = await homeLeftovers(homeC);
    const refused = await prebake(homeC, ['import', bundleFile, '--name', '../escape']);
    expect(refused.stderr).toContain('[PREBAKE_ERR_INVALID_INPUT]');
    expect(await homeLeftovers(homeC)).toEqual(before);
  });

  it('refuses a bundle with a damaged image file and keeps nothing of it', async () => {
    await rm(homeB, { recursive: true, force: true });
    const entries = await readEntries(bundle);
    const pages = entries.find((e) => /^entry\/images\/pages-\d+\.img$/.test(e.header.name))!;
    pages.content[Math.floor(pages.content.length / 2)]! ^= 0xff;
    const stderr = await expectRefused(await writeEntries(entries), 'PREBAKE_ERR_BUNDLE_CORRUPT');
    expect(stderr).toContain(`${pages.header.name} does not match its sha256`);
  });

  it('refuses a truncated bundle, cut mid-file or cut between files', async () => {
    await expectRefused(bundle.subarray(0, Math.floor(bundle.length / 2)), 'PREBAKE_ERR_BUNDLE_CORRUPT');
    const entries = await readEntries(bundle);
    const stderr = await expectRefused(await writeEntries(entries.slice(0, -1)), 'PREBAKE_ERR_BUNDLE_CORRUPT');
    expect(stderr).toContain('ends before SHA256SUMS');
  });

  it('refuses a file slipped in that the sums do not list, an entry outside the layout, a file under a file', async () => {
    const entries = await readEntries(bundle);
    // A regular file's header to dress the intruders in (the entry also lists directories, code/ among them).
    const template = entries.find((e) => e.header.type === 'file' && e.header.name.startsWith('entry/'))!;
    const extra = { header: { ...template.header, name: 'entry/images/extra.img' }, content: Buffer.from('x') };
    const slipped = await expectRefused(
      await writeEntries([...entries.slice(0, -1), extra, entries.at(-1)!]),
      'PREBAKE_ERR_BUNDLE_CORRUPT',
    );
    expect(slipped).toContain('entry/images/extra.img is not listed');
    const escaping = { header: { ...template.header, name: 'entry/../../escape' }, content: Buffer.from('x') };
    await expectRefused(await writeEntries([entries[0]!, escaping, ...entries.slice(1)], { resum: true }), 'PREBAKE_ERR_BUNDLE_CORRUPT');
    const file = entries.find((e) => e.header.type === 'file' && e.header.name.startsWith('entry/'))!;
    const clash = [
      { ...file, header: { ...file.header, name: 'entry/clash' } },
      { ...file, header: { ...file.header, name: 'entry/clash/inner' } },
    ];
    await expectRefused(await writeEntries([entries[0]!, ...clash, ...entries.slice(1)], { resum: true }), 'PREBAKE_ERR_BUNDLE_CORRUPT');
  });

  it('refuses a bundle from a host with another kernel and says so; --force imports it marked for rebuild', async () => {
    const entries = await readEntries(bundle);
    const header = JSON.parse(entries[0]!.content.toString());
    header.fingerprint.kernel = '5.10.0-foreign';
    header.fingerprint.cpuFeatures.push('avx10_imaginary');
    entries[0]!.content = Buffer.from(JSON.stringify(header));
    const foreign = await writeEntries(entries, { resum: true });
    const stderr = await expectRefused(foreign, 'PREBAKE_ERR_BUNDLE_INCOMPATIBLE');
    expect(stderr).toContain('kernel 5.10.0-foreign there');
    expect(stderr).toContain('CPU features missing here: avx10_imaginary');

    const forced = await prebake(homeB, ['import', '--force', '-'], foreign);
    expect(forced.exitCode, forced.stderr).toBe(0);
    expect(forced.stdout).toContain('marked for rebuild');
    const invoke = await prebake(homeB, ['invoke', 'node-shim']);
    expect(invoke.stderr).toContain('[PREBAKE_ERR_IMAGE_STALE]');
    expect(invoke.stderr).toContain('kernel 5.10.0-foreign there');
  });

  it('says which file it cannot read', async () => {
    const result = await prebake(homeB, ['import', path.join(sandbox.root, 'no-such.tar')]);
    expect(result.stderr).toMatch(/cannot read the bundle .*no-such\.tar.*\[PREBAKE_ERR_INVALID_INPUT\]/);
  });

  it('refuses to write a bundle of an unknown function', async () => {
    const result = await prebake(sandbox.home, ['export', 'nothing-here', '-o', path.join(sandbox.root, 'none.tar')]);
    expect(result.stderr).toContain('[PREBAKE_ERR_UNKNOWN_FUNCTION]');
    expect(await readdir(sandbox.root)).not.toContain('none.tar');
  });
});
