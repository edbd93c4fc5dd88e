// The automatic size of a clone pool (`pool.size: "auto"`): enough clones for the invocations that arrive while
// one refill restores, plus a margin for bursts, within the function's bounds:
//
//   target = clamp(ceil(arrivals per second x refill seconds) + burst, minSize, maxSize)
//
// Both inputs are moving averages, updated when they are observed (an invocation takes from the pool, a refill
// completes); the target is recomputed then, and only then. A falling rate shrinks the pool by not refilling it
// (the pool never ends a ready clone for it: one could be taken the next moment).

export interface PoolSizing {
  minSize: number;
  maxSize: number;
  burst: number;
}

/** The target and what it was derived from, as of the last arrival or refill. */
export interface PoolTarget {
  target: number;
  /** Pooled invocations per second (hits and misses), averaged over about RATE_TIME_CONSTANT_MS. */
  ratePerSecond: number;
  /** How long a refill takes (restore, and resume when hooks run at fill); undefined until one has completed. */
  refillMs?: number;
}

// Ten seconds: long enough that a steady 1/s reads within about 20% (the estimate's spread is 1/sqrt(2 x rate x
// time constant) for random arrivals), short enough that the pool follows a change of load within seconds. What
// arrives faster than that is the burst margin's to cover.
export const RATE_TIME_CONSTANT_MS = 10_000;
// A refill's duration moves with the host's load; a third of each new one follows it within a few refills.
export const REFILL_WEIGHT = 1 / 3;

/** The target for a rate and a refill time, within the bounds (maxSize wins where the bounds cross). */
export function poolTarget(ratePerSecond: number, refillMs: number | undefined, sizing: PoolSizing): number {
  const during = Math.ceil((ratePerSecond * (refillMs ?? 0)) / 1000);
  return Math.min(sizing.maxSize, Math.max(sizing.minSize, during + sizing.burst));
}

/** The moving averages of one pool and its target; time comes from `now` (ms, monotonic). */
export class PoolSizer {
  private readonly sizing: PoolSizing;
  private readonly now: () => number;
  // An exponentially decaying count of arrivals per ms: each arrival adds 1/τ, and it decays by e^(-Δt/τ), so
  // for arrivals at a steady rate it settles at that rate however irregular the gaps between them.
  private ratePerMs = 0;
  private lastArrival: number | undefined;
  private refillMs: number | undefined;
  private last: PoolTarget;

  constructor(sizing: PoolSizing, now: () => number = () => performance.now()) {
    this.sizing = sizing;
    this.now = now;
    this.last = { target: poolTarget(0, undefined, sizing), ratePerSecond: 0 };
  }

  get current(): PoolTarget {
    return this.last;
  }

  /** An invocation asked the pool for a clone (whether or not one was ready). */
  arrival(): PoolTarget {
    const at = this.now();
    this.ratePerMs = this.rateAt(at) + 1 / RATE_TIME_CONSTANT_MS;
    this.lastArrival = at;
    return this.recompute(at);
  }

  /** A refill completed in `ms`. */
  refilled(ms: number): PoolTarget {
    this.refillMs = this.refillMs === undefined ? ms : this.refillMs + REFILL_WEIGHT * (ms - this.refillMs);
    return this.recompute(this.now());
  }

  private rateAt(at: number): number {
    return this.lastArrival === undefined ? 0 : this.ratePerMs * Math.exp(-(at - this.lastArrival) / RATE_TIME_CONSTANT_MS);
  }

  private recompute(at: number): PoolTarget {
    const ratePerSecond = this.rateAt(at) * 1000;
    this.last = {
      target: poolTarget(ratePerSecond, this.refillMs, this.sizing),
      ratePerSecond,
      ...(this.refillMs !== undefined && { refillMs: this.refillMs }),
    };
    return this.last;
  }
}
