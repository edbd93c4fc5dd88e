// Sorting `criu check`'s complaints: lines as criu 4.1.1 prints them in a Docker container (`-v4` adds the
// timestamp), and one it prints when the kernel lacks something prebake needs.
import { describe, expect, it } from 'vitest';
import { sortComplaints } from '../../src/criu/check-verdict.ts';

const inContainer = [
  'Error (criu/tun.c:85): tun: Unable to create tun: No such file or directory',
  '(00.009699) Error (criu/cr-check.c:160): sys/kernel/ns_last_pid sysctl is inaccessible: Read-only file system',
  'Warn  (criu/cr-check.c:1648): Does not look good.',
].join('\n');

describe('sortComplaints', () => {
  it("finds a container's complaints harmless where the kernel has clone3(set_tid)", () => {
    const complaints = sortComplaints(inContainer, { clone3SetTid: true });
    expect(complaints.map((c) => c.what)).toEqual([
      'tun: Unable to create tun: No such file or directory',
      'sys/kernel/ns_last_pid sysctl is inaccessible: Read-only file system',
    ]);
    expect(complaints.every((c) => c.harmless)).toBe(true);
  });

  it('keeps a read-only ns_last_pid serious without clone3(set_tid)', () => {
    const complaints = sortComplaints(inContainer, { clone3SetTid: false });
    expect(complaints.filter((c) => !c.harmless).map((c) => c.what)).toEqual([
      'sys/kernel/ns_last_pid sysctl is inaccessible: Read-only file system',
    ]);
  });

  it('keeps anything else serious', () => {
    const complaints = sortComplaints("Error (criu/cr-check.c:1204): Kernel doesn't support PTRACE_O_SUSPEND_SECCOMP", {
      clone3SetTid: true,
    });
    expect(complaints).toEqual([{ what: "Kernel doesn't support PTRACE_O_SUSPEND_SECCOMP" }]);
  });
});
