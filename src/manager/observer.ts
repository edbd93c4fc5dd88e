// What the Host tells its observers (metrics) and its logger. The Host depends on neither fastify nor
// prom-client: the server plugs both in.
import type { StartMode } from '../manifest/schema.ts';

export interface InvocationEvent {
  functionName: string;
  /** How the instance started; undefined when the invocation failed before it had one. */
  start?: StartMode;
  /** "ok", or the error code's tail in lower case ("function_error", "timeout", "overloaded"). */
  outcome: string;
  startMs?: number;
  runMs?: number;
}

export interface ManagerObserver {
  invocation?(event: InvocationEvent): void;
  restore?(event: { functionName: string; ok: boolean }): void;
  fallback?(event: { functionName: string }): void;
  build?(event: { functionName: string; ok: boolean; ms: number }): void;
}

type LogFn = (fields: object, message?: string) => void;

/** The slice of a pino logger the Host uses; fastify's `app.log` and `request.log` fit. */
export interface ManagerLogger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  child(bindings: Record<string, unknown>): ManagerLogger;
}

export const silentLogger: ManagerLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => silentLogger,
};
