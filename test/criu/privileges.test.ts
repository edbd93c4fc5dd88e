// The judgement on capabilities and seccomp, fed /proc/<pid>/status texts: this machine's own, and the ones a
// container gets (which a test here cannot create: Docker is not part of the suite).
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { dumpBlocker, judgePrivileges } from '../../src/criu/privileges.ts';

const status = (capEff: bigint, seccomp = 0) => `Name:\tnode\nCapEff:\t${capEff.toString(16).padStart(16, '0')}\nSeccomp:\t${seccomp}\n`;
const bit = (n: number) => 1n << BigInt(n);
// Every capability up to CAP_CHECKPOINT_RESTORE (40), as root on a host.
const ALL = bit(41) - 1n;
// Docker 20.10's `--cap-add ALL --cap-drop SYS_RESOURCE`: bits 0-37 but 24 (it knows none past 37).
const DOCKER_20_10 = (bit(38) - 1n) & ~bit(24);
// Docker's default set (chown, dac_override, fowner, fsetid, kill, setgid, setuid, setpcap, net_bind_service,
// net_raw, sys_chroot, mknod, audit_write, setfcap) plus the four the docs add: SYS_ADMIN, SYS_PTRACE, NET_ADMIN, SYS_TIME.
const DOCKER_LEAST = [0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31, 21, 19, 12, 25].reduce((caps, n) => caps | bit(n), 0n);

describe('judgePrivileges', () => {
  it('accepts this process when it runs as root, as the suite does', async () => {
    const own = await readFile('/proc/self/status', 'utf8');
    expect(judgePrivileges(own, process.getuid?.()).ok).toBe(process.getuid?.() === 0);
  });

  it('accepts CAP_SYS_ADMIN without CAP_CHECKPOINT_RESTORE, and says so', () => {
    const report = judgePrivileges(status(DOCKER_20_10), 0);
    expect(report.ok).toBe(true);
    expect(report.detail).toMatch(/CAP_CHECKPOINT_RESTORE is not held/);
    expect(judgePrivileges(status(DOCKER_LEAST), 0).ok).toBe(true);
    expect(judgePrivileges(status(ALL), 0).detail).not.toMatch(/not held/);
  });

  it.each([
    ['CAP_SYS_ADMIN', 21],
    ['CAP_SYS_PTRACE', 19],
    ['CAP_NET_ADMIN', 12],
    ['CAP_SYS_TIME', 25],
  ])('refuses a missing %s and names it', (name, n) => {
    const report = judgePrivileges(status(ALL & ~bit(n)), 0);
    expect(report.ok).toBe(false);
    expect(report.detail).toContain(name);
  });

  it("lets a process under a seccomp filter (Docker's default profile) restore, and says it cannot dump", () => {
    expect(judgePrivileges(status(ALL, 2), 0).ok).toBe(true);
    expect(dumpBlocker(status(ALL, 2))).toMatch(/cannot dump.*seccomp=unconfined/);
    expect(dumpBlocker(status(ALL, 0))).toBeUndefined();
  });

  it('refuses anyone but root', () => {
    expect(judgePrivileges(status(ALL), 1000).ok).toBe(false);
  });
});
