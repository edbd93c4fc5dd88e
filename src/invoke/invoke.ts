// One invocation from start to end, as the CLI runs it: start an instance (restore or plain start), send the
// event, collect the result and the logs, end the instance. The daemon's manager reuses the same steps.
import { randomUUID } from 'node:crypto';
import type { Criu } from '../criu/criu.ts';
import { PrebakeError } from '../errors.ts';
import type { StartMode } from '../manifest/schema.ts';
import { startInstance } from '../start/start.ts';
import type { StartedInstance } from '../start/started.ts';
import type { ImageStore } from '../store/store.ts';
import { checkEvent } from './event.ts';
import { resolveFunction } from './resolve.ts';

export interface InvokeRequest {
  /** A function name (from the store) or the path of a function directory. */
  target: string;
  /** The event as JSON text; checked before anything starts. */
  event: string;
  mode?: Exclude<StartMode, 'warm'>;
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
  runMs: number;
  logs: string;
}

export async function invokeFunction(request: InvokeRequest, store: ImageStore, criu: Criu): Promise<InvokeOutcome> {
  checkEvent(request.event, request.eventLimitBytes);
  const requestId = request.requestId ?? randomUUID();
  const fn = await resolveFunction(request.target, store, request.mode);
  const started = await startInstance(fn, store, criu);
  const { result, runMs, logs } = await runOnce(started, request.event, { requestId, timeoutMs: fn.spec.timeoutMs });
  return { requestId, functionName: fn.spec.name, result, start: started.kind, startMs: started.startMs, runMs, logs };
}

/** Runs one event on a started instance, then ends it and removes its work dirs, on every path. */
export async function runOnce(
  started: StartedInstance,
  event: string,
  options: { requestId: string; timeoutMs: number },
): Promise<{ result: string; runMs: number; logs: string }> {
  const { instance } = started;
  try {
    const { body, runMs } = await instance.invoke(event, options);
    await instance.end();
    return { result: body.toString('utf8'), runMs, logs: instance.logs.text() };
  } catch (error) {
    await instance.end();
    if (error instanceof PrebakeError) error.logs = instance.logs.text();
    throw error;
  } finally {
    await started.cleanup();
  }
}
