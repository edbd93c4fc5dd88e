// A plain start: spawn the runtime and run the function's init, no snapshot. Kept for comparison and as the
// fallback when a restore fails.
import { Instance } from '../instance/instance.ts';
import { launchInstance } from '../launch/launch.ts';
import type { FunctionSpec } from '../manifest/schema.ts';
import { runtimeFor } from '../runtimes/index.ts';
import type { RuntimeCommand } from '../runtimes/runtime.ts';
import type { StartedInstance } from './started.ts';

/** `preparedDir`: what the runtime prepared for this source (see ensurePrepared). */
export async function startCold(fn: FunctionSpec, preparedDir: string): Promise<StartedInstance> {
  // The command line first: finding a runtime's binary is set-up, not part of the start being measured.
  return startCommand(fn, runtimeFor(fn.runtime).command(fn, preparedDir));
}

/** A plain start of `command` (a runtime's shim) as an instance of `fn`, until its init is done. */
export async function startCommand(fn: FunctionSpec, command: RuntimeCommand): Promise<StartedInstance> {
  const started = performance.now();
  const launched = launchInstance(fn, command);
  const instance = new Instance({ functionName: fn.name, owner: launched.owner, pipes: launched.pipes, cgroup: launched.cgroup, initPid: launched.initPid });
  try {
    await instance.waitReady(fn.timeoutMs);
  } catch (error) {
    await instance.end();
    throw error;
  }
  return { instance, kind: 'cold', startMs: performance.now() - started, cleanup: async () => {} };
}
