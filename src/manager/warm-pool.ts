// Warm instances of one build of one function, kept for reuse. Policy: at most `max` instances belong to the
// pool (idle + busy); an idle one ends after `idleMs`. The most recently used idle instance is reused first,
// so that after a burst the extra instances sit unused and idle out.
import type { StartedInstance } from '../start/started.ts';
import type { WarmPolicy } from './config.ts';

interface IdleEntry {
  started: StartedInstance;
  timer: NodeJS.Timeout;
}

export class WarmPool {
  readonly buildId: string;
  private readonly policy: WarmPolicy;
  private readonly end: (started: StartedInstance) => void;
  private readonly idle: IdleEntry[] = [];
  private busy = 0;
  private closed = false;

  /** `end` ends an instance the pool lets go of (the Host tracks it). */
  constructor(buildId: string, policy: WarmPolicy, end: (started: StartedInstance) => void) {
    this.buildId = buildId;
    this.policy = policy;
    this.end = end;
  }

  get idleCount(): number {
    return this.idle.length;
  }

  get busyCount(): number {
    return this.busy;
  }

  /** An idle instance, now busy; undefined when none is idle. */
  take(): StartedInstance | undefined {
    for (let entry = this.idle.pop(); entry; entry = this.idle.pop()) {
      clearTimeout(entry.timer);
      const { instance } = entry.started;
      // It may have died while idle (killed from outside, out of memory).
      if (instance.ended || instance.owner.exitCode !== null) {
        this.end(entry.started);
        continue;
      }
      this.busy++;
      return entry.started;
    }
    return undefined;
  }

  /** Claims room for one more instance, which the caller starts and later `put`s; false when at `max`. */
  reserve(): boolean {
    if (this.closed || this.busy + this.idle.length >= this.policy.max) return false;
    this.busy++;
    return true;
  }

  /** Gives back a reservation whose instance failed to start. */
  cancel(): void {
    this.busy--;
  }

  /** Returns a busy instance: kept when it is healthy and the pool still open, else ended. */
  put(started: StartedInstance, healthy: boolean): void {
    this.busy--;
    if (!healthy || this.closed || started.instance.ended || this.policy.idleMs === 0) {
      this.end(started);
      return;
    }
    const entry: IdleEntry = {
      started,
      timer: setTimeout(() => {
        const index = this.idle.indexOf(entry);
        if (index >= 0) this.idle.splice(index, 1);
        this.end(started);
      }, this.policy.idleMs),
    };
    // The daemon's server keeps the process alive; an idle timer must not.
    entry.timer.unref();
    this.idle.push(entry);
    // An idle instance can end by itself (it broke the protocol): let it go at once, work dir and all.
    started.instance.onEnd(() => {
      const index = this.idle.indexOf(entry);
      if (index < 0) return;
      this.idle.splice(index, 1);
      clearTimeout(entry.timer);
      this.end(started);
    });
  }

  /** Ends every idle instance; busy ones end when they come back. */
  close(): void {
    this.closed = true;
    for (const entry of this.idle.splice(0)) {
      clearTimeout(entry.timer);
      this.end(entry.started);
    }
  }
}
