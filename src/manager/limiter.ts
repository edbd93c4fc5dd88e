// The daemon's concurrency limits (one for invocations, one for builds): at most `limit` callers hold a slot; up
// to `maxQueued` more wait, each for at most `queueTimeoutMs`. Past either bound a caller is refused at once
// (429): nothing waits forever.
import { PrebakeError } from '../errors.ts';

export interface LimiterOptions {
  limit: number;
  maxQueued: number;
  queueTimeoutMs: number;
  /** What a refused caller is told to wait before retrying (Retry-After). */
  retryAfterSec?: number;
  /** What holds the slots, for messages: "invocations" (the default) or "builds". */
  what?: string;
  /** The config fields that set the bounds, for the hint. */
  settings?: string;
}

/** Gives the slot back; calling it more than once is harmless. */
export type Release = () => void;

interface Waiter {
  grant: (release: Release) => void;
  refuse: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export class ConcurrencyLimiter {
  private readonly options: Required<LimiterOptions>;
  private readonly waiters: Waiter[] = [];
  private active = 0;

  constructor(options: LimiterOptions) {
    this.options = { retryAfterSec: 1, what: 'invocations', settings: 'maxConcurrent / maxQueued', ...options };
  }

  get running(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiters.length;
  }

  /**
   * Resolves with a slot's release, or rejects with PREBAKE_ERR_OVERLOADED; or with PREBAKE_ERR_CLIENT_GONE when
   * `signal` aborts while waiting (its client left: the slot goes to someone who still wants the answer).
   */
  acquire(signal?: AbortSignal): Promise<Release> {
    if (signal?.aborted) return Promise.reject(clientGone());
    if (this.active < this.options.limit) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    if (this.waiters.length >= this.options.maxQueued) {
      return Promise.reject(this.overloaded(`${this.active} ${this.options.what} are running and ${this.waiters.length} are queued`));
    }
    return new Promise<Release>((grant, refuse) => {
      const onAbort = () => {
        clearTimeout(waiter.timer);
        this.remove(waiter);
        refuse(clientGone());
      };
      const waiter: Waiter = {
        grant: (release) => {
          signal?.removeEventListener('abort', onAbort);
          grant(release);
        },
        refuse: (error) => {
          signal?.removeEventListener('abort', onAbort);
          refuse(error);
        },
        timer: setTimeout(() => {
          this.remove(waiter);
          waiter.refuse(this.overloaded(`no slot came free within ${this.options.queueTimeoutMs} ms`));
        }, this.options.queueTimeoutMs),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Refuses every queued caller with `error` (a shutdown). */
  refuseQueued(error: Error): void {
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.refuse(error);
    }
  }

  private releaser(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) {
        // The slot passes straight to the next waiter: `active` stays as it is.
        clearTimeout(next.timer);
        next.grant(this.releaser());
      } else {
        this.active--;
      }
    };
  }

  private remove(waiter: Waiter): void {
    const index = this.waiters.indexOf(waiter);
    if (index >= 0) this.waiters.splice(index, 1);
  }

  private overloaded(why: string): PrebakeError {
    return new PrebakeError('PREBAKE_ERR_OVERLOADED', `too many ${this.options.what} in flight: ${why}`, {
      hint: `retry after ${this.options.retryAfterSec} s, or raise ${this.options.settings} in the daemon's config`,
      details: { retryAfterSec: this.options.retryAfterSec, running: this.active, queued: this.waiters.length },
    });
  }
}

function clientGone(): PrebakeError {
  return new PrebakeError('PREBAKE_ERR_CLIENT_GONE', 'the client went away while its request waited for a slot');
}
