// The cgroup drivers on their own: v1 for real (these machines), v2 for real where the kernel lets us
// (cgroup.kill in the controller-less unified hierarchy of a v1 host), and v2's limits against a fake tree
// (the kernel's v2 memory and pids controllers are not available here: only there does a fake stand in).
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { CgroupHierarchy } from '../../src/cgroup/hierarchy.ts';
import { detectCgroups, homeTag, hostCgroups, instanceCgroupName, pidNamespace } from '../../src/cgroup/host.ts';
import type { InstanceCgroup } from '../../src/cgroup/instance-cgroup.ts';
import { sweepLeftoverCgroups } from '../../src/cgroup/sweep.ts';
import { CgroupV2 } from '../../src/cgroup/v2.ts';
import { isPrebakeError } from '../../src/errors.ts';
import { SpawnedProcess } from '../../src/launch/spawn.ts';

const UNIFIED = '/sys/fs/cgroup/unified';
const LIMITS = { memoryBytes: 64 * 1024 * 1024, maxProcesses: 100 };

interface RealCase {
  label: string;
  hierarchy: () => CgroupHierarchy | undefined;
  /** Makes a cgroup named `name` (v2 here: by hand, as create() wants controllers this host keeps in v1). */
  make: (hierarchy: CgroupHierarchy, name: string) => Promise<InstanceCgroup>;
}

const REAL: RealCase[] = [
  { label: 'v1', hierarchy: hostCgroups, make: async (h, name) => h.create(name, LIMITS) },
  {
    label: 'v2 (unified, no controllers)',
    hierarchy: () => (existsSync(path.join(UNIFIED, 'cgroup.controllers')) ? new CgroupV2(UNIFIED) : undefined),
    make: async (h, name) => {
      await mkdir(path.join(UNIFIED, 'prebake', name), { recursive: true });
      return h.open(name);
    },
  },
];

const spawned: SpawnedProcess[] = [];
afterEach(() => {
  for (const child of spawned.splice(0)) child.kill('SIGKILL');
});

/**
 * A shell in `cgroup` that forks `children` sleepers and then stops itself (SIGSTOP): a tree in every state.
 * Brace expansion, not `$(seq)`: a command substitution is a short-lived extra process a count could catch.
 */
function startTree(cgroup: InstanceCgroup, children: number): SpawnedProcess {
  const child = new SpawnedProcess(
    'bash',
    ['-c', `for i in {1..${children}}; do sleep 1000 & done; kill -STOP $$; wait`],
    [null, null, null],
    {
      cgroupProcs: cgroup.procsFiles,
    },
  );
  spawned.push(child);
  return child;
}

/** The cgroup's process count once `tree`'s shell has stopped itself, i.e. once every sleeper is forked. */
async function treeCount(cgroup: InstanceCgroup, tree: SpawnedProcess): Promise<number> {
  for (let i = 0; i < 500; i++) {
    const stat = await readFile(`/proc/${tree.pid}/stat`, 'utf8').catch(() => '');
    // The state is the field after the parenthesised command name.
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('T')) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return (await cgroup.processes()).length;
}

describe.each(REAL)('$label, for real', ({ hierarchy, make }) => {
  it('puts a spawned child in the cgroup before it runs, and end() kills the whole tree, stopped or not', async (context) => {
    const h = hierarchy();
    if (!h) return context.skip();
    const cgroup = await make(h, instanceCgroupName(homeTag('/var/lib/prebake-test-home')));
    const tree = startTree(cgroup, 3);
    // The shell and its three sleepers, all in the cgroup (the children joined it by inheritance).
    expect(await treeCount(cgroup, tree)).toBe(4);
    await cgroup.end();
    expect(await tree).toEqual({ signal: 'SIGKILL' });
    expect(await cgroup.processes()).toEqual([]);
    expect(h.names()).not.toContain(cgroup.name);
  });

  it("sweeps its home's cgroups whose owner is dead, and leaves a live owner's and another home's alone", async (context) => {
    const h = hierarchy();
    if (!h) return context.skip();
    const gone = new SpawnedProcess('true', [], [null, null, null]);
    await gone;
    const home = '/var/lib/prebake-test-home';
    const dead = `${gone.pid}-${homeTag(home)}`;
    const leftover = await make(h, `${pidNamespace()}-${dead}-0badc0de`);
    const mine = await make(h, instanceCgroupName(homeTag(home)));
    // The same dead pid seen from another pid namespace (another container's prebake): not ours to judge.
    const foreignNamespace = await make(h, `${Number(pidNamespace()) + 1}-${dead}-0badc0de`);
    // A dead owner on another home: its processes are that home's prebake's to sweep; once empty, anyone's.
    const otherHome = await make(h, `${pidNamespace()}-${gone.pid}-${homeTag('/elsewhere')}-0badc0de`);
    const otherHomeEmpty = await make(h, `${pidNamespace()}-${gone.pid}-${homeTag('/elsewhere')}-0badc0df`);
    const leftoverTree = startTree(leftover, 2);
    const otherHomeTree = startTree(otherHome, 1);
    expect(await treeCount(leftover, leftoverTree)).toBe(3);
    expect(await treeCount(otherHome, otherHomeTree)).toBe(2);
    try {
      expect(await sweepLeftoverCgroups(home, h)).toBe(2);
      expect(h.names()).not.toContain(leftover.name);
      expect(h.names()).not.toContain(otherHomeEmpty.name);
      expect(h.names()).toEqual(expect.arrayContaining([mine.name, foreignNamespace.name, otherHome.name]));
      expect(await otherHome.processes()).toHaveLength(2);
    } finally {
      for (const cgroup of [mine, foreignNamespace, otherHome, otherHomeEmpty, leftover]) await cgroup.end();
    }
  });
});

describe('v1', () => {
  it('refuses a cgroup path it cannot join, naming it, and starts nothing', () => {
    let thrown: unknown;
    try {
      new SpawnedProcess('true', [], [null], { cgroupProcs: ['/sys/fs/cgroup/memory/prebake/no-such-cgroup/cgroup.procs'] });
    } catch (error) {
      thrown = error;
    }
    expect((thrown as Error).message).toContain('no-such-cgroup');
  });
});

describe('v2 against a fake tree', () => {
  let root: string;
  // Every tree made, not only the last: each test makes its own.
  const roots: string[] = [];
  afterAll(async () => {
    await Promise.all(roots.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  async function fakeTree(controllers: string): Promise<string> {
    root = await mkdtemp(path.join(os.tmpdir(), 'prebake-cgroup2-'));
    roots.push(root);
    await writeFile(path.join(root, 'cgroup.controllers'), controllers);
    await writeFile(path.join(root, 'cgroup.subtree_control'), '');
    // What the kernel shows in a non-root cgroup with swap accounting.
    await mkdir(path.join(root, 'prebake'));
    await writeFile(path.join(root, 'prebake', 'memory.swap.max'), 'max');
    return root;
  }

  it('is detected, delegates memory, pids and cpu to its parent, and writes every limit', async () => {
    const hierarchy = detectCgroups(await fakeTree('cpuset cpu io memory pids'))!;
    expect(hierarchy.version).toBe(2);
    expect(hierarchy.enforceable()).toEqual({ memory: true, swap: true, pids: true, cpu: true });
    expect(await readFile(path.join(root, 'prebake', 'cgroup.subtree_control'), 'utf8')).toBe('+memory +pids +cpu');
    const cgroup = hierarchy.create('1-2-3', { ...LIMITS, cpus: 0.5 });
    const dir = path.join(root, 'prebake', '1-2-3');
    const read = (file: string) => readFile(path.join(dir, file), 'utf8');
    expect(await read('memory.max')).toBe(String(64 * 1024 * 1024));
    expect(await read('memory.swap.max')).toBe('0');
    expect(await read('pids.max')).toBe('100');
    expect(await read('cpu.max')).toBe('50000 100000');
    expect(cgroup.procsFiles).toEqual([path.join(dir, 'cgroup.procs')]);
    expect(hierarchy.names()).toEqual(['1-2-3']);
    await writeFile(path.join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n');
    expect(cgroup.oomKills()).toBe(1);
  });

  it('refuses to create an instance cgroup without the memory controller, naming it', async () => {
    const hierarchy = detectCgroups(await fakeTree('cpuset cpu io pids'))!;
    expect(hierarchy.enforceable()).toMatchObject({ memory: false, pids: true });
    let thrown: unknown;
    try {
      hierarchy.create('1-2-4', LIMITS);
    } catch (error) {
      thrown = error;
    }
    expect(isPrebakeError(thrown, 'PREBAKE_ERR_CGROUP')).toBe(true);
    expect((thrown as Error).message).toContain('memory');
    expect(hierarchy.names()).toEqual([]);
  });
});
