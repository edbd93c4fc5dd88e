// A home the instances' unprivileged user cannot enter is refused with the directory named, not a bare exit 126.
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertReachableByInstances } from '../../src/launch/reachable.ts';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'prebake-reach-'));
});

afterAll(() => rm(root, { recursive: true, force: true }));

describe('assertReachableByInstances', () => {
  it('names the first directory on the way that others cannot enter', async () => {
    const closed = path.join(root, 'closed');
    await mkdir(path.join(closed, 'home', 'sandbox'), { recursive: true });
    await chmod(root, 0o711);
    await chmod(closed, 0o700);
    expect(() => assertReachableByInstances(path.join(closed, 'home', 'sandbox'))).toThrow(
      expect.objectContaining({ code: 'PREBAKE_ERR_INVALID_INPUT', message: expect.stringContaining(`${closed} (mode 0700)`) }),
    );
  });

  it('lets a path through when every directory on the way can be entered', async () => {
    const open = path.join(root, 'open', 'home', 'sandbox');
    await mkdir(open, { recursive: true });
    await chmod(root, 0o711);
    expect(() => assertReachableByInstances(open)).not.toThrow();
  });
});
