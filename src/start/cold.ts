// A plain start: spawn the runtime and run the function's init, no snapshot. Kept for comparison and as the
// fallback when a restore fails.
import { Instance } from '../instance/instance.ts';
import type { InstanceRegistry } from '../instance/registry.ts';
import { hostIdBase } from '../launch/host-ids.ts';
import { launchInstance, planSandbox, readyWithNetwork } from '../launch/launch.ts';
import { viewEntries } from '../launch/sandbox-plan.ts';
import type { FunctionSpec } from '../manifest/schema.ts';
import { runtimeFor } from '../runtimes/index.ts';
import type { RuntimeCommand } from '../runtimes/runtime.ts';
import type { ImageStore } from '../store/store.ts';
import type { StartedInstance } from './started.ts';

/** `preparedDir`: what the runtime prepared for this source (see ensurePrepared). */
export async function startCold(
  fn: FunctionSpec,
  preparedDir: string,
  store: ImageStore,
  instances: InstanceRegistry,
): Promise<StartedInstance> {
  return startCommand(fn, preparedDir, runtimeFor(fn.runtime).command(fn, preparedDir), store, instances);
}

/** A plain start of `command` (a runtime's shim, host paths) as an instance of `fn`, until its init is done. */
export async function startCommand(
  fn: FunctionSpec,
  preparedDir: string,
  command: RuntimeCommand,
  store: ImageStore,
  instances: InstanceRegistry,
): Promise<StartedInstance> {
  // The command line and the sandbox's plan first: finding a runtime's binary and making the view's root
  // (once) are set-up, not part of the start being measured.
  const sandbox = await planSandbox(store, fn, preparedDir, command, await hostIdBase(store.home, fn.name));
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
    await readyWithNetwork(launched, instance.waitReady(fn.timeoutMs, { interpreter: command.argv[0], view: viewEntries(sandbox.plan) }));
  } catch (error) {
    await instance.end();
    throw error;
  }
  return { instance, kind: 'cold', startMs: performance.now() - started, cleanup: async () => {} };
}
