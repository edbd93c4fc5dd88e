// Cheap cgroup migrations (src/cgroup/migration.ts): the mount-table check, the mount prebake asks for, and on
// this host (cgroup v1, real kernel) that it is in effect once prebake has looked at its cgroups.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hostCgroups, migrationState } from '../../src/cgroup/host.ts';
import { cgroup2Options, FAVOR_HIERARCHY_DIR, favorCommand, favorDynamicMods, favorsDynamicMods } from '../../src/cgroup/migration.ts';

describe('favordynmods', () => {
  it('is found on a cgroup or cgroup2 mount only, as a whole option', () => {
    const plain = 'cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\ntmpfs /run tmpfs rw,favordynmods 0 0\n';
    expect(favorsDynamicMods(plain)).toBe(false);
    expect(favorsDynamicMods(`${plain}cgroup /run/x cgroup rw,relatime,favordynmods,name=x 0 0\n`)).toBe(true);
    expect(favorsDynamicMods('cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate,favordynmods 0 0\n')).toBe(true);
    expect(favorsDynamicMods('cgroup2 /sys/fs/cgroup cgroup2 rw,nofavordynmods 0 0\n')).toBe(false);
  });

  it("is a remount of the unified hierarchy on v2, a named hierarchy of prebake's own on v1", () => {
    // The remount is given every option the mount has: systemd's root flags stay as they were.
    const mounts = 'cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0\n';
    expect(cgroup2Options(mounts, '/sys/fs/cgroup')).toBe('rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot');
    expect(cgroup2Options(mounts, '/elsewhere')).toBeUndefined();
    expect(favorCommand(2, '/sys/fs/cgroup', cgroup2Options(mounts, '/sys/fs/cgroup'))).toEqual([
      '-o',
      'remount,rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot,favordynmods',
      '/sys/fs/cgroup',
    ]);
    expect(favorCommand(1, '/sys/fs/cgroup')).toEqual([
      '-t',
      'cgroup',
      '-o',
      'none,name=prebake-favordynmods,favordynmods',
      'cgroup',
      FAVOR_HIERARCHY_DIR,
    ]);
  });

  it("is on once prebake has detected this host's cgroups", () => {
    const hierarchy = hostCgroups();
    expect(hierarchy).toBeDefined();
    expect(migrationState()?.mode).toBe('fast');
    expect(favorsDynamicMods(readFileSync('/proc/self/mounts', 'utf8'))).toBe(true);
    // Asked again, nothing more is mounted: the mount table already says so.
    expect(favorDynamicMods(hierarchy!.version, hierarchy!.root).detail).toBe('favordynmods is on');
  });
});
