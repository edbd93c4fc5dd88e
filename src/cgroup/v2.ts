// cgroup v2: one unified hierarchy. prebake's parent sits at its root (the container's own root inside a
// container with a cgroup namespace); the controllers an instance needs are enabled down to it.
import { mkdirSync, readdirSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import { PrebakeError } from '../errors.ts';
import { has, keyedValue, killAllSync, pidsInSync, readText, writeText } from './files.ts';
import { type CgroupHierarchy, type Enforceable, PARENT_NAME } from './hierarchy.ts';
import { InstanceCgroup } from './instance-cgroup.ts';
import { type CgroupLimits, CPU_PERIOD_US, cpuQuotaUs } from './limits.ts';

const WANTED = ['memory', 'pids', 'cpu'];

/** The controllers a cgroup.controllers or cgroup.subtree_control file names ("memory pids" or "+memory"). */
function controllersIn(file: string): string[] {
  return (readText(file) ?? '')
    .split(/\s+/)
    .filter(Boolean)
    .map((name) => name.replace(/^\+/, ''));
}

export class CgroupV2 implements CgroupHierarchy {
  readonly version = 2;
  readonly root: string;
  private readonly parent: string;
  private enabled: string[] | undefined;

  constructor(root: string) {
    this.root = root;
    this.parent = path.join(root, PARENT_NAME);
  }

  static detect(root: string): boolean {
    return has(path.join(root, 'cgroup.controllers'));
  }

  // Once per process: a controller reaches an instance only when every cgroup above it delegates it. Enabling
  // it at the root fails (EBUSY) in a container whose root cgroup holds processes; then it stays unavailable.
  private enableControllers(): string[] {
    if (this.enabled) return this.enabled;
    const available = controllersIn(path.join(this.root, 'cgroup.controllers'));
    const rootControl = path.join(this.root, 'cgroup.subtree_control');
    const missing = WANTED.filter((c) => available.includes(c) && !controllersIn(rootControl).includes(c));
    // All at once; when that fails (one of them cannot be enabled), one by one, so that the others still are.
    for (const batch of [missing, ...(missing.length > 1 ? missing.map((c) => [c]) : [])]) {
      if (batch.length === 0) break;
      try {
        writeText(rootControl, batch.map((c) => `+${c}`).join(' '));
        if (batch === missing) break;
      } catch {
        // not delegated to us: enforceable() says so
      }
    }
    mkdirSync(this.parent, { recursive: true });
    const delegated = WANTED.filter((c) => controllersIn(rootControl).includes(c));
    if (delegated.length > 0) writeText(path.join(this.parent, 'cgroup.subtree_control'), delegated.map((c) => `+${c}`).join(' '));
    this.enabled = controllersIn(path.join(this.parent, 'cgroup.subtree_control'));
    return this.enabled;
  }

  enforceable(): Enforceable {
    let enabled: string[];
    try {
      enabled = this.enableControllers();
    } catch {
      enabled = [];
    }
    return {
      memory: enabled.includes('memory'),
      swap: enabled.includes('memory') && has(path.join(this.parent, 'memory.swap.max')),
      pids: enabled.includes('pids'),
      cpu: enabled.includes('cpu'),
    };
  }

  create(name: string, limits: CgroupLimits): InstanceCgroup {
    const dir = path.join(this.parent, name);
    let made = false;
    try {
      const enforceable = this.enforceable();
      const missing = [
        ...(enforceable.memory ? [] : ['memory']),
        ...(enforceable.pids ? [] : ['pids']),
        ...(limits.cpus === undefined || enforceable.cpu ? [] : ['cpu']),
      ];
      if (missing.length > 0) throw new Error(`the ${missing.join(', ')} controller(s) are not delegated to ${this.parent}`);
      mkdirSync(dir);
      made = true;
      writeText(path.join(dir, 'memory.max'), String(limits.memoryBytes));
      if (enforceable.swap) writeText(path.join(dir, 'memory.swap.max'), '0');
      writeText(path.join(dir, 'pids.max'), String(limits.maxProcesses));
      if (limits.cpus !== undefined) writeText(path.join(dir, 'cpu.max'), `${cpuQuotaUs(limits.cpus)} ${CPU_PERIOD_US}`);
    } catch (error) {
      if (made) removeQuietly(dir);
      throw new PrebakeError('PREBAKE_ERR_CGROUP', `cannot set up the cgroup ${name} (v2, ${this.root}): ${(error as Error).message}`, {
        cause: error,
        hint: 'prebake needs a writable cgroup2 hierarchy with the memory and pids controllers delegated (in a container: a cgroup namespace of its own, writable)',
      });
    }
    return new InstanceCgroupV2(name, [dir]);
  }

  names(): string[] {
    if (!has(this.parent)) return [];
    return readdirSync(this.parent, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  }

  open(name: string): InstanceCgroup {
    return new InstanceCgroupV2(name, [path.join(this.parent, name)]);
  }
}

function removeQuietly(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // nothing to undo
  }
}

class InstanceCgroupV2 extends InstanceCgroup {
  oomKills(): number {
    return keyedValue(readText(path.join(this.dirs[0]!, 'memory.events')), 'oom_kill');
  }

  // cgroup.kill (Linux 5.14) SIGKILLs every process at once, even while new ones are forked.
  protected async killEveryProcess(): Promise<void> {
    this.killNow();
  }

  killNow(): void {
    const dir = this.dirs[0]!;
    try {
      if (has(path.join(dir, 'cgroup.kill'))) writeText(path.join(dir, 'cgroup.kill'), '1');
      // Before 5.14: kill what is listed (a fork racing the kill is caught by the wait for empty, not here).
      else killAllSync(pidsInSync(path.join(dir, 'cgroup.procs')));
    } catch {
      // the cgroup is gone
    }
  }
}
