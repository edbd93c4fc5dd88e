import { execFileSync } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_KDAT_FILE, readCriuBuild } from '../../src/criu/build-info.ts';
import { ensureKdatCache } from '../../src/criu/kdat.ts';
import { criuBinary } from '../../src/paths.ts';

const temps: string[] = [];
afterEach(async () => {
  await Promise.all(temps.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});
const tempDir = async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'prebake-criu-build-'));
  temps.push(dir);
  return dir;
};

describe('criu build', () => {
  it('a criu without build.json beside it is packaged and uses the default cache path', async () => {
    const build = await readCriuBuild('sh');
    expect(build.kind).toBe('packaged');
    expect(build.kdatFile).toBe(DEFAULT_KDAT_FILE);
    expect(build.linked).toBe('dynamic'); // Debian's sh has an ELF interpreter
    expect(build.sha256).toMatch(/^[0-9a-f]{16}$/);
  });

  it('build.json names a lean build, and a copy with other bytes gets another sha256', async () => {
    const dir = await tempDir();
    const copy = path.join(dir, 'criu');
    await copyFile((await readCriuBuild('sh')).file, copy);
    await writeFile(
      path.join(dir, 'build.json'),
      JSON.stringify({
        build: 'lean',
        version: '4.1.1',
        source: 'test',
        linked: 'static',
        kdatFile: '/run/some-dir/criu.kdat',
      }),
    );
    const build = await readCriuBuild(copy);
    expect(build).toMatchObject({ kind: 'lean', linked: 'static', source: 'test', kdatFile: '/run/some-dir/criu.kdat' });
    expect(build.sha256).toBe((await readCriuBuild('sh')).sha256);
    await writeFile(copy, 'other');
    expect((await readCriuBuild(copy)).sha256).not.toBe(build.sha256);
  });

  it('a build.json that does not describe a lean build is ignored', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'criu'), '#!/bin/sh\n');
    await writeFile(path.join(dir, 'build.json'), JSON.stringify({ build: 'lean', kdatFile: 'relative' }));
    expect((await readCriuBuild(path.join(dir, 'criu'))).kind).toBe('packaged');
  });
});

// Only where setup.sh built the lean criu (it does on CI): its cache path is compiled into it, and prebake's
// cache for it never touches the host's /run/criu.kdat.
const installed = await readCriuBuild(criuBinary()).catch(() => undefined);
describe.runIf(installed?.kind === 'lean')('the lean criu setup.sh built', () => {
  it('has its own kernel-probe cache path compiled in, and prebake installs the cache there', async () => {
    const build = installed!;
    expect(build.kdatFile).not.toBe(DEFAULT_KDAT_FILE);
    expect((await readFile(build.file)).includes(Buffer.from(build.kdatFile))).toBe(true);
    const before = await stat(DEFAULT_KDAT_FILE).then(
      (s) => s.mtimeMs,
      () => undefined,
    );
    expect(await ensureKdatCache(build.file, build.kdatFile)).not.toBe('unavailable');
    expect((await stat(build.kdatFile)).size).toBeGreaterThan(0);
    expect(
      await stat(DEFAULT_KDAT_FILE).then(
        (s) => s.mtimeMs,
        () => undefined,
      ),
    ).toBe(before);
    // criu loads it (a cache it considered stale would be deleted and probed again).
    const logFile = path.join(await tempDir(), 'check.log');
    execFileSync(build.file, ['check', '-v4', '--log-file', logFile]);
    expect(await readFile(logFile, 'utf8')).toContain(`Loaded kdat cache from ${build.kdatFile}`);
  });
});
