// A fork template (start mode `fork`): one clone of a Python function's image, restored once and kept, that
// runs no handler itself and forks a child per invocation. Copy-on-write shares the snapshot's pages between
// the template and its children, where a restore copies every page into every clone. How a child is made
// separate (its pipes, cgroup, /tmp, PID namespace, seed): src/runtimes/python/prebake_fork.py and
// docs/PROTOCOL.md, "Fork templates".
import { randomBytes } from 'node:crypto';
import { closeSync, constants, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createInstanceCgroup } from '../cgroup/host.ts';
import type { InstanceCgroup } from '../cgroup/instance-cgroup.ts';
import type { Criu } from '../criu/criu.ts';
import { PrebakeError } from '../errors.ts';
import { Instance } from '../instance/instance.ts';
import type { InstanceRegistry } from '../instance/registry.ts';
import { attachOutbound, type OutboundLink } from '../launch/outbound.ts';
import type { InstancePipes } from '../launch/pipes.ts';
import type { FunctionSpec } from '../manifest/schema.ts';
import { processAlive } from '../process-alive.ts';
import type { ImageStore, StoredImage } from '../store/store.ts';
import { ForkedOwner } from './forked-owner.ts';
import { startPrebaked } from './restore.ts';
import type { StartedInstance } from './started.ts';

const CONTROLLER_ENDS = {
  controlIn: constants.O_WRONLY,
  controlOut: constants.O_RDONLY,
  stdout: constants.O_RDONLY,
  stderr: constants.O_RDONLY,
  status: constants.O_RDONLY,
};
type ControllerEnds = Record<keyof typeof CONTROLLER_ENDS, number>;

/** A child the template forked, waiting for its first frame: the controller holds its pipes' ends. */
interface ForkedChild {
  pid: number;
  ends: ControllerEnds;
  /** Resolves once the template has let go of its copies of the ends (it is free for the next fork). */
  released: Promise<void>;
  /** "outbound": its egress, when attached ahead (a spare); its helper waits in the template's cgroup. */
  link?: OutboundLink;
}

/** A child forked ahead for the next invocation, and what it was forked for; `child` never rejects. */
interface Spare {
  shape: string;
  child: Promise<ForkedChild | undefined>;
}

/** Closes the ends of a child forked ahead and not used: the child reads the end and exits; its helper is ended. */
async function letGo(spare: Spare | undefined): Promise<void> {
  const child = await spare?.child;
  if (child) await discard(child);
}

async function discard(child: ForkedChild): Promise<void> {
  closeEnds(child.ends);
  // The tap device's fd would keep the child's network namespace alive after the child.
  await child.link?.detach();
}

/** What a child is forked for: children of one template differ in nothing else. */
const forkShape = (spec: FunctionSpec) => `${spec.tmpMb}/${spec.network}/${spec.allowUserNamespaces === true}`;

/** PREBAKE_ERR_FORK_UNSUPPORTED unless `spec`'s runtime is single-threaded (Python). */
export function assertForkable(spec: FunctionSpec): void {
  if (spec.runtime === 'python') return;
  throw new PrebakeError(
    'PREBAKE_ERR_FORK_UNSUPPORTED',
    `function "${spec.name}": fork mode needs a single-threaded runtime (Python), and ${spec.runtime} runs several threads (a fork copies only one)`,
    {
      functionName: spec.name,
      hint: 'use the prebaked or warm start mode for this function',
    },
  );
}

export class ForkTemplate {
  readonly buildId: string;
  private readonly template: StartedInstance;
  /** The template's host pid: where the controller finds a child's pipe ends. */
  readonly pid: number;
  /** Where the template and its children are alive (their owner's registry). */
  private readonly instances: InstanceRegistry;
  /** The template's process is gone (killed, crashed), whether or not its end has run yet. */
  private exited = false;
  /** A fork holds the template's channel from `fork` to `released`; the forks waiting for it, in order. */
  private busy = false;
  private readonly waiting: (() => void)[] = [];
  /**
   * The child forked ahead for the next invocation, as Android's zygote keeps processes forked ahead of
   * need: an invocation then waits for no clone, only for its child's cgroup and resume. Each child still
   * serves exactly one invocation; it waits, in the template's cgroup, doing nothing, for its first frame.
   */
  private spare: Spare | undefined;
  /** end() has begun: no child is forked ahead any more. */
  private ending = false;
  /** The home its children's cgroups are named for (the store's). */
  private readonly homeTag: string;

  private constructor(buildId: string, template: StartedInstance, pid: number, instances: InstanceRegistry, homeTag: string) {
    this.buildId = buildId;
    this.homeTag = homeTag;
    this.template = template;
    this.pid = pid;
    this.instances = instances;
    // A template that dies by another hand (the OOM killer, an operator) ends as an instance, so that its
    // owner replaces it rather than forking from a dead one.
    void template.instance.owner.then(() => {
      this.exited = true;
      void template.instance.end();
    });
  }

  /** Restores `image` as a template; PREBAKE_ERR_FORK_UNSUPPORTED when its process has more than one thread. */
  static async restore(image: StoredImage, store: ImageStore, criu: Criu, instances: InstanceRegistry): Promise<ForkTemplate> {
    const { spec } = image.meta;
    assertForkable(spec);
    // Restored and left unresumed: the template runs no afterRestore hook (each child does, on its resume).
    const template = await startPrebaked(image, store, criu, instances, { resume: false, network: false });
    try {
      const threads = await template.instance.becomeTemplate(spec.timeoutMs);
      if (threads !== 1) {
        throw new PrebakeError(
          'PREBAKE_ERR_FORK_UNSUPPORTED',
          `function "${spec.name}": its process has ${threads} threads at the snapshot, and a fork copies only the one that forks`,
          {
            functionName: spec.name,
            hint:
              'the usual starters are OpenBLAS/MKL under numpy, pandas or scikit-learn: set OPENBLAS_NUM_THREADS=1 and MKL_NUM_THREADS=1 in ' +
              'function.json\'s "env"; grpc channels; logging handlers that ship logs from a thread, such as QueueListener or a log agent\'s. ' +
              'Stop them before the snapshot, in a beforeCheckpoint hook, and rebuild; or use the prebaked start mode',
          },
        );
      }
      return new ForkTemplate(image.meta.buildId, template, await template.instance.initPid(), instances, store.homeTag);
    } catch (error) {
      await endStarted(template);
      throw error;
    }
  }

  get alive(): boolean {
    return !this.exited && !this.template.instance.ended;
  }

  /** Calls `listener` once when the template starts ending (killed, crashed, or ended by its owner). */
  onEnd(listener: () => void): void {
    this.template.instance.onEnd(listener);
  }

  async end(): Promise<void> {
    this.ending = true;
    await this.dropSpare();
    await endStarted(this.template);
  }

  /** Whether a child forked ahead is ready (tests). */
  async spareReady(): Promise<boolean> {
    return (await this.spare?.child) !== undefined;
  }

  /** A fresh child as an instance of `spec` of its own, in its own cgroup, resumed (reseeded, hooks run). */
  async fork(spec: FunctionSpec): Promise<StartedInstance> {
    const started = performance.now();
    const spare = this.takeSpare(spec);
    if (!spare) return this.startChild(spec, this.forkChild(spec), started);
    try {
      return await this.startChild(spec, spare, started);
    } catch {
      // The child forked ahead did not start (it died with a template killed a moment ago, or was killed while
      // it waited): once more with a child forked now, which fails as any fork would if the template is gone.
      return this.startChild(spec, this.forkChild(spec), started);
    }
  }

  private async startChild(spec: FunctionSpec, forking: Promise<ForkedChild>, started: number): Promise<StartedInstance> {
    let cgroup: InstanceCgroup;
    try {
      // Made while the template clones the child (forkChild has sent its request by now): 0.3 ms off the start.
      cgroup = createInstanceCgroup(spec, this.homeTag);
    } catch (error) {
      await forking.then(
        (child) => closeEnds(child.ends),
        () => {},
      );
      throw error;
    }
    let child: Awaited<typeof forking> | undefined;
    let instance: Instance | undefined;
    try {
      child = await forking;
      const { ends, pid } = child;
      joinCgroup(cgroup, pid, spec.name);
      // Its own network namespace (the template's clone flags): egress before its first frame, attached ahead
      // for a spare (its helper follows it into its cgroup), now for a child forked on demand.
      if (child.link) joinCgroup(cgroup, child.link.helper.pid, spec.name);
      else if (spec.network === 'outbound') child.link = await attachOutbound(pid, cgroup.procsFiles, spec.name);
      // The instance reads only the controller's ends; the child's are in the child (-1: not the controller's).
      const pipes: InstancePipes = {
        controlIn: { read: -1, write: ends.controlIn },
        controlOut: { read: ends.controlOut, write: -1 },
        stdout: { read: ends.stdout, write: -1 },
        stderr: { read: ends.stderr, write: -1 },
      };
      instance = new Instance({
        functionName: spec.name,
        owner: new ForkedOwner(ends.status, pid, this.pid),
        pipes,
        restored: true,
        cgroup,
        registry: this.instances,
        initPid: async () => pid,
      });
      // The next invocation's child, forked once this one has ended: forked while it ran, the clone would take
      // CPU from its handler (on 2 cores: +1.4 ms to heavy-python's end to end).
      instance.onEnd(() => this.forkSpare(spec));
      await instance.resume(randomBytes(32).toString('hex'), spec.timeoutMs);
      await child.released;
      return { instance, kind: 'fork', startMs: performance.now() - started, cleanup: async () => {} };
    } catch (error) {
      if (instance) await instance.end();
      else {
        if (child) await discard(child);
        await cgroup.end();
      }
      throw error;
    }
  }

  // The child forked ahead, when there is one of `spec`'s shape and it is still alive (one that died while it
  // waited is let go, and this invocation forks its own); undefined otherwise.
  private takeSpare(spec: FunctionSpec): Promise<ForkedChild> | undefined {
    const spare = this.spare;
    if (!spare) return undefined;
    this.spare = undefined;
    if (spare.shape !== forkShape(spec)) {
      void letGo(spare);
      return undefined;
    }
    return spare.child.then(async (child) => {
      if (child && processAlive(child.pid)) return child;
      if (child) await discard(child);
      return this.forkChild(spec);
    });
  }

  /** Forks the next invocation's child ahead, unless the template is ending or one is there already. */
  private forkSpare(spec: FunctionSpec): void {
    if (this.spare || this.ending || !this.alive) return;
    // Never rejects: a child that could not be forked ahead is none (the next invocation forks its own, and
    // reports what fails), and the ends of one that was are closed unless it is kept.
    const child = (async (): Promise<ForkedChild | undefined> => {
      const forked = await this.forkChild(spec).catch(() => undefined);
      if (!forked) return undefined;
      const released = await forked.released.then(
        () => true,
        () => false,
      );
      if (released && !this.ending && spec.network === 'outbound') {
        // Off the request path: the helper waits in the template's cgroup, and follows the child into its own.
        forked.link = await attachOutbound(forked.pid, this.template.instance.cgroupProcs, spec.name).catch(() => undefined);
        if (!forked.link) {
          closeEnds(forked.ends);
          return undefined;
        }
      }
      // end() began while this child was forked, after it let go of the spare: nobody else holds these ends.
      if (released && !this.ending) return forked;
      await discard(forked);
      return undefined;
    })();
    this.spare = { shape: forkShape(spec), child };
  }

  private async dropSpare(): Promise<void> {
    const spare = this.spare;
    this.spare = undefined;
    await letGo(spare);
  }

  // Has the template fork, takes the controller's ends of the child's pipes from the template's fds, and tells
  // the template to close its copies; `released` resolves when it has (the template is free for the next fork).
  // When the template is free, the request goes out before this returns its promise (no await comes first).
  private async forkChild(spec: FunctionSpec): Promise<ForkedChild> {
    if (this.busy) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.busy = true;
    const { instance } = this.template;
    let released: Promise<void> | undefined;
    try {
      const forked = await instance.fork(spec.tmpMb, spec.network, spec.allowUserNamespaces === true, spec.timeoutMs);
      let ends: ControllerEnds;
      try {
        ends = openControllerEnds(this.pid, forked.fds, spec.name);
      } finally {
        // Whatever happened, the template lets go of its copies: a child whose controller never held its ends
        // reads end of file and exits.
        released = instance.release(spec.timeoutMs);
      }
      try {
        return { pid: hostPid(this.pid, forked.pid, spec.name), ends, released };
      } catch (error) {
        closeEnds(ends);
        throw error;
      }
    } finally {
      void (released ?? Promise.resolve()).catch(() => {}).finally(() => this.handOver());
    }
  }

  private handOver(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.busy = false;
  }
}

// The child waits for its first frame before it does anything: from here on it is charged to its cgroup.
// Synchronous writes: 0.3 ms for the six v1 hierarchies here, against 0.8 through libuv's thread pool.
function joinCgroup(cgroup: InstanceCgroup, pid: number, name: string): void {
  try {
    for (const file of cgroup.procsFiles) writeFileSync(file, String(pid));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') {
      throw new PrebakeError('PREBAKE_ERR_FUNCTION_EXITED', `function "${name}": the forked child exited before it started`, {
        cause: error,
        functionName: name,
      });
    }
    throw new PrebakeError(
      'PREBAKE_ERR_CGROUP',
      `function "${name}": cannot move the forked child into its cgroup ${cgroup.name}: ${(error as Error).message}`,
      { cause: error, functionName: name },
    );
  }
}

// Opens the template's fds of the controller's ends through /proc: a new open of the same pipe, which host root
// may make of a process in a user namespace it created. O_NONBLOCK: an end whose other side is gone (the child
// died at once) fails with ENXIO instead of blocking the controller.
function openControllerEnds(templatePid: number, fds: Record<string, number>, name: string): ControllerEnds {
  const opened: Partial<ControllerEnds> = {};
  try {
    for (const [end, flags] of Object.entries(CONTROLLER_ENDS) as [keyof ControllerEnds, number][]) {
      const fd = fds[end];
      if (!Number.isInteger(fd)) throw new Error(`the template named no fd for ${end}`);
      opened[end] = openSync(`/proc/${templatePid}/fd/${fd}`, flags | constants.O_NONBLOCK);
    }
    return opened as ControllerEnds;
  } catch (error) {
    for (const fd of Object.values(opened)) closeSync(fd);
    throw new PrebakeError(
      'PREBAKE_ERR_PIPE',
      `function "${name}": cannot take the forked child's pipes from its template: ${(error as Error).message}`,
      { cause: error, functionName: name },
    );
  }
}

/**
 * The host pid of the template's child that is `nsPid` in the template's PID namespace: the next to last of its
 * pids (NSpid, outermost first), since the child is PID 1 of a namespace of its own. Read synchronously: these
 * /proc files answer in microseconds, where a trip through libuv's thread pool took 1 to 2 ms under load.
 */
function hostPid(templatePid: number, nsPid: number, name: string): number {
  const children = readProcFile(`/proc/${templatePid}/task/${templatePid}/children`).trim().split(/\s+/).filter(Boolean);
  for (const child of children) {
    const ids = /^NSpid:\s+(.*)$/m
      .exec(readProcFile(`/proc/${child}/status`))?.[1]
      ?.trim()
      .split(/\s+/)
      .map(Number);
    if (ids?.at(-2) === nsPid) return Number(child);
  }
  throw new PrebakeError(
    'PREBAKE_ERR_FUNCTION_EXITED',
    `function "${name}": the forked child (${nsPid} in its template) exited before it started`,
    { functionName: name },
  );
}

function readProcFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function closeEnds(ends: ControllerEnds): void {
  for (const fd of Object.values(ends)) closeSync(fd);
}

async function endStarted(started: StartedInstance): Promise<void> {
  await started.instance.end();
  await started.cleanup();
}
