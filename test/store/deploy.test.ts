// A build is a deployed version: its code is copied into the store and every instance of it runs from the copy,
// so that neither an edit nor the removal of the source changes what a name runs, and a read-only source builds.
import { mkdir, readFile, readlink, rename, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFunction } from '../../src/bake/build.ts';
import { invokeFunction } from '../../src/invoke/invoke.ts';
import { loadFunction } from '../../src/manifest/load.ts';
import { sourceStatus } from '../../src/store/source-status.ts';
import type { StoredImage } from '../../src/store/store.ts';
import { makeSandbox, ROOT, type Sandbox } from '../helpers.ts';

let sandbox: Sandbox;
let dir: string;
let image: StoredImage;

// A Node function with a dependency in node_modules, links of both kinds and a .git directory.
async function writeFunction(target: string, greeting: string): Promise<void> {
  await mkdir(path.join(target, 'node_modules', 'greeting'), { recursive: true });
  await mkdir(path.join(target, 'node_modules', '.bin'), { recursive: true });
  await mkdir(path.join(target, '.git'), { recursive: true });
  await writeFile(path.join(target, 'function.json'), JSON.stringify({ name: 'deployed-node', runtime: 'node', handler: 'index.handler' }));
  await writeFile(path.join(target, 'node_modules', 'greeting', 'index.js'), `module.exports = () => ${JSON.stringify(greeting)};\n`);
  await writeFile(path.join(target, '.git', 'HEAD'), 'ref: refs/heads/main\n');
  await writeFile(
    path.join(target, 'index.js'),
    `const fs = require('node:fs');
const greeting = require('greeting');
exports.handler = async () => ({
  greeting: greeting(),
  cwd: process.cwd(),
  dirname: __dirname,
  // The source's link leads out of its directory, so out of a plain start's view of the source: null there.
  shared: fs.existsSync('shared.txt') ? fs.readFileSync('shared.txt', 'utf8') : null,
});
`,
  );
  await symlink('../greeting/index.js', path.join(target, 'node_modules', '.bin', 'greet'));
  // A relative link that leads out of the function's directory.
  await writeFile(path.join(sandbox.root, 'shared.txt'), 'outside');
  await symlink(path.relative(target, path.join(sandbox.root, 'shared.txt')), path.join(target, 'shared.txt'));
}

const invoke = async (target: string, mode?: 'cold' | 'prebaked') =>
  JSON.parse((await invokeFunction({ target, event: '{}', mode }, sandbox.store, sandbox.criu, sandbox.instances)).result) as Record<
    string,
    string
  >;

beforeAll(async () => {
  sandbox = await makeSandbox();
  dir = path.join(sandbox.root, 'functions', 'deployed-node');
  await writeFunction(dir, 'hello');
  image = await buildFunction(await loadFunction(dir), { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances });
});

afterAll(() => sandbox.finish());

describe('a build', () => {
  it("copies the function's code, node_modules included, into its store entry", async () => {
    expect(image.codeDir.startsWith(image.buildDir)).toBe(true);
    expect(await readFile(path.join(image.codeDir, 'node_modules', 'greeting', 'index.js'), 'utf8')).toContain('hello');
    expect(await readlink(path.join(image.codeDir, 'node_modules', '.bin', 'greet'))).toBe('../greeting/index.js');
    // The link that left the directory is replaced by a copy of its file: nothing outside is in the view.
    expect(await readFile(path.join(image.codeDir, 'shared.txt'), 'utf8')).toBe('outside');
    await expect(readFile(path.join(image.codeDir, '.git', 'HEAD'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('runs its instances from the copy, restored and plain', async () => {
    // The sandbox binds the build's copy as the function's directory (/var/task); the plan names the host side.
    expect(image.meta.sandbox.mounts.find((m) => m.target === '/var/task')?.source).toBe(image.codeDir);
    for (const mode of ['prebaked', 'cold'] as const) {
      const result = await invoke('deployed-node', mode);
      expect(result).toEqual({ greeting: 'hello', cwd: '/var/task', dirname: '/var/task', shared: 'outside' });
    }
  });

  it('keeps running by name after its source changed or went away; by directory it refuses', async () => {
    await writeFile(path.join(dir, 'node_modules', 'greeting', 'index.js'), 'module.exports = () => "changed";\n');
    expect(await sourceStatus(image.meta)).toBe('changed');
    expect((await invoke('deployed-node')).greeting).toBe('hello');
    expect((await invoke('deployed-node', 'cold')).greeting).toBe('hello');
    await expect(invoke(dir)).rejects.toMatchObject({ code: 'PREBAKE_ERR_IMAGE_STALE' });
    // Invoking the directory plainly runs the source as it is now.
    expect((await invoke(dir, 'cold')).greeting).toBe('changed');

    const moved = `${dir}-moved`;
    await rename(dir, moved);
    try {
      expect(await sourceStatus(image.meta)).toBe('missing');
      expect((await invoke('deployed-node')).greeting).toBe('hello');
      expect((await invoke('deployed-node', 'cold')).greeting).toBe('hello');
    } finally {
      await rename(moved, dir);
    }
    await writeFile(path.join(dir, 'node_modules', 'greeting', 'index.js'), `module.exports = () => "hello";\n`);
    expect(await sourceStatus(image.meta)).toBe('unchanged');
  });

  it('builds from a read-only directory, and the build runs without it', async () => {
    // A read-only bind mount that exists only in a private mount namespace, as a Docker `-v dir:/functions:ro`.
    const mountPoint = path.join(sandbox.root, 'readonly', 'deployed-node');
    await mkdir(mountPoint, { recursive: true });
    const script = [
      'set -e',
      `mount --bind "${dir}" "${mountPoint}"`,
      `mount -o remount,bind,ro "${mountPoint}"`,
      `if touch "${mountPoint}/probe" 2>/dev/null; then echo "the mount is writable" >&2; exit 99; fi`,
      // The same function from another directory: it takes the name over, as a redeploy from a new path does.
      `exec "${path.join(ROOT, 'bin', 'prebake')}" --home "${sandbox.home}" build --replace "${mountPoint}"`,
    ].join('\n');
    const built = await execa('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], { reject: false });
    expect(built.exitCode, built.stderr).toBe(0);
    const rebuilt = await sandbox.store.get('deployed-node');
    expect(rebuilt?.meta.spec.dir).toBe(mountPoint);
    // Out here the mount point is an empty directory: the answer can only come from the build's copy.
    expect(await invoke('deployed-node')).toMatchObject({ greeting: 'hello', cwd: '/var/task' });
    expect(rebuilt!.meta.sandbox.mounts.find((m) => m.target === '/var/task')?.source).toBe(rebuilt!.codeDir);
    expect(await sourceStatus(rebuilt!.meta)).not.toBe('unchanged');
  });
});
