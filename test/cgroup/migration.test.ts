// Cheap cgroup migrations (src/cgroup/migration.ts): the mount-table check, the mount prebake asks for, and on
// this host (cgroup v1, real kernel) that it is in effect once prebake has looked at its cgroups.
import { describe, expect, it } from 'vitest';
import { hostCgroups, migrationState } from '../../src/cgroup/host.ts';
import { cgroup2Options, FAVOR_HIERARCHY_DIR, favorCommand, favorDynamicMods, favorsDynamicMods } from '../../src/cgroup/migration.ts';
import { ownMounts, parseMountinfo } from '../../src/files/mountinfo.ts';

describe('favordynmods', () => {
  it('is found on a cgroup or cgroup2 mount only, as a whole option', () => {
    const favors = (mountinfo: string) => favorsDynamicMods(parseMountinfo(mountinfo));
    const plain =
      '34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n26 1 0:25 / /run rw - tmpfs tmpfs rw,favordynmods\n';
    expect(favors(plain)).toBe(false);
    expect(favors(`${plain}44 26 0:39 / /run/x rw,relatime - cgroup cgroup rw,favordynmods,name=x\n`)).toBe(true);
    expect(favors('35 24 0:30 / /sys/fs/cgroup rw shared:9 - cgroup2 cgroup2 rw,nsdelegate,favordynmods\n')).toBe(true);
    expect(favors('35 24 0:30 / /sys/fs/cgroup rw shared:9 - cgroup2 cgroup2 rw,nofavordynmods\n')).toBe(false);
  });

  it("is a remount of the unified hierarchy on v2, a named hierarchy of prebake's own on v1", () => {
    // The remount is given every option the mount has: systemd's root flags stay as they were.
    const mounts = parseMountinfo(
      '35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n',
    );
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
    expect(favorsDynamicMods(ownMounts())).toBe(true);
    // Asked again, nothing more is mounted: the mount table already says so.
    expect(favorDynamicMods(hierarchy!.version, hierarchy!.root).detail).toBe('favordynmods is on');
  });
});
