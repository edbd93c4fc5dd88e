// A plain start: spawn the runtime and run the function's init, no snapshot. Kept for comparison, as the
// fallback when a restore fails, and as the build's first step (it goes on from there to warm-up and dump).
import { Instance } from '../instance/instance.ts';
import type { InstanceRegistry } from '../instance/registry.ts';
import { hostIdBase } from '../launch/host-ids.ts';
import { type InstanceSandbox, launchInstance, planSandbox, readyWithNetwork } from '../launch/launch.ts';
import type { OutboundLink } from '../launch/outbound.ts';
import { type PipeInodes, pipeInodes } from '../launch/pipes.ts';
import { ensureRoot } from '../launch/skeleton.ts';
import type { FunctionSpec } from '../manifest/schema.ts';
import { runtimeFor } from '../runtimes/index.ts';
import type { RuntimeCommand } from '../runtimes/runtime.ts';
import type { ImageStore } from '../store/store.ts';
import type { StartedInstance } from './started.ts';

export interface ColdLaunchOptions {
  fn: FunctionSpec;
  /** What the runtime prepared for this source (see ensurePrepared). */
  preparedDir: string;
  /** The command line (host paths); the runtime's own by default. */
  command?: RuntimeCommand;
  store: ImageStore;
  instances: InstanceRegistry;
  /** Runs once the sandbox is planned and before anything is launched (the build checks the view here). */
  beforeLaunch?: (sandbox: InstanceSandbox) => Promise<void>;
}

/** An instance whose init is done, with what a build needs to go on: its sandbox and its network. */
export interface ColdLaunched extends StartedInstance {
  sandbox: InstanceSandbox;
  /** The init's own time, as the runtime's shim measured it. */
  initMs: number;
  network: OutboundLink | undefined;
  /** Its pipes' inodes, which a build records in the image (read at launch: an init may close its stdout). */
  pipeInodes: PipeInodes;
}

/** `preparedDir`: what the runtime prepared for this source (see ensurePrepared). */
export async function startCold(
  fn: FunctionSpec,
  preparedDir: string,
  store: ImageStore,
  instances: InstanceRegistry,
): Promise<StartedInstance> {
  return startedOf(await launchCold({ fn, preparedDir, store, instances }));
}

/** A plain start of `command` (a runtime's shim, host paths) as an instance of `fn`, until its init is done. */
export async function startCommand(
  fn: FunctionSpec,
  preparedDir: string,
  command: RuntimeCommand,
  store: ImageStore,
  instances: InstanceRegistry,
): Promise<StartedInstance> {
  return startedOf(await launchCold({ fn, preparedDir, command, store, instances }));
}

/**
 * Plans the sandbox, launches the runtime in it and waits for its init and its network. On any failure after the
 * launch the instance is ended before the error is thrown.
 */
export async function launchCold(options: ColdLaunchOptions): Promise<ColdLaunched> {
  const { fn, preparedDir, store, instances } = options;
  const command = options.command ?? runtimeFor(fn.runtime).command(fn, preparedDir);
  // The command line, the sandbox's plan and its root first: finding a runtime's binary and making the view's
  // root (once) are set-up, not part of the start being measured.
  const sandbox = await planSandbox(store, fn, preparedDir, command, await hostIdBase(store.home, fn.name));
  await options.beforeLaunch?.(sandbox);
  await ensureRoot(sandbox.plan.root, sandbox.view);
  const started = performance.now();
  const launched = launchInstance(fn, sandbox, store.homeTag);
  const instance = new Instance({
    functionName: fn.name,
    owner: launched.owner,
    pipes: launched.pipes,
    cgroup: launched.cgroup,
    initPid: launched.initPid,
    registry: instances,
  });
  try {
    const inodes = pipeInodes(launched.pipes);
    const waited = instance.waitReady(fn.timeoutMs, { interpreter: command.argv[0], view: sandbox.view });
    const { ready: initMs, network } = await readyWithNetwork(launched, waited);
    return {
      instance,
      kind: 'cold',
      startMs: performance.now() - started,
      cleanup: async () => {},
      sandbox,
      initMs,
      network,
      pipeInodes: inodes,
    };
  } catch (error) {
    await instance.end();
    throw error;
  }
}

const startedOf = ({ instance, kind, startMs, cleanup }: ColdLaunched): StartedInstance => ({ instance, kind, startMs, cleanup });
