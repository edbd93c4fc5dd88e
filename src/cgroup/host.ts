// The host's cgroups, detected once, and the cgroup of each new instance.
import { createHash, randomBytes } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import path from 'node:path';
import { PrebakeError } from '../errors.ts';
import type { FunctionSpec } from '../manifest/schema.ts';
import type { CgroupHierarchy } from './hierarchy.ts';
import type { InstanceCgroup } from './instance-cgroup.ts';
import { type CgroupLimits, instanceLimits } from './limits.ts';
import { favorDynamicMods, type MigrationState } from './migration.ts';
import { CgroupV1 } from './v1.ts';
import { CgroupV2 } from './v2.ts';

export const CGROUP_ROOT = '/sys/fs/cgroup';

/** v2 when `root` is a cgroup2 mount with controllers; v1 when memory, pids and freezer are mounted below it. */
export function detectCgroups(root: string = CGROUP_ROOT): CgroupHierarchy | undefined {
  if (CgroupV2.detect(root)) return new CgroupV2(root);
  if (CgroupV1.detect(root)) return new CgroupV1(root);
  return undefined;
}

let host: CgroupHierarchy | null | undefined;
let migration: MigrationState | undefined;
/** The host's hierarchy, detected once; the first call also makes migrations into it cheap (migration.ts). */
export function hostCgroups(): CgroupHierarchy | undefined {
  if (host === undefined) {
    host = detectCgroups() ?? null;
    if (host) migration = favorDynamicMods(host.version, host.root);
  }
  return host ?? undefined;
}

/** Whether moving a process into an instance's cgroup is cheap here (and why); undefined without cgroups. */
export function migrationState(): MigrationState | undefined {
  hostCgroups();
  return migration;
}

// The pid namespace is part of the owner's name: a prebake in another container sharing the hierarchy has
// pids of its own, and its cgroups are not ours to sweep. Read at first use, not at import.
let pidNamespaceInode: string | undefined;
export function pidNamespace(): string {
  pidNamespaceInode ??= /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1] ?? '0';
  return pidNamespaceInode;
}

/**
 * Eight hex digits that stand for a prebake home in its cgroups' names: a later prebake on the same home knows a
 * dead predecessor's cgroups by it, and leaves another home's to that home's own prebake.
 */
export function homeTag(home: string): string {
  return createHash('sha256').update(path.resolve(home)).digest('hex').slice(0, 8);
}

/** `<pid namespace inode>-<controller pid>-<home tag>-<random>`: sweep.ts tells a dead owner's cgroups by it. */
export function instanceCgroupName(ownerHomeTag: string): string {
  return `${pidNamespace()}-${process.pid}-${ownerHomeTag}-${randomBytes(4).toString('hex')}`;
}

/**
 * A fresh cgroup for an instance of `fn`, named for the home it serves (`ownerHomeTag`, homeTag), with its limits
 * set; the caller ends it (InstanceCgroup.end).
 */
export function createInstanceCgroup(fn: FunctionSpec, ownerHomeTag: string, limits: CgroupLimits = instanceLimits(fn)): InstanceCgroup {
  const hierarchy = hostCgroups();
  if (!hierarchy) {
    throw new PrebakeError(
      'PREBAKE_ERR_CGROUP',
      `function "${fn.name}": no cgroup hierarchy at ${CGROUP_ROOT} (neither cgroup2 nor v1 memory, pids and freezer)`,
      {
        functionName: fn.name,
        hint: 'prebake enforces memoryMb and maxProcesses with cgroups: mount them (in a container, a writable /sys/fs/cgroup)',
      },
    );
  }
  try {
    return hierarchy.create(instanceCgroupName(ownerHomeTag), limits);
  } catch (error) {
    if (error instanceof PrebakeError) {
      throw new PrebakeError(error.code, `function "${fn.name}": ${error.message}`, {
        cause: error.cause,
        hint: error.hint,
        functionName: fn.name,
      });
    }
    throw error;
  }
}
