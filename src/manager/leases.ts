// Lending instances to invocations: a one-shot fresh instance (prebaked or cold), one from the function's
// warm pool, or a fresh clone from its clone pool. Knows every instance lent right now, so that a removal or a
// forced shutdown can end them.
import { endStarted, type Lease, oneShotLease } from '../invoke/invocation.ts';
import type { StartMode } from '../manifest/schema.ts';
import type { ResolvedFunction } from '../start/start.ts';
import type { StartedInstance } from '../start/started.ts';
import type { ClonePools } from './clone-pool.ts';
import type { ClonePolicy, WarmPolicy } from './config.ts';
import { type FreshStartContext, startFresh } from './fallback.ts';
import { WarmPool } from './warm-pool.ts';

export interface PoolStats {
  name: string;
  idle: number;
  busy: number;
}

export class InstanceLeases {
  private readonly pools = new Map<string, WarmPool>();
  private readonly lent = new Set<{ name: string; started: StartedInstance }>();
  /** Runs an instance's end in the background; the Host waits for them at shutdown. */
  private readonly track: (ending: Promise<unknown>) => void;
  readonly clones: ClonePools;

  constructor(track: (ending: Promise<unknown>) => void, clones: ClonePools) {
    this.track = track;
    this.clones = clones;
  }

  get poolStats(): PoolStats[] {
    return [...this.pools].map(([name, pool]) => ({ name, idle: pool.idleCount, busy: pool.busyCount }));
  }

  pool(name: string): PoolStats | undefined {
    return this.poolStats.find((pool) => pool.name === name);
  }

  /** A fresh instance that ends after this one invocation. */
  async fresh(fn: ResolvedFunction, context: FreshStartContext): Promise<Lease> {
    const started = await startFresh(fn, context);
    const entry = this.lend(fn.spec.name, started);
    return oneShotLease(started, () => this.lent.delete(entry));
  }

  /**
   * A clone from the function's clone pool, used once and ended; when the pool is empty (a miss), a fresh
   * restore on demand, as in start mode prebaked.
   */
  async pooled(fn: ResolvedFunction, policy: ClonePolicy, context: FreshStartContext): Promise<Lease> {
    // An image whose restore failed is not restored ahead either: startFresh falls back as the daemon says.
    if (fn.image && context.marks.needsRebuild(fn.image)) return this.fresh(fn, context);
    const asked = performance.now();
    const taken = await this.clones.poolFor(fn, policy)?.take(fn.spec.timeoutMs);
    if (!taken) return this.fresh(fn, context);
    const started: StartedInstance = { ...taken, kind: 'pooled', startMs: performance.now() - asked };
    const entry = this.lend(fn.spec.name, started);
    return oneShotLease(started, () => this.lent.delete(entry));
  }

  /** An idle instance from the function's pool; else a new one for the pool; else (pool full) a one-shot one. */
  async warm(fn: ResolvedFunction, policy: WarmPolicy, context: FreshStartContext): Promise<Lease> {
    const pool = this.poolFor(fn, policy);
    const asked = performance.now();
    let started = pool.take();
    let kind: StartMode = 'warm';
    if (!started) {
      if (!pool.reserve()) return this.fresh(fn, context);
      try {
        started = await startFresh(fn, context);
      } catch (error) {
        pool.cancel();
        throw error;
      }
      kind = started.kind;
    }
    const instance = started;
    const entry = this.lend(fn.spec.name, instance);
    // What the instance printed while idle belongs to no invocation.
    if (kind === 'warm') instance.instance.logs.take();
    return {
      started: instance,
      kind,
      startMs: kind === 'warm' ? performance.now() - asked : instance.startMs,
      release: async (healthy) => {
        this.lent.delete(entry);
        pool.put(instance, healthy);
        if (!healthy) await instance.instance.end();
        return instance.instance.logs.take();
      },
    };
  }

  /** Ends the function's warm instances (busy ones as they come back) and its ready clones. */
  retire(name: string): void {
    this.clones.retire(name);
    this.pools.get(name)?.close();
    this.pools.delete(name);
  }

  /** Ends the instances lent to invocations of `name` (every function's when undefined): those invocations fail. */
  endLent(name?: string): void {
    for (const entry of this.lent) if (name === undefined || entry.name === name) this.track(entry.started.instance.end());
  }

  retireAll(): void {
    this.clones.retireAll();
    for (const name of [...this.pools.keys()]) this.retire(name);
  }

  private lend(name: string, started: StartedInstance): { name: string; started: StartedInstance } {
    const entry = { name, started };
    this.lent.add(entry);
    return entry;
  }

  // One pool per build: a new build (by the daemon or the CLI) retires the old build's pool.
  private poolFor(fn: ResolvedFunction, policy: WarmPolicy): WarmPool {
    const name = fn.spec.name;
    const buildId = fn.image?.meta.buildId ?? 'none';
    const existing = this.pools.get(name);
    if (existing?.buildId === buildId) return existing;
    existing?.close();
    const pool = new WarmPool(buildId, policy, (started) => this.track(endStarted(started)));
    this.pools.set(name, pool);
    return pool;
  }
}
