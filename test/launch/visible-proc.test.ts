// Which proc a user namespace's new proc is measured against (fs/namespace.c, mount_too_revealing). The lines are
// a Swarm task's own mountinfo on this VM (Docker 20.10, default masked paths), and a host's.
import { describe, expect, it } from 'vitest';
import { parseMountinfo } from '../../src/files/mountinfo.ts';
import { fullyVisibleProc } from '../../src/launch/visible-proc.ts';

const dockerProc = [
  '148 147 0:77 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw',
  '82 148 0:77 /bus /proc/bus ro,nosuid,nodev,noexec,relatime - proc proc rw',
  '85 148 0:77 /sys /proc/sys ro,nosuid,nodev,noexec,relatime - proc proc rw',
  '86 148 0:83 / /proc/acpi ro,relatime - tmpfs tmpfs ro',
  '87 148 0:78 /null /proc/keys rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755',
];

describe('fullyVisibleProc', () => {
  it("refuses a container's masked /proc", () => {
    expect(fullyVisibleProc(parseMountinfo(dockerProc.join('\n')))).toBeUndefined();
  });

  it('takes a second, whole proc beside the masked one', () => {
    const mounts = parseMountinfo(
      [...dockerProc, '301 150 0:90 / /run/prebake/proc rw,nosuid,nodev,noexec,relatime - proc proc rw'].join('\n'),
    );
    expect(fullyVisibleProc(mounts)?.mountPoint).toBe('/run/prebake/proc');
  });

  it("takes a host's /proc, binfmt_misc mounted in it and all", () => {
    const mounts = parseMountinfo(
      [
        '22 1 0:20 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw',
        '40 22 0:35 / /proc/sys/fs/binfmt_misc rw,relatime shared:20 - binfmt_misc binfmt_misc rw',
      ].join('\n'),
    );
    expect(fullyVisibleProc(mounts)?.mountPoint).toBe('/proc');
  });

  it('refuses a read-only proc (a new one would have to be read-only too) and a proc that shows only a part', () => {
    expect(fullyVisibleProc(parseMountinfo('22 1 0:20 / /proc ro,nosuid - proc proc rw'))).toBeUndefined();
    expect(fullyVisibleProc(parseMountinfo('22 1 0:20 /sys /mnt rw - proc proc rw'))).toBeUndefined();
  });
});
