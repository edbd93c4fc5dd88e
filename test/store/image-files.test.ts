// An image is verified before it is restored: its files are the ones its build recorded (sha256 and size), or it
// is never restored. Root only, checked in full by each process once and by a stat per restore after.
import { createHash } from 'node:crypto';
import { open, readdir, readFile, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type BuildResult, buildFunction } from '../../src/bake/build.ts';
import { cliHint } from '../../src/cli/hints.ts';
import { invokeFunction } from '../../src/invoke/invoke.ts';
import { TMP_SNAPSHOT_DIR } from '../../src/launch/tmp-snapshot.ts';
import { loadFunction } from '../../src/manifest/load.ts';
import { httpHint } from '../../src/server/hints.ts';
import { ImageStore } from '../../src/store/store.ts';
import { makeSandbox, prebakeFailure, runPrebake, type Sandbox } from '../helpers.ts';

let sandbox: Sandbox;
let dir: string;

beforeAll(async () => {
  sandbox = await makeSandbox();
  dir = await sandbox.addFunction('faulty-node');
});

afterEach(async () => {
  await sandbox.expectClean();
});

afterAll(() => sandbox.cleanup());

let pristine: { built: BuildResult; copy: string } | undefined;

/**
 * faulty-node's image as its build left it. Built once for the file; each later call puts the build dir back
 * from a copy (cp -a: modes, owners and groups as criu needs them), undoing what the previous test damaged.
 */
async function build(): Promise<BuildResult> {
  if (pristine) {
    await rm(pristine.built.buildDir, { recursive: true });
    await execa('cp', ['-a', pristine.copy, pristine.built.buildDir]);
    return pristine.built;
  }
  const built = await buildFunction(await loadFunction(dir), { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances });
  const copy = path.join(sandbox.root, 'pristine-build');
  await execa('cp', ['-a', built.buildDir, copy]);
  pristine = { built, copy };
  return built;
}

/** A store as a newly started process has it: nothing verified yet. */
const freshStore = () => new ImageStore(sandbox.home);

const invoke = (store: ImageStore) => invokeFunction({ target: 'faulty-node', event: '{"n":1}' }, store, sandbox.criu, sandbox.instances);

/** Flips one byte in the middle of `file`, in place: same inode, same size. */
async function patchByte(file: string): Promise<void> {
  const { size } = await stat(file);
  const handle = await open(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, Math.floor(size / 2));
    byte[0] = byte[0]! ^ 0xff;
    await handle.write(byte, 0, 1, Math.floor(size / 2));
  } finally {
    await handle.close();
  }
}

describe('an image', () => {
  it("is readable by root (and the group of the instances' namespace root, which criu reads it as) only and records the sha256 and size of every file", async () => {
    const built = await build();
    // The deployed code (code/) keeps its own modes, as the source had them (the sandbox binds it read-only
    // into every instance); the snapshot's /tmp keeps its own modes (1777, the instance's files) under tmp/,
    // which is root's only.
    const entries = (await readdir(built.buildDir, { recursive: true, withFileTypes: true })).filter(
      (entry) => !path.join(entry.parentPath, entry.name).startsWith(built.codeDir),
    );
    const snapshotTmp = path.join(built.buildDir, TMP_SNAPSHOT_DIR);
    for (const entry of [{ parentPath: path.dirname(built.buildDir), name: path.basename(built.buildDir) }, ...entries]) {
      const file = path.join(entry.parentPath, entry.name);
      if (file === snapshotTmp || file.startsWith(`${snapshotTmp}/`)) continue;
      const { mode, uid, gid } = await stat(file);
      expect(uid).toBe(0);
      if (gid === built.meta.sandbox.hostIdBase) {
        expect(mode & 0o027, `${entry.name} mode ${(mode & 0o777).toString(8)}`).toBe(0);
      } else {
        expect(mode & 0o077, `${entry.name} mode ${(mode & 0o777).toString(8)}`).toBe(0);
      }
    }
    expect((await stat(path.dirname(snapshotTmp))).mode & 0o077).toBe(0);
    const files = await readdir(built.imageDir);
    expect(Object.keys(built.meta.files).sort()).toEqual(files.sort());
    for (const file of files) {
      const content = await readFile(path.join(built.imageDir, file));
      expect(built.meta.files[file]).toEqual({ sha256: createHash('sha256').update(content).digest('hex'), size: content.length });
    }
  });

  it('with a patched page is never restored, in a new process as in one that restored it before', async () => {
    const built = await build();
    const store = freshStore();
    expect(JSON.parse((await invoke(store)).result)).toMatchObject({ echo: { n: 1 } });

    await patchByte(path.join(built.imageDir, 'pages-1.img'));
    for (const which of [store, freshStore()]) {
      const error = await prebakeFailure(invoke(which));
      expect(error.code).toBe('PREBAKE_ERR_IMAGE_CORRUPT');
      expect(error.message).toMatch(/pages-1\.img does not match its sha256/);
      // The core says rebuild; each surface says how (src/cli/hints.ts, src/server/hints.ts).
      expect(cliHint(error)).toContain(`prebake build ${built.meta.spec.dir}`);
      expect(httpHint(error)).toContain('POST /functions/faulty-node/build');
    }
  });

  it('with a patched page and its mtime put back is still caught (the inode change time moved)', async () => {
    const built = await build();
    const store = freshStore();
    await invoke(store);
    const file = path.join(built.imageDir, 'pages-1.img');
    const before = await stat(file);
    await patchByte(file);
    await utimes(file, before.atime, before.mtime);
    expect((await prebakeFailure(invoke(store))).code).toBe('PREBAKE_ERR_IMAGE_CORRUPT');
  });

  it('with truncated pages fails at once with IMAGE_CORRUPT, not at the timeout of a hung clone', async () => {
    const built = await build();
    await truncate(path.join(built.imageDir, 'pages-1.img'), 4096);
    const error = await prebakeFailure(invoke(freshStore()));
    expect(error.code).toBe('PREBAKE_ERR_IMAGE_CORRUPT');
    expect(error.message).toMatch(/pages-1\.img has 4096 bytes, not \d+/);
  });

  it('with a file added or removed is not restored', async () => {
    const built = await build();
    await writeFile(path.join(built.imageDir, 'core-99.img'), 'x');
    expect((await prebakeFailure(invoke(freshStore()))).message).toMatch(/core-99\.img is not part of it/);

    const again = await build();
    const store = freshStore();
    await invoke(store);
    await truncate(path.join(again.imageDir, 'core-1.img'), 0);
    expect((await prebakeFailure(invoke(store))).code).toBe('PREBAKE_ERR_IMAGE_CORRUPT');
  });
});

describe('an image built before digests were recorded', () => {
  it('is stale, not corrupt: refused with a hint to rebuild (as bench and the daemon treat stale images)', async () => {
    const built = await build();
    const metaFile = path.join(built.buildDir, 'meta.json');
    const { files: _files, ...older } = JSON.parse(await readFile(metaFile, 'utf8')) as Record<string, unknown>;
    await writeFile(metaFile, JSON.stringify(older));
    const error = await prebakeFailure(invoke(freshStore()));
    expect(error.code).toBe('PREBAKE_ERR_IMAGE_STALE');
    expect(error.message).toMatch(/image digests/);
  });
});

describe('a meta.json that is not as a build writes it', () => {
  it('is a typed error naming the file and the field, not a crash later', async () => {
    const built = await build();
    const metaFile = path.join(built.buildDir, 'meta.json');
    const meta = JSON.parse(await readFile(metaFile, 'utf8')) as { spec: Record<string, unknown> };
    await writeFile(metaFile, JSON.stringify({ ...meta, spec: { ...meta.spec, timeoutMs: 'soon' } }));
    const error = await prebakeFailure(invoke(freshStore()));
    expect(error.code).toBe('PREBAKE_ERR_NOT_BUILT');
    expect(error.message).toContain(metaFile);
    expect(error.message).toContain('"spec.timeoutMs"');
    expect(error.details).toMatchObject({ reason: 'invalid', file: metaFile, dir: meta.spec.dir });

    await writeFile(metaFile, '{"format": 3, "name": ');
    const cut = await prebakeFailure(invoke(freshStore()));
    expect(cut.code).toBe('PREBAKE_ERR_NOT_BUILT');
    expect(cut.details).toMatchObject({ reason: 'unreadable', file: metaFile });
  });
});

describe('prebake verify', () => {
  const prebake = (...args: string[]) => runPrebake(['--home', sandbox.home, ...args]);

  it('says ok for a sound image and exits 3 naming the file of a corrupt one', async () => {
    const built = await build();
    const ok = await prebake('verify');
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^ok faulty-node \(\d+ files\)$/m);

    await patchByte(path.join(built.imageDir, 'mm-1.img'));
    const bad = await prebake('verify', 'faulty-node');
    expect(bad.exitCode).toBe(3);
    expect(bad.stdout).toMatch(/^CORRUPT faulty-node$/m);
    expect(bad.stderr).toMatch(/mm-1\.img does not match its sha256.*\[PREBAKE_ERR_IMAGE_CORRUPT\]/);

    const unknown = await prebake('verify', 'nope');
    expect(unknown.exitCode).toBe(3);
    expect(unknown.stderr).toMatch(/PREBAKE_ERR_UNKNOWN_FUNCTION/);
  });
});
