// cgroup v1: one hierarchy per controller under /sys/fs/cgroup (memory, pids, freezer, cpu), each with a
// prebake/ parent of our own; an instance gets a directory of its name in each.
import { mkdirSync, readdirSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import { PrebakeError } from '../errors.ts';
import { has, keyedValue, killAllSync, pidsIn, pidsInSync, readText, waitUntil, writeText } from './files.ts';
import { type CgroupHierarchy, type Enforceable, PARENT_NAME } from './hierarchy.ts';
import { InstanceCgroup } from './instance-cgroup.ts';
import { type CgroupLimits, CPU_PERIOD_US, cpuQuotaUs } from './limits.ts';

// freezer is there to end an instance as a whole: a frozen task cannot fork while its siblings are killed.
const REQUIRED = ['freezer', 'memory', 'pids'] as const;
type Controller = (typeof REQUIRED)[number] | 'cpu';
const FREEZE_TIMEOUT_MS = 1_000;

export class CgroupV1 implements CgroupHierarchy {
  readonly version = 1;
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  static detect(root: string): boolean {
    return REQUIRED.every((controller) => has(path.join(root, controller, 'cgroup.procs')));
  }

  private parent(controller: Controller): string {
    return path.join(this.root, controller, PARENT_NAME);
  }

  enforceable(): Enforceable {
    return {
      memory: true,
      swap: has(path.join(this.root, 'memory', 'memory.memsw.limit_in_bytes')),
      pids: true,
      cpu: has(path.join(this.root, 'cpu', 'cpu.cfs_quota_us')),
    };
  }

  create(name: string, limits: CgroupLimits): InstanceCgroup {
    const enforceable = this.enforceable();
    if (limits.cpus !== undefined && !enforceable.cpu) {
      throw new PrebakeError(
        'PREBAKE_ERR_CGROUP',
        `no cpu controller with CFS quotas at ${path.join(this.root, 'cpu')}: cannot enforce "cpus"`,
        {
          hint: 'remove "cpus" from function.json, or mount the cpu controller',
        },
      );
    }
    const controllers: Controller[] = [...REQUIRED, ...(limits.cpus !== undefined ? (['cpu'] as const) : [])];
    const made: string[] = [];
    try {
      for (const controller of controllers) {
        const dir = path.join(this.parent(controller), name);
        mkdirSync(this.parent(controller), { recursive: true });
        mkdirSync(dir);
        made.push(dir);
      }
      const memory = path.join(this.parent('memory'), name);
      writeText(path.join(memory, 'memory.limit_in_bytes'), String(limits.memoryBytes));
      // memory+swap at the same bound: not a byte of swap (set after the memory limit, which it may not undercut).
      if (enforceable.swap) writeText(path.join(memory, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes));
      else writeText(path.join(memory, 'memory.swappiness'), '0');
      writeText(path.join(this.parent('pids'), name, 'pids.max'), String(limits.maxProcesses));
      if (limits.cpus !== undefined) {
        const cpu = path.join(this.parent('cpu'), name);
        writeText(path.join(cpu, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
        writeText(path.join(cpu, 'cpu.cfs_quota_us'), String(cpuQuotaUs(limits.cpus)));
      }
    } catch (error) {
      for (const dir of made.reverse()) rmdirSync(dir);
      throw new PrebakeError('PREBAKE_ERR_CGROUP', `cannot set up the cgroup ${name} (v1, ${this.root}): ${(error as Error).message}`, {
        cause: error,
        hint: 'prebake needs write access to the memory, pids and freezer hierarchies (root, and in a container a writable /sys/fs/cgroup)',
      });
    }
    return new InstanceCgroupV1(name, made);
  }

  names(): string[] {
    const names = new Set<string>();
    for (const controller of [...REQUIRED, 'cpu'] as const) {
      if (!has(this.parent(controller))) continue;
      for (const entry of readdirSync(this.parent(controller), { withFileTypes: true })) {
        if (entry.isDirectory()) names.add(entry.name);
      }
    }
    return [...names];
  }

  open(name: string): InstanceCgroup {
    const dirs = [...REQUIRED, 'cpu'].map((controller) => path.join(this.parent(controller as Controller), name)).filter(has);
    return new InstanceCgroupV1(name, dirs);
  }
}

class InstanceCgroupV1 extends InstanceCgroup {
  private get freezerState(): string | undefined {
    const freezer = this.dirs.find((dir) => dir.includes(`${path.sep}freezer${path.sep}`));
    return freezer && path.join(freezer, 'freezer.state');
  }

  oomKills(): number {
    const memory = this.dirs.find((dir) => dir.includes(`${path.sep}memory${path.sep}`));
    return memory ? keyedValue(readText(path.join(memory, 'memory.oom_control')), 'oom_kill') : 0;
  }

  // v1 has no cgroup.kill: freeze (no task can fork or exit a ptrace stop meanwhile), SIGKILL every task,
  // thaw so that the signals are taken.
  protected async killEveryProcess(): Promise<void> {
    const state = this.freezerState;
    if (state) {
      writeText(state, 'FROZEN');
      // A task in uninterruptible sleep can hold the cgroup in FREEZING; the kill still lands after the thaw.
      await waitUntil(() => readText(state)?.trim() === 'FROZEN', FREEZE_TIMEOUT_MS);
    }
    const lists = await Promise.all(this.procsFiles.map(pidsIn));
    killAllSync([...new Set(lists.flat())]);
    if (state) writeText(state, 'THAWED');
  }

  killNow(): void {
    const state = this.freezerState;
    try {
      if (state) writeText(state, 'FROZEN');
      killAllSync(this.procsFiles.flatMap(pidsInSync));
      if (state) writeText(state, 'THAWED');
    } catch {
      // the controller is exiting: a later sweep ends what is left
    }
  }
}
