// One invocation from start to end at the invoke stage, without a Host's policies (no fallback, no limit, no
// functions roots): start an instance (restore or plain start), send the event, collect the result and the logs,
// end the instance (the sequence of invocation.ts, which the Host runs too). The surfaces go through the Host
// (src/host); the build's clone check runs runOnce.
import { randomUUID } from 'node:crypto';
import type { Criu } from '../criu/criu.ts';
import { PrebakeError } from '../errors.ts';
import type { InvokeOptions } from '../instance/instance.ts';
import type { InstanceRegistry } from '../instance/registry.ts';
import type { StartMode } from '../manifest/schema.ts';
import type { StartPhase } from '../start/phases.ts';
import { startInstance } from '../start/start.ts';
import type { StartedInstance } from '../start/started.ts';
import type { ImageStore } from '../store/store.ts';
import { checkEvent } from './event.ts';
import { type Invoked, oneShotLease, runInvocation } from './invocation.ts';
import { resolveFunction } from './resolve.ts';

export interface OneShotRequest {
  /** A function name (from the store) or the path of a function directory. */
  target: string;
  /** The event as JSON text; checked before anything starts. */
  event: string;
  /** No fork: a one-shot would restore a template to fork it once, slower than a prebaked start (README). */
  mode?: Exclude<StartMode, 'warm' | 'pooled' | 'fork'>;
  /** The largest event accepted (default DEFAULT_EVENT_LIMIT_BYTES). */
  eventLimitBytes?: number;
  requestId?: string;
}

export interface InvokeOutcome {
  requestId: string;
  functionName: string;
  /** The handler's result as JSON text. */
  result: string;
  start: StartMode;
  startMs: number;
  /** Where startMs went, where the start measured it (a prebaked start). */
  startPhases?: StartPhase[];
  runMs: number;
  logs: string;
}

export async function invokeFunction(
  request: OneShotRequest,
  store: ImageStore,
  criu: Criu,
  instances: InstanceRegistry,
): Promise<InvokeOutcome> {
  checkEvent(request.event, request.eventLimitBytes);
  const requestId = request.requestId ?? randomUUID();
  const fn = await resolveFunction(request.target, store, request.mode);
  const { result, runMs, lease, logs } = await runOnce(() => startInstance(fn, store, criu, instances), request.event, {
    requestId,
    timeoutMs: fn.spec.timeoutMs,
  });
  return {
    requestId,
    functionName: fn.spec.name,
    result,
    start: lease.kind,
    startMs: lease.startMs,
    startPhases: lease.started.phases,
    runMs,
    logs,
  };
}

/**
 * Runs one event on an instance that `start` starts, and waits until the instance has ended and its work dirs
 * are gone, on every path; a PrebakeError carries the instance's logs.
 */
export async function runOnce(
  start: () => Promise<StartedInstance>,
  event: string,
  options: InvokeOptions,
): Promise<Invoked & { logs: string }> {
  let ended: Promise<string> = Promise.resolve('');
  try {
    const invoked = await runInvocation(event, options, {
      lease: async () => oneShotLease(await start()),
      released: (_lease, logs) => (ended = logs),
    });
    return { ...invoked, logs: await ended };
  } catch (error) {
    const logs = await ended;
    if (error instanceof PrebakeError) error.logs = logs;
    throw error;
  }
}
