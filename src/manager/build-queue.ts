// Builds wait their turn: at most `builds.maxConcurrent` run at once (a build keeps a core busy), and builds of
// one name run one after another, so that what a build checks about the name (who owns it) still holds when it
// publishes.

import type { DaemonConfig } from './config.ts';
import { ConcurrencyLimiter } from './limiter.ts';

export class BuildQueue {
  private readonly limiter: ConcurrencyLimiter;
  private readonly byName = new Map<string, Promise<unknown>>();

  constructor(config: DaemonConfig['builds']) {
    this.limiter = new ConcurrencyLimiter({
      limit: config.maxConcurrent,
      maxQueued: config.maxQueued,
      queueTimeoutMs: config.queueTimeoutMs,
      what: 'builds',
      settings: 'builds.maxConcurrent / builds.maxQueued',
    });
  }

  get running(): number {
    return this.limiter.running;
  }

  get queued(): number {
    return this.limiter.queued;
  }

  /**
   * Runs `build` once a slot is free and no other build of `name` runs. Rejects with PREBAKE_ERR_OVERLOADED past
   * the queue's bounds, PREBAKE_ERR_CLIENT_GONE when `signal` aborts while waiting for a slot.
   */
  async run<T>(name: string, build: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    // The slot first: waiting for a slot is what the queue bounds; the name's turn comes within a build's time.
    const release = await this.limiter.acquire(signal);
    try {
      const previous = this.byName.get(name);
      const mine = (previous ?? Promise.resolve()).catch(() => undefined).then(build);
      this.byName.set(name, mine);
      try {
        return await mine;
      } finally {
        if (this.byName.get(name) === mine) this.byName.delete(name);
      }
    } finally {
      release();
    }
  }

  /** Refuses every queued build with `error` (a shutdown). */
  refuseQueued(error: Error): void {
    this.limiter.refuseQueued(error);
  }
}
