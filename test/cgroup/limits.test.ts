// The kernel enforces a function's limits on the whole instance, in every start mode: memoryMb (a process the
// OOM killer ends gives PREBAKE_ERR_OUT_OF_MEMORY), maxProcesses (a fork bomb stops), and ending an instance
// ends every process it started.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hostCgroups } from '../../src/cgroup/host.ts';
import { invokeFunction } from '../../src/invoke/invoke.ts';
import { makeSandbox, ownCgroups, prebakeFailure, processesMentioning, type Sandbox, settled } from '../helpers.ts';

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await makeSandbox();
  await sandbox.build('limits-node');
  await sandbox.build('limits-python');
});

afterEach(async () => {
  await sandbox.expectClean();
});

afterAll(async () => {
  await sandbox.cleanup();
});

const invoke = (target: string, event: unknown, mode: 'cold' | 'prebaked') =>
  invokeFunction({ target, event: JSON.stringify(event), mode }, sandbox.store, sandbox.criu, sandbox.instances);

describe.each(['prebaked', 'cold'] as const)('in %s mode', (mode) => {
  it('runs the instance in a cgroup of its own, with its memory and process limits', async () => {
    const result = JSON.parse((await invoke('limits-node', {}, mode)).result) as { cgroup: string };
    const memoryPath = /^\d+:memory:(.+)$/m.exec(result.cgroup)?.[1];
    expect(memoryPath).toMatch(new RegExp(`^/prebake/\\d+-${process.pid}-[0-9a-f]{8}-[0-9a-f]+$`));
    // One cgroup in every hierarchy the limits need.
    for (const controller of ['pids', 'freezer', 'cpu']) {
      expect(new RegExp(`^\\d+:${controller}:(.+)$`, 'm').exec(result.cgroup)?.[1]).toBe(memoryPath);
    }
  });

  it.each(['limits-node', 'limits-python'])('ends %s with PREBAKE_ERR_OUT_OF_MEMORY when it goes over memoryMb', async (target) => {
    const error = await prebakeFailure(invoke(target, { allocMb: 400 }, mode));
    expect(error.code).toBe('PREBAKE_ERR_OUT_OF_MEMORY');
    expect(error.message).toContain(target);
    expect(error.exitCode).toBe(6);
  });

  it('says out of memory, not timeout, for a handler left waiting on a child the OOM killer ended', async () => {
    const error = await prebakeFailure(invoke('limits-node', { childAlloc: true }, mode));
    expect(error.code).toBe('PREBAKE_ERR_OUT_OF_MEMORY');
  });

  it('serves the next invocation after an out-of-memory one (nothing else was touched)', async () => {
    await prebakeFailure(invoke('limits-node', { allocMb: 400 }, mode));
    const result = JSON.parse((await invoke('limits-node', { allocMb: 16 }, mode)).result) as { allocatedMb: number };
    expect(result.allocatedMb).toBe(16);
  });

  it('stops a fork bomb at maxProcesses, and ends every forked process with the instance', async () => {
    const result = JSON.parse((await invoke('limits-python', { forkBomb: true }, mode)).result) as { forked: number };
    // 32 tasks in all: the runtime and criu or unshare hold some of them.
    expect(result.forked).toBeGreaterThan(0);
    expect(result.forked).toBeLessThan(32);
  });

  it('ends processes the handler left running when the instance ends', async () => {
    const marker = `prebake-test-sleeper-${process.pid}-${mode}`;
    const result = JSON.parse((await invoke('limits-node', { children: 3, marker }, mode)).result) as { spawned: number };
    expect(result.spawned).toBe(3);
    expect(await settled(() => processesMentioning(marker))).toEqual([]);
  });
});

describe('the host', () => {
  it('has the limits in the kernel files while an instance runs', async () => {
    const hierarchy = hostCgroups();
    expect(hierarchy?.version).toBe(1);
    const running = invoke('limits-node', { hang: true }, 'prebaked');
    const name = await waitForOwnCgroup();
    const memory = path.join(hierarchy!.root, 'memory', 'prebake', name);
    expect(Number(await readFile(path.join(memory, 'memory.limit_in_bytes'), 'utf8'))).toBe(128 * 1024 * 1024);
    // maxProcesses 64, and 2 for the "outbound" network's helper and the child it forks (cgroup/limits.ts).
    expect(Number(await readFile(path.join(hierarchy!.root, 'pids', 'prebake', name, 'pids.max'), 'utf8'))).toBe(64 + 2);
    const cpu = path.join(hierarchy!.root, 'cpu', 'prebake', name);
    // cpus 0.5: half of each 100 ms period.
    expect(Number(await readFile(path.join(cpu, 'cpu.cfs_quota_us'), 'utf8'))).toBe(50_000);
    expect(Number(await readFile(path.join(cpu, 'cpu.cfs_period_us'), 'utf8'))).toBe(100_000);
    expect((await prebakeFailure(running)).code).toBe('PREBAKE_ERR_TIMEOUT');
  });
});

async function waitForOwnCgroup(): Promise<string> {
  const found = await settled(async () => (ownCgroups().length > 0 ? [] : ['none yet']));
  expect(found).toEqual([]);
  return ownCgroups()[0]!;
}
