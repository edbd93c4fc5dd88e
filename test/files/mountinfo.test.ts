// The one mountinfo parser (src/files/mountinfo.ts): lines as this VM's kernel (6.18) wrote them, and every
// mount of a real namespace read against /proc/PID/mounts, the other format of the same table.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, readlink } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { allOptions, type MountEntry, mountsOf, ownMounts, parseMountinfo } from '../../src/files/mountinfo.ts';

// Captured from /proc/self/mountinfo: a bind of a subdirectory, under shared and slave propagation, in a
// directory and from a source whose names hold a space or a backslash; a cgroup2 mount with no optional field.
const LINES = [
  '109 86 0:44 /sub\\040dir /tmp/launch-mi.7FRU/b rw,relatime shared:24 master:23 - tmpfs src rw',
  '108 137 0:44 / /tmp/launch-mi.QcvV/with\\040space rw,relatime shared:23 - tmpfs my\\040src rw,size=1024k,mode=700',
  '650 598 0:87 / /tmp/launch-mi.LNFa/back\\134slash rw,relatime - tmpfs none rw',
  '40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');

// The kernel's escape of a path in either file: space, tab, newline and backslash as three octal digits.
const escaped = (text: string) => text.replace(/[ \t\n\\]/g, (char) => `\\${char.charCodeAt(0).toString(8).padStart(3, '0')}`);

describe('mountinfo', () => {
  it('parses the fixed fields, the optional ones up to "-", and unescapes paths and sources', () => {
    const [bind, spaced, backslash, cgroup] = parseMountinfo(`${LINES}\n`);
    expect(bind).toEqual<MountEntry>({
      device: '0:44',
      root: '/sub dir',
      mountPoint: '/tmp/launch-mi.7FRU/b',
      mountOptions: ['rw', 'relatime'],
      optionalFields: ['shared:24', 'master:23'],
      fsType: 'tmpfs',
      source: 'src',
      superOptions: ['rw'],
    });
    expect(spaced).toMatchObject({ root: '/', mountPoint: '/tmp/launch-mi.QcvV/with space', source: 'my src' });
    expect(spaced!.optionalFields).toEqual(['shared:23']);
    expect(spaced!.superOptions).toEqual(['rw', 'size=1024k', 'mode=700']);
    expect(backslash!.mountPoint).toBe('/tmp/launch-mi.LNFa/back\\slash');
    expect(cgroup).toMatchObject({ mountPoint: '/sys/fs/cgroup/unified', optionalFields: [], fsType: 'cgroup2', source: 'cgroup2' });
  });

  it("gives every option once, as /proc/self/mounts does: the mount's, then the filesystem's but rw/ro", () => {
    const [, spaced, , cgroup] = parseMountinfo(LINES);
    expect(allOptions(spaced!)).toEqual(['rw', 'relatime', 'size=1024k', 'mode=700']);
    expect(allOptions(cgroup!)).toEqual(['rw', 'relatime']);
  });

  it('reads the same table as /proc/PID/mounts, mount by mount, in a namespace of its own', async () => {
    // A private mount namespace: what other tests mount on the host does not reach it between the two reads.
    const holder = spawn('unshare', ['--mount', '--propagation', 'private', 'sleep', '120'], { stdio: 'ignore' });
    try {
      const pid = holder.pid!;
      while (!(await readlink(`/proc/${pid}/exe`).catch(() => '')).endsWith('/sleep')) await new Promise((r) => setTimeout(r, 5));
      const mounts = (await mountsOf(pid))!;
      const listed = (await readFile(`/proc/${pid}/mounts`, 'utf8')).trim().split('\n');
      expect(mounts.length).toBeGreaterThan(1);
      expect(mounts.map((m) => `${escaped(m.source)} ${escaped(m.mountPoint)} ${m.fsType} ${allOptions(m).join(',')} 0 0`)).toEqual(listed);
    } finally {
      holder.kill();
      await once(holder, 'exit');
    }
  });

  it("reads this process's own table, and says undefined for a process that is gone", async () => {
    expect(ownMounts().some((mount) => mount.mountPoint === '/')).toBe(true);
    expect(await mountsOf(2 ** 22 + 1)).toBeUndefined();
  });
});
