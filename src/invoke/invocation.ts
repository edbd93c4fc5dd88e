// The one sequence of an invocation, for the CLI's one-shot flow, the build's clone check and the daemon's
// manager alike: get a started instance (a lease), send it the event, and give the instance back (ended, or
// back to its warm pool) once the answer is known. Whoever gets the instance differs; the sequence does not.
import { isPrebakeError } from '../errors.ts';
import type { InvokeOptions } from '../instance/instance.ts';
import type { StartMode } from '../manifest/schema.ts';
import type { StartedInstance } from '../start/started.ts';

/** An instance lent to one invocation; `release` gives it back and resolves with its logs of the invocation. */
export interface Lease {
  started: StartedInstance;
  kind: StartMode;
  startMs: number;
  /** healthy: the instance may serve again (the handler returned or threw). */
  release(healthy: boolean): Promise<string>;
}

/** A lease on an instance that serves this one invocation: its release ends it and removes its work dirs. */
export function oneShotLease(started: StartedInstance, onRelease: () => void = () => {}): Lease {
  return {
    started,
    kind: started.kind,
    startMs: started.startMs,
    release: async () => {
      onRelease();
      await endStarted(started);
      return started.instance.logs.text();
    },
  };
}

/** Ends a started instance, then removes its work dirs. */
export async function endStarted(started: StartedInstance): Promise<void> {
  await started.instance.end();
  await started.cleanup();
}

export interface Invoked {
  lease: Lease;
  /** The handler's result as JSON text. */
  result: string;
  runMs: number;
}

export interface InvocationSteps {
  /** Gets the started instance (the start stage: a restore, a plain start, or a warm instance). */
  lease: () => Promise<Lease>;
  /** Runs once the instance is started, before the event goes out; a throw gives the instance back unused. */
  started?: (lease: Lease) => void;
  /**
   * Told how the instance is given back, on every path: `logs` resolves once it has ended (or is back in its
   * pool) with what it printed. `lease` is undefined when none was got; `failure` is what the invocation threw.
   */
  released: (lease: Lease | undefined, logs: Promise<string>, failure?: unknown) => void;
}

/** start -> invoke -> end, on every path. */
export async function runInvocation(event: string, options: InvokeOptions, steps: InvocationSteps): Promise<Invoked> {
  let lease: Lease | undefined;
  let healthy = false;
  let failure: unknown;
  try {
    lease = await steps.lease();
    steps.started?.(lease);
    const ran = await lease.started.instance.invoke(event, options);
    healthy = true;
    return { lease, result: ran.body.toString('utf8'), runMs: ran.runMs };
  } catch (error) {
    failure = error;
    // A handler that threw leaves its instance as good as before; anything else may not have.
    healthy = isPrebakeError(error, 'PREBAKE_ERR_FUNCTION_ERROR');
    throw error;
  } finally {
    // Given back once the answer is on its way: killing and reaping a restored tree takes a few ms of CPU that
    // the caller need not wait for.
    steps.released(lease, lease ? afterAnswer(lease, healthy) : Promise.resolve(''), failure);
  }
}

function afterAnswer(lease: Lease, healthy: boolean): Promise<string> {
  return new Promise((resolve) => setImmediate(resolve)).then(() => lease.release(healthy));
}
