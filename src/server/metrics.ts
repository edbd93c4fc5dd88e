// Prometheus metrics (GET /metrics), every name prefixed prebake_. Each app has its own registry, so tests can
// build several apps in one process.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { FleetObserver } from '../fleet/reconciler.ts';
import type { DeclaredStatus } from '../fleet/status.ts';
import type { ClonePoolStats } from '../manager/clone-pool.ts';
import type { ManagerObserver } from '../manager/observer.ts';
import type { ImageMeta } from '../store/store.ts';
import { declaredMetrics } from './declared-metrics.ts';

export interface MetricsSources {
  /** The stored images; read at scrape time. */
  images: () => Promise<ImageMeta[]>;
  /** The host's current numbers; read at scrape time. */
  stats: () => {
    /** Instances alive in this app's host (not in the process: two apps in one process count apart). */
    instances: number;
    running: number;
    queued: number;
    builds: { running: number; queued: number };
    pools: { name: string; idle: number; busy: number }[];
    clonePools: ClonePoolStats[];
  };
  /** The functions declared by reference; read at scrape time. */
  declared: () => DeclaredStatus[];
}

export interface Metrics {
  registry: Registry;
  observer: ManagerObserver;
  fleetObserver: FleetObserver;
  /** Counts an Event invocation of the Lambda API once it has run (outcome: ok or the error code). */
  lambdaEventDone: (functionName: string, outcome: string) => void;
}

export function createMetrics(sources: MetricsSources): Metrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry, prefix: 'prebake_' });

  const invocations = new Counter({
    name: 'prebake_invocations_total',
    help: 'Invocations by function, how the instance started (none: failed before it had one) and outcome (ok or the error code)',
    labelNames: ['function', 'start', 'outcome'] as const,
    registers,
  });
  const startSeconds = new Histogram({
    name: 'prebake_start_duration_seconds',
    help: 'Time until the instance could take the event: restore + resume, plain start + init, or a warm instance taken',
    labelNames: ['function', 'start'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const runSeconds = new Histogram({
    name: 'prebake_run_duration_seconds',
    help: 'Time the handler took, from sending the event to the result',
    labelNames: ['function'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });
  const restores = new Counter({
    name: 'prebake_restores_total',
    help: 'Restores of an image by outcome (ok, failed)',
    labelNames: ['function', 'outcome'] as const,
    registers,
  });
  const fallbacks = new Counter({
    name: 'prebake_fallbacks_total',
    help: 'Invocations that fell back to a plain start because a restore failed',
    labelNames: ['function'] as const,
    registers,
  });
  const lambdaEvents = new Counter({
    name: 'prebake_lambda_event_invocations_total',
    help: 'Event invocations of the Lambda API (X-Amz-Invocation-Type: Event) by outcome, counted once they ran (ok or the error code)',
    labelNames: ['function', 'outcome'] as const,
    registers,
  });
  const builds = new Counter({
    name: 'prebake_builds_total',
    help: 'Builds (registrations and rebuilds) by outcome (ok, failed)',
    labelNames: ['function', 'outcome'] as const,
    registers,
  });
  new Gauge({
    name: 'prebake_instances_alive',
    help: 'Function instances alive in the daemon (running an invocation or warm)',
    registers,
    collect() {
      this.set(sources.stats().instances);
    },
  });
  new Gauge({
    name: 'prebake_warm_instances',
    help: 'Instances in warm pools, by function and state (idle, busy)',
    labelNames: ['function', 'state'] as const,
    registers,
    collect() {
      this.reset();
      for (const pool of sources.stats().pools) {
        this.set({ function: pool.name, state: 'idle' }, pool.idle);
        this.set({ function: pool.name, state: 'busy' }, pool.busy);
      }
    },
  });
  new Gauge({
    name: 'prebake_pooled_clones',
    help: 'Clones ready in clone pools (start mode pooled), by function; target: the size each pool refills to',
    labelNames: ['function', 'state'] as const,
    registers,
    collect() {
      this.reset();
      for (const pool of sources.stats().clonePools) {
        this.set({ function: pool.name, state: 'ready' }, pool.ready);
        this.set({ function: pool.name, state: 'target' }, pool.target);
      }
    },
  });
  new Counter({
    name: 'prebake_clone_pool_events_total',
    help: 'Clone pools by function and event: hit (served from the pool), miss (restored on demand), refill, retired (idle too long), died (ended while ready, replaced), refill_failed',
    labelNames: ['function', 'event'] as const,
    registers,
    collect() {
      // The pools count; a scrape copies their totals (a pool replaced by a new build starts again at 0).
      this.reset();
      for (const pool of sources.stats().clonePools) {
        const events = {
          hit: pool.hits,
          miss: pool.misses,
          refill: pool.refills,
          retired: pool.retired,
          died: pool.died,
          refill_failed: pool.refillFailures,
        };
        for (const [event, count] of Object.entries(events)) this.inc({ function: pool.name, event }, count);
      }
    },
  });
  new Gauge({
    name: 'prebake_invocations_in_flight',
    help: 'Invocations holding a concurrency slot (running) or waiting for one (queued)',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const { running, queued } = sources.stats();
      this.set({ state: 'running' }, running);
      this.set({ state: 'queued' }, queued);
    },
  });
  new Gauge({
    name: 'prebake_builds_in_flight',
    help: 'Builds (registrations and rebuilds) running, or waiting for their turn (queued)',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const { running, queued } = sources.stats().builds;
      this.set({ state: 'running' }, running);
      this.set({ state: 'queued' }, queued);
    },
  });
  new Gauge({
    name: 'prebake_image_bytes',
    help: "Size of each function's current image",
    labelNames: ['function'] as const,
    registers,
    async collect() {
      this.reset();
      for (const meta of await sources.images()) this.set({ function: meta.name }, meta.imageBytes);
    },
  });

  const observer: ManagerObserver = {
    invocation(event) {
      invocations.inc({ function: event.functionName, start: event.start ?? 'none', outcome: event.outcome });
      if (event.start && event.startMs !== undefined)
        startSeconds.observe({ function: event.functionName, start: event.start }, event.startMs / 1000);
      if (event.runMs !== undefined) runSeconds.observe({ function: event.functionName }, event.runMs / 1000);
    },
    restore(event) {
      restores.inc({ function: event.functionName, outcome: event.ok ? 'ok' : 'failed' });
    },
    fallback(event) {
      fallbacks.inc({ function: event.functionName });
    },
    build(event) {
      builds.inc({ function: event.functionName, outcome: event.ok ? 'ok' : 'failed' });
    },
  };
  const lambdaEventDone = (functionName: string, outcome: string) => lambdaEvents.inc({ function: functionName, outcome });
  return { registry, observer, fleetObserver: declaredMetrics(registry, sources.declared), lambdaEventDone };
}
