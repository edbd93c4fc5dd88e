// One invocation from start to end, as the CLI runs it: start an instance (restore or plain start), send the
// event, collect the result and the logs, end the instance. The daemon's manager reuses the same steps.
import { randomUUID } from 'node:crypto';
import type { Criu } from '../criu/criu.ts';
import { PrebakeError } from '../errors.ts';
import type { StartMode } from '../manifest/schema.ts';
import { LAMBDA_PAYLOAD_BYTES, MAX_BODY_BYTES } from '../instance/frames.ts';
import { startCold } from '../start/cold.ts';
import { startPrebaked } from '../start/restore.ts';
import type { StartedInstance } from '../start/started.ts';
import type { ImageStore } from '../store/store.ts';
import { resolveFunction, type ResolvedFunction } from './resolve.ts';

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

/** The largest event accepted by default: Lambda's limit for a synchronous invocation. */
export const DEFAULT_EVENT_LIMIT_BYTES = LAMBDA_PAYLOAD_BYTES;

export function eventTooLarge(limitBytes: number): PrebakeError {
  return new PrebakeError('PREBAKE_ERR_PAYLOAD_TOO_LARGE', `the event is over the limit of ${limitBytes} bytes`, {
    hint: 'pass large data by reference (a path or URL in the event), as with Lambda',
  });
}

/** Throws PREBAKE_ERR_INVALID_EVENT unless `text` is one JSON value of an acceptable size. */
export function checkEvent(text: string, limitBytes = DEFAULT_EVENT_LIMIT_BYTES): void {
  if (limitBytes > MAX_BODY_BYTES) throw new RangeError(`an event limit over ${MAX_BODY_BYTES} bytes cannot be framed`);
  if (Buffer.byteLength(text) > limitBytes) throw eventTooLarge(limitBytes);
  try {
    JSON.parse(text);
  } catch (error) {
    throw new PrebakeError('PREBAKE_ERR_INVALID_EVENT', `the event is not valid JSON: ${(error as Error).message}`, {
      hint: `pass JSON, for example --data '{"name":"x"}'`,
    });
  }
}

/** Starts an instance of a resolved function the way `fn.mode` says. */
export async function startInstance(fn: ResolvedFunction, store: ImageStore, criu: Criu): Promise<StartedInstance> {
  if (fn.mode === 'prebaked' && fn.image) return startPrebaked(fn.image, store, criu);
  return startCold(fn.spec, fn.preparedDir, store);
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
