// The view's root (src/launch/skeleton.ts): what it holds itself instead of binds, copies and device nodes.

import { statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RootEntry } from '../../src/launch/sandbox-plan.ts';
import { devicesAllowed, ensureSkeleton } from '../../src/launch/skeleton.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'prebake-skeleton-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the skeleton', () => {
  it('holds copies of small trees without what others cannot read, and device nodes of its own', async () => {
    const tree = path.join(dir, 'tree');
    await mkdir(path.join(tree, 'private'), { recursive: true });
    await writeFile(path.join(tree, 'public.pem'), 'cert');
    await writeFile(path.join(tree, 'private', 'key.pem'), 'secret');
    await chmod(path.join(tree, 'private'), 0o700);
    await writeFile(path.join(tree, 'owner-only.txt'), 'mine', { mode: 0o600 });
    const sandboxDir = path.join(dir, 'sandbox');
    expect(await devicesAllowed(sandboxDir)).toBe(true); // root on ext4 here
    const entries: RootEntry[] = [
      { kind: 'copy', source: tree, target: '/etc/certs' },
      { kind: 'device', source: '/dev/null', target: '/dev/null' },
    ];
    const root = await ensureSkeleton(sandboxDir, [], entries);
    expect((await stat(path.join(root, 'etc/certs/public.pem'))).size).toBe(4);
    await expect(stat(path.join(root, 'etc/certs/private'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(path.join(root, 'etc/certs/owner-only.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
    const node = await stat(path.join(root, 'dev/null'));
    expect(node.isCharacterDevice()).toBe(true);
    expect(node.rdev).toBe(statSync('/dev/null').rdev);

    // A changed tree is another skeleton; the first stays for the images that name it.
    await writeFile(path.join(tree, 'public.pem'), 'cert, renewed');
    const next = await ensureSkeleton(path.join(dir, 'sandbox'), [], [{ kind: 'copy', source: tree, target: '/etc/certs' }]);
    expect(next).not.toBe(root);
    expect((await stat(path.join(next, 'etc/certs/public.pem'))).size).toBe(13);
    expect((await stat(root)).isDirectory()).toBe(true);
  });
});
