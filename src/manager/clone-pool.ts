// Start mode `pooled`: fresh clones of a function's image, restored ahead of need and each given to exactly one
// invocation (the paper's model stays: every invocation gets a never-used clone of the snapshot, only the
// restore has moved off its path).
//
// Policy, per function and build: keep a target number of clones ready (`size`, or sized from the function's
// arrival rate and refill time when `size` is "auto": pool-size.ts), refilled in the background one restore at a
// time at nice 10 (invocations come first on a busy host); a clone ready for `maxIdleSeconds` is retired, and the pool
// then stops refilling until the next invocation asks (a function nobody calls holds no memory). Each clone is
// resumed (its own seed, then its afterRestore hooks) before it is handed out: at fill, or at the take when the
// function's hooks must see the invocation's moment (`hooks: "assign"`: fresh credentials and connections, at
// 1-2 ms on the invocation's path). A clone that dies while ready is noticed (its owner exits) and replaced.
import type { Criu } from '../criu/criu.ts';
import type { InstanceRegistry } from '../instance/registry.ts';
import { resumeClone, startPrebaked } from '../start/restore.ts';
import type { ResolvedFunction } from '../start/start.ts';
import type { StartedInstance } from '../start/started.ts';
import type { ImageStore, StoredImage } from '../store/store.ts';
import type { ClonePolicy } from './config.ts';
import type { ManagerLogger } from './observer.ts';
import { PoolSizer } from './pool-size.ts';

/** The nice value of background refills: below every invocation, above idle work. */
export const REFILL_NICE = 10;

export interface ClonePoolStats {
  name: string;
  /** The size set: a number, or "auto". */
  size: number | 'auto';
  /** The number of ready clones it refills to now (`size`, or the automatic size as last recomputed). */
  target: number;
  /** With size "auto": what the target was derived from (pool-size.ts), as of its last recomputation. */
  ratePerSecond?: number;
  refillMs?: number;
  /** Clones restored and waiting for an invocation. */
  ready: number;
  /** Invocations served by a ready clone, and those that found none (they restored on demand). */
  hits: number;
  misses: number;
  /** Clones restored into the pool. */
  refills: number;
  /** Clones ended after `maxIdleSeconds` unused. */
  retired: number;
  /** Ready clones that ended by themselves (killed from outside, out of memory) and were replaced. */
  died: number;
  /** Refills that failed (the error is logged; the next invocation tries again). */
  refillFailures: number;
}

export interface ClonePoolContext {
  store: ImageStore;
  criu: Criu;
  /** The registry the clones live in (the Host's). */
  instances: InstanceRegistry;
  log: ManagerLogger;
  /** Runs an instance's end (or a refill) in the background; the Host waits for them at shutdown. */
  track: (work: Promise<unknown>) => void;
  /**
   * Refill as soon as a clone is taken (default). Off, refills wait for fill(): the bench refills between its
   * samples, off the clock, not while the next one is measured.
   */
  refillOnTake?: boolean;
}

interface ReadyClone {
  started: StartedInstance;
  resumed: boolean;
  timer: NodeJS.Timeout;
}

export class ClonePool {
  readonly name: string;
  readonly buildId: string;
  private readonly image: StoredImage;
  private readonly policy: ClonePolicy;
  private readonly context: ClonePoolContext;
  private readonly ready: ReadyClone[] = [];
  /** With size "auto": the target's moving averages. */
  private readonly sizer: PoolSizer | undefined;
  private readonly counts = { hits: 0, misses: 0, refills: 0, retired: 0, died: 0, refillFailures: 0 };
  private filling: Promise<void> | undefined;
  /** Whether to refill: false after an idle retirement, until an invocation asks again. */
  private wanted = true;
  private closed = false;

  constructor(image: StoredImage, policy: ClonePolicy, context: ClonePoolContext) {
    this.name = image.meta.name;
    this.buildId = image.meta.buildId;
    this.image = image;
    this.policy = policy;
    this.context = context;
    this.sizer = policy.size === 'auto' ? new PoolSizer(policy) : undefined;
  }

  get stats(): ClonePoolStats {
    return {
      name: this.name,
      size: this.policy.size,
      ...(this.sizer?.current ?? { target: this.target }),
      ready: this.ready.length,
      ...this.counts,
    };
  }

  private get target(): number {
    const { size } = this.policy;
    // The constructor made a sizer for "auto".
    return size === 'auto' ? this.sizer!.current.target : size;
  }

  /**
   * A ready clone, resumed, now the caller's alone (it ends it after its one invocation); undefined when none is
   * ready (a miss: the caller restores on demand). Either way the pool refills behind it.
   */
  async take(timeoutMs: number): Promise<StartedInstance | undefined> {
    this.wanted = true;
    this.sizer?.arrival();
    for (let entry = this.ready.shift(); entry; entry = this.ready.shift()) {
      clearTimeout(entry.timer);
      const { instance } = entry.started;
      if (instance.ended || instance.owner.exitCode !== null) {
        this.died(entry);
        continue;
      }
      if (this.context.refillOnTake !== false) this.fill();
      if (!entry.resumed) {
        try {
          await resumeClone(instance, timeoutMs);
        } catch (error) {
          // Its afterRestore hooks failed: the on-demand restore the caller falls back to says why, if it is not
          // this one clone's bad luck.
          this.context.log.warn({ fn: this.name, err: error }, 'a pooled clone failed to resume at assign; restoring on demand');
          this.end(entry.started);
          break;
        }
      }
      this.counts.hits++;
      // What it printed while ready (its hooks at fill) belongs to no invocation.
      instance.logs.take();
      return entry.started;
    }
    this.counts.misses++;
    if (this.context.refillOnTake !== false) this.fill();
    return undefined;
  }

  /** Resolves when no refill is under way (the pool is full, closed, or a refill failed). */
  async settled(): Promise<void> {
    while (this.filling) await this.filling;
  }

  /** Starts refilling up to the target, unless a refill is under way. */
  fill(): void {
    if (this.filling || this.closed || !this.wanted || this.ready.length >= this.target) return;
    const filling = this.refill().finally(() => {
      this.filling = undefined;
    });
    this.filling = filling;
    this.context.track(filling);
  }

  /** Ends every ready clone; a refill under way ends its clone when it completes. Idempotent. */
  close(): void {
    this.closed = true;
    for (const entry of this.ready.splice(0)) {
      clearTimeout(entry.timer);
      this.end(entry.started);
    }
  }

  // One restore at a time: refills compete with invocations for the CPU, and a burst of them would delay the
  // restores of the misses they are meant to prevent.
  private async refill(): Promise<void> {
    const resume = this.policy.hooks === 'fill';
    while (!this.closed && this.wanted && this.ready.length < this.target) {
      let started: StartedInstance;
      const begun = performance.now();
      try {
        started = await startPrebaked(this.image, this.context.store, this.context.criu, this.context.instances, {
          resume,
          nice: REFILL_NICE,
        });
      } catch (error) {
        this.counts.refillFailures++;
        this.context.log.warn({ fn: this.name, err: error }, 'refilling the clone pool failed; the next invocation tries again');
        return;
      }
      if (this.closed) {
        this.end(started);
        return;
      }
      this.counts.refills++;
      this.sizer?.refilled(performance.now() - begun);
      this.add(started, resume);
    }
  }

  private add(started: StartedInstance, resumed: boolean): void {
    const entry: ReadyClone = {
      started,
      resumed,
      timer: setTimeout(() => {
        if (!this.remove(entry)) return;
        this.counts.retired++;
        this.wanted = false;
        this.end(started);
      }, this.policy.maxIdleSeconds * 1000),
    };
    // The daemon's server keeps the process alive; an idle timer must not.
    entry.timer.unref();
    this.ready.push(entry);
    // A clone that dies while ready (killed from outside, over its memory limit, broke the protocol) is replaced
    // at once, not found dead by the invocation it was meant for.
    const gone = () => {
      if (this.remove(entry)) this.died(entry);
    };
    void started.instance.owner.then(gone);
    started.instance.onEnd(gone);
  }

  private remove(entry: ReadyClone): boolean {
    const index = this.ready.indexOf(entry);
    if (index < 0) return false;
    this.ready.splice(index, 1);
    clearTimeout(entry.timer);
    return true;
  }

  private died(entry: ReadyClone): void {
    this.counts.died++;
    this.context.log.warn({ fn: this.name }, 'a pooled clone ended while ready; replacing it');
    this.end(entry.started);
    this.fill();
  }

  private end(started: StartedInstance): void {
    this.context.track(started.instance.end().finally(() => started.cleanup()));
  }
}

/** The clone pools of every function in start mode `pooled`: one per function, for its current build. */
export class ClonePools {
  private readonly pools = new Map<string, ClonePool>();
  private readonly context: ClonePoolContext;

  constructor(context: ClonePoolContext) {
    this.context = context;
  }

  get stats(): ClonePoolStats[] {
    return [...this.pools.values()].map((pool) => pool.stats);
  }

  stat(name: string): ClonePoolStats | undefined {
    return this.pools.get(name)?.stats;
  }

  /** The function's pool (made and filling if new; a new build replaces the old build's pool). */
  poolFor(fn: ResolvedFunction, policy: ClonePolicy): ClonePool | undefined {
    const image = fn.image;
    if (!image) return undefined;
    const existing = this.pools.get(fn.spec.name);
    if (existing?.buildId === image.meta.buildId) return existing;
    existing?.close();
    const pool = new ClonePool(image, policy, this.context);
    this.pools.set(fn.spec.name, pool);
    pool.fill();
    return pool;
  }

  /** Ends the function's ready clones and forgets its pool. */
  retire(name: string): void {
    this.pools.get(name)?.close();
    this.pools.delete(name);
  }

  retireAll(): void {
    for (const name of [...this.pools.keys()]) this.retire(name);
  }
}
