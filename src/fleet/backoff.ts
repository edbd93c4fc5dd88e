// How long a failed reference waits before it is tried again: doubling from firstMs up to maxMs, each delay
// spread by ±20% so that a fleet's daemons do not retry a recovering registry in step.
export interface Backoff {
  firstMs: number;
  maxMs: number;
}

// A registry back after a restart is found within seconds; a long outage costs one request per 5 min per function.
export const DEFAULT_BACKOFF: Backoff = { firstMs: 5_000, maxMs: 5 * 60_000 };

/** The delay after the `attempt`th failure in a row (1 = the first). */
export function retryDelayMs(backoff: Backoff, attempt: number, random = Math.random): number {
  const base = Math.min(backoff.maxMs, backoff.firstMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(base * (0.8 + 0.4 * random()));
}
