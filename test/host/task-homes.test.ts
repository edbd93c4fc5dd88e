// `prebake serve --task-homes DIR`: each daemon a home of its own, and the homes of daemons gone removed.
import { mkdir, mkdtemp, readdir, rm, utimes } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { takeTaskHome } from '../../src/host/task-homes.ts';

const fail = (error: Error) => {
  throw error;
};
const anHourAgo = () => new Date(Date.now() - 3600_000);

describe('takeTaskHome', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'prebake-task-homes-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('gives two daemons two homes, and neither removes the other', async () => {
    const first = await takeTaskHome(root, fail);
    const second = await takeTaskHome(root, fail);
    // Held and old: only the lock keeps it.
    await utimes(first.home, anHourAgo(), anHourAgo());
    const third = await takeTaskHome(root, fail);
    expect(new Set([first.home, second.home, third.home]).size).toBe(3);
    expect(third.removed).toEqual([]);
    expect((await readdir(root)).sort()).toEqual([first.home, second.home, third.home].map((h) => path.basename(h)).sort());
    await Promise.all([first, second, third].map((t) => t.release()));
  });

  it('removes an old home nobody holds, keeps a new one and anything not named like a home', async () => {
    const gone = path.join(root, 'abc123def456-0badc0de');
    const fresh = path.join(root, 'fedcba654321-12345678');
    const other = path.join(root, 'registry');
    for (const dir of [gone, fresh, other]) await mkdir(path.join(dir, 'functions'), { recursive: true });
    for (const dir of [gone, other]) await utimes(dir, anHourAgo(), anHourAgo());
    const mine = await takeTaskHome(root, fail);
    expect(mine.removed).toEqual([gone]);
    expect((await readdir(root)).sort()).toEqual([path.basename(fresh), path.basename(mine.home), 'registry'].sort());
    await mine.release();
  });

  it('removes an old home whose daemon released it', async () => {
    const before = await takeTaskHome(root, fail);
    await before.release();
    await utimes(before.home, anHourAgo(), anHourAgo());
    const after = await takeTaskHome(root, fail);
    expect(after.removed).toEqual([before.home]);
    await after.release();
  });
});
