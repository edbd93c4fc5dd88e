// The view's root (src/launch/skeleton.ts): what the plan says it holds instead of binds, copies and device nodes.

import { statSync } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { etcCopies, hostFacts, treeStamps } from '../../src/launch/host-facts.ts';
import { ensureRoot } from '../../src/launch/skeleton.ts';
import { type RootEntry, rootPath, type ViewOp, viewOps } from '../../src/launch/view-ops.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'prebake-skeleton-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const viewOf = (rootEntries: RootEntry[]): ViewOp[] => viewOps({ mounts: [], rootEntries, tmpMb: 16 }, { usrLinks: {} });

describe('the skeleton', () => {
  it('holds copies of small trees without what others cannot read, and device nodes of its own', async () => {
    const tree = path.join(dir, 'tree');
    await mkdir(path.join(tree, 'private'), { recursive: true });
    await writeFile(path.join(tree, 'public.pem'), 'cert');
    await writeFile(path.join(tree, 'private', 'key.pem'), 'secret');
    await chmod(path.join(tree, 'private'), 0o700);
    await writeFile(path.join(tree, 'owner-only.txt'), 'mine', { mode: 0o600 });
    const sandboxDir = path.join(dir, 'sandbox');
    expect((await hostFacts(sandboxDir)).devicesInRoot).toBe(true); // root on ext4 here
    const view = viewOf([
      { kind: 'copy', source: tree, target: '/etc/certs' },
      { kind: 'device', source: '/dev/null', target: '/dev/null' },
    ]);
    const root = await ensureRoot(rootPath(sandboxDir, view, await treeStamps([tree])), view);
    expect((await stat(path.join(root, 'etc/certs/public.pem'))).size).toBe(4);
    await expect(stat(path.join(root, 'etc/certs/private'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(path.join(root, 'etc/certs/owner-only.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
    const node = await stat(path.join(root, 'dev/null'));
    expect(node.isCharacterDevice()).toBe(true);
    expect(node.rdev).toBe(statSync('/dev/null').rdev);

    // A changed tree is another root (stamps are read once per process: a fresh module reads them again); the
    // first stays for the images that name it.
    await writeFile(path.join(tree, 'public.pem'), 'cert, renewed');
    vi.resetModules();
    const fresh = await import('../../src/launch/host-facts.ts');
    const changed = viewOf([{ kind: 'copy', source: tree, target: '/etc/certs' }]);
    const next = await ensureRoot(rootPath(sandboxDir, changed, await fresh.treeStamps([tree])), changed);
    expect(next).not.toBe(root);
    expect((await stat(path.join(next, 'etc/certs/public.pem'))).size).toBe(13);
    expect((await stat(root)).isDirectory()).toBe(true);
  });

  it('plans no /etc entry that others cannot read on the host, nor one linking to such a file', async () => {
    const etc = path.join(dir, 'etc');
    await mkdir(path.join(etc, 'ssl', 'private'), { recursive: true });
    await chmod(path.join(etc, 'ssl', 'private'), 0o700);
    await writeFile(path.join(etc, 'ssl', 'private', 'key.pem'), 'secret');
    await writeFile(path.join(etc, 'hosts'), '127.0.0.1 localhost\n', { mode: 0o644 });
    await writeFile(path.join(etc, 'services'), 'root only\n', { mode: 0o600 });
    await mkdir(path.join(etc, 'python3.11'), { mode: 0o700 });
    // A link out of /usr is copied as what it leads to (resolv.conf into /run): here, a file of root's.
    await writeFile(path.join(dir, 'run-resolv.conf'), 'nameserver 10.0.0.1\n', { mode: 0o600 });
    await symlink(path.join(dir, 'run-resolv.conf'), path.join(etc, 'resolv.conf'));
    await symlink('/usr/share/zoneinfo/UTC', path.join(etc, 'localtime'));

    const copies = etcCopies(etc);
    expect(copies.map((copy) => copy.target)).toEqual(['/etc/hosts', '/etc/localtime', '/etc/ssl']);

    const view = viewOf(copies.map((copy): RootEntry => ({ kind: 'copy', ...copy })));
    const root = await ensureRoot(rootPath(path.join(dir, 'sandbox'), view, await treeStamps(copies.map((c) => c.source))), view);
    expect((await readdir(path.join(root, 'etc'))).sort()).toEqual(['group', 'hosts', 'localtime', 'passwd', 'ssl']);
    expect(await readdir(path.join(root, 'etc', 'ssl'))).toEqual([]);
    expect((await lstat(path.join(root, 'etc', 'localtime'))).isSymbolicLink()).toBe(true);
  });
});
