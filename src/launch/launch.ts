// Launching a function instance: the one place that decides which namespaces, session, fds, environment,
// user and filesystem view an instance gets (the view is planned in sandbox-plan.ts as one list of operations,
// view-ops.ts, and built by skeleton.ts and native/prebake-exec.c). Both a build and a plain (cold) start come
// through here; a restore recreates what this set up.
import { closeSync, realpathSync, writeSync } from 'node:fs';
import path from 'node:path';
import { createInstanceCgroup } from '../cgroup/host.ts';
import type { InstanceCgroup } from '../cgroup/instance-cgroup.ts';
import { type CgroupLimits, instanceLimits } from '../cgroup/limits.ts';
import { PrebakeError } from '../errors.ts';
import type { FunctionSpec } from '../manifest/schema.ts';
import { NATIVE_BUILD_DIR } from '../paths.ts';
import type { RuntimeCommand } from '../runtimes/runtime.ts';
import { type HostFacts, hostFacts } from './host-facts.ts';
import { attachOutbound, type OutboundLink } from './outbound.ts';
import type { OwnerProcess } from './owner.ts';
import { closeControllerEnds, closeInstanceEnds, createInstancePipes, createPipe, type InstancePipes, instanceEnds } from './pipes.ts';
import { firstChild } from './proc.ts';
import { assertReachableByInstances } from './reachable.ts';
import { checkReadOnlyPaths } from './read-only-paths.ts';
import {
  type IdMapping,
  idMapping,
  instanceHostId,
  launcherArgs,
  readOnlyMounts,
  type SandboxPlan,
  sandboxMounts,
  sandboxPlan,
  sandboxRootEntries,
} from './sandbox-plan.ts';
import { SpawnedProcess } from './spawn.ts';
import { commandInView, isInView, type ViewOp, viewOps } from './view-ops.ts';

const PREBAKE_EXEC = path.join(NATIVE_BUILD_DIR, 'prebake-exec');
const E2BIG = 7;

// What an instance sees of the controller's environment: enough to run a runtime, nothing secret. PATH is
// the view's own (the host's names directories the instance cannot see).
const PASSED_ENV = ['LANG', 'LC_ALL', 'TZ', 'JAVA_HOME'];
const VIEW_PATH = '/usr/local/bin:/usr/bin:/bin';

export interface LaunchedProcess {
  /**
   * The process prebake waits on: prebake-exec, whose child is the instance's PID-namespace init. Killing the
   * init ends every process in the namespace; the init dies with prebake-exec too (PR_SET_PDEATHSIG).
   */
  owner: OwnerProcess;
  pipes: InstancePipes;
  /** The instance's cgroup, which `unshare` joined before exec: the Instance ends it. */
  cgroup: InstanceCgroup;
  /** Host PID of the namespace init (the runtime), once it exists. */
  initPid(): Promise<number>;
  /**
   * "outbound": its egress, attached before the runtime runs (the launcher waits for it); rejects with
   * PREBAKE_ERR_NETWORK, the runtime then never runs. Resolves undefined for the other modes.
   */
  network: Promise<OutboundLink | undefined>;
}

export function instanceEnvironment(fn: FunctionSpec, runtimeEnv: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of PASSED_ENV) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return {
    PATH: VIEW_PATH,
    ...env,
    ...fn.env,
    ...runtimeEnv,
    PREBAKE_FUNCTION_NAME: fn.name,
    PREBAKE_MEMORY_MB: String(fn.memoryMb),
    PREBAKE_TIMEOUT_MS: String(fn.timeoutMs),
  };
}

/**
 * Everything an instance is given, as data (runc's one Config): the stored plan, every operation that builds its
 * view, its command and environment as seen from inside, its cgroup limits and its ids. `prebake doctor --plan`
 * prints it; launchInstance executes it.
 */
export interface InstanceSandbox {
  plan: SandboxPlan;
  /** viewOps of the plan: the one list of what the instance sees. */
  view: ViewOp[];
  command: RuntimeCommand;
  env: Record<string, string>;
  limits: CgroupLimits;
  ids: IdMapping;
}

/** Where prebake keeps things: its home, and where views' roots are made (ImageStore's). */
export interface SandboxDirs {
  home: string;
  sandboxDir: string;
}

/**
 * Plans the sandbox of an instance of `fn` running `command` (host paths) as the host ids from `hostIdBase` (the
 * function's block, launch/host-ids.ts). Writes nothing but, once per process, the host's device probe
 * (host-facts.ts); skeleton.ts ensureRoot makes the root it names. Throws PREBAKE_ERR_MANIFEST for a path of
 * "readOnlyPaths" that may not be bound.
 */
export async function planSandbox(
  dirs: SandboxDirs,
  fn: FunctionSpec,
  preparedDir: string,
  hostCommand: RuntimeCommand,
  hostIdBase: number,
): Promise<InstanceSandbox> {
  const { sandboxDir } = dirs;
  assertReachableByInstances(sandboxDir);
  const command = withResolvedProgram(hostCommand);
  const host = await hostFacts(sandboxDir);
  const mounts = sandboxMounts(host, fn, preparedDir, command);
  const rootEntries = sandboxRootEntries(host);
  await checkReadOnlyPaths(fn, dirs.home, viewOps({ mounts, rootEntries, tmpMb: fn.tmpMb }, host));
  const plan = sandboxPlan(host, sandboxDir, fn, { mounts: [...mounts, ...readOnlyMounts(fn)], rootEntries }, hostIdBase);
  return instanceSandbox(host, fn, plan, command);
}

/** The whole sandbox of an instance of `fn` planned as `plan`, running `hostCommand` (host paths). */
export function instanceSandbox(
  host: Pick<HostFacts, 'usrLinks'>,
  fn: FunctionSpec,
  plan: SandboxPlan,
  hostCommand: RuntimeCommand,
): InstanceSandbox {
  const view = viewOps(plan, host);
  const command = commandInView(view, hostCommand);
  return {
    plan,
    view,
    command,
    env: viewEnvironment(view, instanceEnvironment(fn, command.env)),
    limits: instanceLimits(fn),
    ids: idMapping(plan),
  };
}

/**
 * Starts `command` as the init of a new PID namespace and the leader of a new session (both needed so that
 * criu can dump the tree and restore many copies of it side by side), with io_uring denied (criu cannot dump
 * it; see native/prebake-exec.c), on four fresh pipes (docs/PROTOCOL.md), inside a cgroup of its own with the
 * function's limits (src/cgroup/), named for the home it serves (`homeTag`, the store's).
 */
export function launchInstance(fn: FunctionSpec, sandbox: InstanceSandbox, homeTag: string): LaunchedProcess {
  const { plan, command } = sandbox;
  const cgroup = createInstanceCgroup(fn, homeTag, sandbox.limits);
  let pipes: InstancePipes;
  try {
    pipes = createInstancePipes(instanceHostId(plan));
  } catch (error) {
    void cgroup.end().catch(() => {}); // empty: nothing ran in it
    throw error;
  }
  const ends = instanceEnds(pipes);
  // The launcher's init waits on this pipe before it runs anything: init may need the network.
  const attached = plan.network === 'outbound' ? createPipe() : undefined;
  let owner: LaunchedProcess['owner'];
  try {
    // posix_spawn, not child_process: a fork() of the controller would cost ~3 ms of CPU, and be counted in
    // the plain start's time.
    owner = new SpawnedProcess(
      PREBAKE_EXEC,
      launcherArgs(plan, sandbox.view, command.argv, attached && WAIT_FD),
      [null, ends.stdout, ends.stderr, ends.controlIn, ends.controlOut, ...(attached ? [attached.read] : [])],
      { env: sandbox.env, cgroupProcs: cgroup.procsFiles },
    );
  } catch (error) {
    closeControllerEnds(pipes);
    if (attached) closeSync(attached.write);
    void cgroup.end().catch(() => {}); // empty: the child failed before exec and was reaped
    // E2BIG: the environment (or one variable, over the kernel's 128 KiB per string) is too large to exec.
    if ((error as { errno?: number }).errno === E2BIG) {
      throw new PrebakeError(
        'PREBAKE_ERR_MANIFEST',
        `function "${fn.name}": its environment is too large to start an instance (${(error as Error).message})`,
        {
          cause: error,
          functionName: fn.name,
          hint: 'keep "env" in function.json small (the kernel takes at most 128 KiB per variable); pass large data another way',
        },
      );
    }
    throw new PrebakeError('PREBAKE_ERR_RUNTIME_MISSING', `function "${fn.name}": cannot start an instance: ${(error as Error).message}`, {
      cause: error,
      functionName: fn.name,
      hint: 'run scripts/setup.sh (it builds native/build/prebake-exec)',
    });
  } finally {
    // The child has its copies; ours would keep the pipes from reporting end of file.
    closeInstanceEnds(pipes);
    if (attached) closeSync(attached.read);
  }
  const ownerPid = owner.pid;
  const launched: LaunchedProcess = {
    owner,
    pipes,
    cgroup,
    network: Promise.resolve(undefined),
    async initPid() {
      const pid = ownerPid === undefined ? undefined : await firstChild(ownerPid);
      // The launcher outlives its child only briefly: the instance has exited (or never started).
      if (pid === undefined) {
        throw new PrebakeError(
          'PREBAKE_ERR_FUNCTION_EXITED',
          `function "${fn.name}": its instance has no process (the launcher ${ownerPid ?? 'did not start'}${ownerPid === undefined ? '' : ' has no child'})`,
          {
            functionName: fn.name,
          },
        );
      }
      return pid;
    },
  };
  if (attached) launched.network = attachThenRelease(launched, attached.write, fn.name);
  return launched;
}

/**
 * Waits for `ready` (the instance's init) and its network. A failed attach (PREBAKE_ERR_NETWORK) is the error
 * told: the runtime never ran, and its "exited during init" would hide why. A launcher that failed before its
 * init existed fails both: its own words (in `ready`'s error) say why.
 */
export async function readyWithNetwork<T>(
  launched: LaunchedProcess,
  ready: Promise<T>,
): Promise<{ ready: T; network: OutboundLink | undefined }> {
  const [init, network] = await Promise.allSettled([ready, launched.network]);
  if (network.status === 'rejected' && network.reason instanceof PrebakeError && network.reason.code === 'PREBAKE_ERR_NETWORK')
    throw network.reason;
  if (init.status === 'rejected') throw init.reason;
  if (network.status === 'rejected') throw network.reason;
  return { ready: init.value, network: network.value };
}

// The init (and with it its network namespace) exists once the launcher's clone returns: a moment after the spawn.
async function clonedInit(launched: LaunchedProcess): Promise<number> {
  const ownerPid = launched.owner.pid;
  let gone = false;
  void launched.owner.then(() => (gone = true));
  for (;;) {
    const pid = ownerPid === undefined ? undefined : await firstChild(ownerPid);
    if (pid !== undefined || gone) return launched.initPid();
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

// The launcher's init reads one byte from this fd (its 5) before it runs the runtime; end of file ends it.
const WAIT_FD = 5;

async function attachThenRelease(launched: LaunchedProcess, release: number, name: string): Promise<OutboundLink> {
  try {
    const link = await attachOutbound(await clonedInit(launched), launched.cgroup.procsFiles, name);
    writeSync(release, 'g');
    return link;
  } finally {
    closeSync(release);
  }
}

// Host paths the controller passes on (JAVA_HOME) mean nothing inside when the view lacks them.
function viewEnvironment(view: ViewOp[], env: Record<string, string>): Record<string, string> {
  const { JAVA_HOME: javaHome, ...rest } = env;
  return javaHome !== undefined && isInView(view, javaHome) ? { ...rest, JAVA_HOME: javaHome } : rest;
}

// `java` on PATH is /usr/bin/java -> /etc/alternatives/java -> the JDK: a chain through the host's /etc that
// the view does not have. The instance runs the program's real path.
function withResolvedProgram(command: RuntimeCommand): RuntimeCommand {
  const [program, ...args] = command.argv;
  if (!program) return command;
  // A path too (an interpreter recorded with an image, /usr/bin/java -> /etc/alternatives/...): its links are
  // resolved, so that the prefix bound into the view is the installation's.
  if (program.includes('/')) {
    try {
      return { ...command, argv: [realpathSync(program), ...args] };
    } catch {
      return command;
    }
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!path.isAbsolute(dir)) continue;
    try {
      return { ...command, argv: [realpathSync(path.join(dir, program)), ...args] };
    } catch {
      // not in this directory
    }
  }
  return command;
}
