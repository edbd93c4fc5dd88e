// The daemon's instance manager: for each invocation it decides how the instance starts (a fresh restore, a warm
// instance from the pool, or a plain start), within the concurrency limit, with fallback when a restore fails;
// it registers, rebuilds and removes functions, and ends every instance at shutdown. All through the core:
// nothing here talks to criu itself.
import { realpath } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { buildFunction } from '../bake/build.ts';
import { describeBuildEvent } from '../bake/progress.ts';
import { exportBundle } from '../bundle/export.ts';
import { type ImportOptions, importBundle } from '../bundle/import.ts';
import type { Criu } from '../criu/criu.ts';
import { isPrebakeError, PrebakeError } from '../errors.ts';
import { InstanceRegistry } from '../instance/registry.ts';
import { type Lease, runInvocation } from '../invoke/invocation.ts';
import type { InvokeOutcome } from '../invoke/invoke.ts';
import { resolveImage } from '../invoke/resolve.ts';
import { loadFunction } from '../manifest/load.ts';
import type { FunctionSpec, StartMode } from '../manifest/schema.ts';
import { ForkTemplates } from '../start/fork.ts';
import type { ResolvedFunction } from '../start/start.ts';
import { SourceStatusCache } from '../store/source-status.ts';
import { type ImageStore, unknownFunction } from '../store/store.ts';
import { BuildQueue } from './build-queue.ts';
import { type ClonePoolStats, ClonePools } from './clone-pool.ts';
import { type DaemonConfig, type FunctionSettings, functionSettings } from './config.ts';
import { type Counters, describeFunction, emptyCounters, type FunctionDescription } from './describe.ts';
import { type FreshStartContext, RebuildMarks } from './fallback.ts';
import { assertWouldBeInsideRoots, directoryInsideRoots } from './functions-roots.ts';
import { InvocationLogs } from './invocation-logs.ts';
import { InstanceLeases, type PoolStats } from './leases.ts';
import { sweepLeftovers } from './leftovers.ts';
import { ConcurrencyLimiter } from './limiter.ts';
import { type InvocationEvent, type ManagerLogger, type ManagerObserver, silentLogger } from './observer.ts';

export interface ManagerOptions {
  store: ImageStore;
  criu: Criu;
  config: DaemonConfig;
  log?: ManagerLogger;
  observer?: ManagerObserver;
  /** The registry its instances are alive in: its own unless given one (`prebake serve` gives the CLI's). */
  instances?: InstanceRegistry;
}

export interface InvokeRequest {
  name: string;
  /** The event as JSON text, checked by the caller; passed to the function verbatim. */
  event: string;
  requestId: string;
  /** Overrides the function's start mode for this invocation. */
  mode?: StartMode;
  /** A logger that already carries the request id. */
  log?: ManagerLogger;
  /** Aborts when the caller no longer wants the answer; honoured while the invocation waits for a slot. */
  signal?: AbortSignal;
}

export interface RegisterOptions {
  /** Take the name even when another directory holds it (that function's image is replaced). */
  replace?: boolean;
  /** Aborts when the caller no longer wants the answer; honoured while the build waits for a slot. */
  signal?: AbortSignal;
}

/** An invocation's outcome; its logs are kept apart (see invocation-logs.ts). */
export type InvocationResult = Omit<InvokeOutcome, 'logs'>;

export function outcomeOf(error: unknown): string {
  return isPrebakeError(error) ? error.code.replace(/^PREBAKE_ERR_/, '').toLowerCase() : 'internal';
}

export class InstanceManager {
  readonly config: DaemonConfig;
  readonly invocationLogs: InvocationLogs;
  /** Every instance this manager has alive: fresh, warm, being built or being ended. */
  readonly instances: InstanceRegistry;
  private readonly store: ImageStore;
  private readonly criu: Criu;
  private readonly log: ManagerLogger;
  private readonly observer: ManagerObserver;
  private readonly limiter: ConcurrencyLimiter;
  private readonly builds: BuildQueue;
  private readonly marks = new RebuildMarks();
  private readonly counters = new Map<string, Counters>();
  private readonly sources = new SourceStatusCache();
  /** Instance ends and slot releases under way: a shutdown waits for all of them. */
  private readonly pending = new Set<Promise<unknown>>();
  private readonly leases: InstanceLeases;
  private readonly templates: ForkTemplates;
  private closing: Promise<void> | undefined;

  constructor(options: ManagerOptions) {
    this.store = options.store;
    this.config = options.config;
    this.criu = options.criu.withDeadlines(this.config.criuDeadlines);
    this.instances = options.instances ?? new InstanceRegistry();
    this.log = options.log ?? silentLogger;
    const track = (work: Promise<unknown>) => this.track(work);
    this.leases = new InstanceLeases(
      track,
      new ClonePools({ store: this.store, criu: this.criu, instances: this.instances, log: this.log, track }),
    );
    this.observer = options.observer ?? {};
    this.limiter = new ConcurrencyLimiter({
      limit: this.config.maxConcurrent,
      maxQueued: this.config.maxQueued,
      queueTimeoutMs: this.config.queueTimeoutMs,
    });
    this.builds = new BuildQueue(this.config.builds);
    this.templates = new ForkTemplates(this.store, this.criu, this.instances);
    this.invocationLogs = new InvocationLogs(this.config.logs.perFunction, this.config.logs.maxBytes);
  }

  /** Sweeps what a previous run on this home left behind: its instances' cgroups, its instances, its work dirs. */
  async start(): Promise<void> {
    await this.store.init();
    const { cgroups, killed, removedDirs } = await sweepLeftovers(this.store);
    if (cgroups > 0 || killed > 0 || removedDirs > 0) {
      this.log.warn({ cgroups, killed, removedDirs }, 'swept instances and work dirs left by a previous run');
    }
    for (const meta of await this.store.list()) await this.prefill(meta.name);
  }

  get stats(): {
    instances: number;
    running: number;
    queued: number;
    builds: { running: number; queued: number };
    pools: PoolStats[];
    clonePools: ClonePoolStats[];
  } {
    return {
      instances: this.instances.count,
      running: this.limiter.running,
      queued: this.limiter.queued,
      builds: { running: this.builds.running, queued: this.builds.queued },
      pools: this.leases.poolStats,
      clonePools: this.leases.clones.stats,
    };
  }

  // A function in start mode pooled gets its clones restored as soon as it has an image, not at its first call.
  private async prefill(name: string): Promise<void> {
    const image = await this.store.get(name).catch(() => undefined);
    if (!image || this.closing) return;
    const settings = functionSettings(this.config, image.meta.spec);
    if (settings.startMode !== 'pooled' || this.marks.needsRebuild(image)) return;
    try {
      this.leases.clones.poolFor(resolveImage(image, 'prebaked'), settings.pool);
    } catch (error) {
      // An image this host cannot restore (stale): invocations say so; nothing to fill.
      this.log.warn({ fn: name, err: error }, 'not filling the clone pool');
    }
  }

  // -- functions ---------------------------------------------------------------------------------------------

  /**
   * Registers the function in `dir` by building it (again, if it exists). A name belongs to the directory that
   * registered it: another directory gets PREBAKE_ERR_NAME_TAKEN unless `replace`.
   */
  async register(dir: string, options: RegisterOptions = {}): Promise<FunctionDescription> {
    this.assertOpen();
    const spec = await loadFunction(await directoryInsideRoots(dir, this.config.functionsRoots));
    await this.build(spec, options);
    return this.describe(spec.name);
  }

  async rebuild(name: string, options: Pick<RegisterOptions, 'signal'> = {}): Promise<FunctionDescription> {
    this.assertOpen();
    const image = await this.store.require(name);
    const spec = await loadFunction(await directoryInsideRoots(image.meta.spec.dir, this.config.functionsRoots));
    if (spec.name !== name) {
      throw new PrebakeError('PREBAKE_ERR_MANIFEST', `${spec.dir}/function.json now names the function "${spec.name}", not "${name}"`, {
        functionName: name,
        hint: `register it under its new name, then remove "${name}"`,
        details: { reason: 'renamed', dir: spec.dir },
      });
    }
    await this.build(spec, options);
    return this.describe(name);
  }

  /** Removes the function's image and registration; its instances end, in-flight invocations included. */
  async remove(name: string): Promise<void> {
    this.assertOpen();
    if (!(await this.store.get(name).catch(() => true))) throw unknownFunction(name);
    this.leases.retire(name);
    this.leases.endLent(name);
    this.templates.retire(name);
    await this.store.remove(name);
    this.counters.delete(name);
    this.sources.forget(name);
    this.marks.clear(name);
    this.invocationLogs.forget(name);
  }

  /** A bundle of the function (docs/BUNDLES.md), streamed; the function's lock is held until the stream ends. */
  async exportBundle(name: string): Promise<Readable> {
    this.assertOpen();
    await this.assertRegistered(name);
    return exportBundle(this.store, this.criu, name);
  }

  /** Imports a bundle of function `name` (registering it, or replacing its image, as a build would). */
  async importBundle(name: string, input: Readable, options: Pick<ImportOptions, 'force'>): Promise<FunctionDescription> {
    this.assertOpen();
    await importBundle(this.store, this.criu, input, {
      ...options,
      expectedName: name,
      checkSourceDir: (dir) => assertWouldBeInsideRoots(dir, this.config.functionsRoots),
    });
    this.marks.clear(name);
    // Warm instances of the old image end, as after a build.
    this.leases.retire(name);
    await this.prefill(name);
    this.templates.retire(name);
    return this.describe(name);
  }

  /** Throws PREBAKE_ERR_UNKNOWN_FUNCTION unless `name` is registered. */
  async assertRegistered(name: string): Promise<void> {
    if (!(await this.store.get(name))) throw unknownFunction(name);
  }

  async describe(name: string): Promise<FunctionDescription> {
    const image = await this.store.require(name);
    const pool = this.leases.pool(name);
    return describeFunction({
      meta: image.meta,
      settings: functionSettings(this.config, image.meta.spec),
      pool: { idle: pool?.idle ?? 0, busy: pool?.busy ?? 0 },
      ...(this.leases.clones.stat(name) && { clones: this.leases.clones.stat(name) }),
      source: await this.sources.get(image.meta),
      needsRebuild: this.marks.needsRebuild(image),
      counters: this.countersOf(name),
    });
  }

  async list(): Promise<FunctionDescription[]> {
    const metas = await this.store.list();
    return Promise.all(metas.map((meta) => this.describe(meta.name)));
  }

  private async build(spec: FunctionSpec, options: RegisterOptions): Promise<void> {
    const log = this.log.child({ fn: spec.name });
    await this.builds.run(
      spec.name,
      async () => {
        this.assertOpen();
        if (!options.replace) await this.assertNameFree(spec);
        const started = performance.now();
        try {
          const built = await buildFunction(spec, {
            store: this.store,
            criu: this.criu,
            instances: this.instances,
            onEvent: (event) => log.info({}, `build: ${describeBuildEvent(event)}`),
          });
          for (const warning of built.warnings) log.warn({ sharedState: built.meta.cloneCheck?.sharedPaths }, `build: ${warning}`);
        } catch (error) {
          this.observer.build?.({ functionName: spec.name, ok: false, ms: performance.now() - started });
          throw error;
        }
        this.observer.build?.({ functionName: spec.name, ok: true, ms: performance.now() - started });
      },
      options.signal,
    );
    this.marks.clear(spec.name);
    // Warm instances and the fork template of the old build end; the next invocation restores the new one.
    this.leases.retire(spec.name);
    await this.prefill(spec.name);
    this.templates.retire(spec.name);
  }

  /** Throws PREBAKE_ERR_NAME_TAKEN when the store holds `spec.name` from another directory. */
  private async assertNameFree(spec: FunctionSpec): Promise<void> {
    // An image whose metadata is unreadable belongs to no one: a build may replace it.
    const existing = await this.store.get(spec.name).catch(() => undefined);
    if (!existing) return;
    const [ownerDir, newDir] = await Promise.all([existing.meta.spec.dir, spec.dir].map((dir) => realpath(dir).catch(() => dir)));
    if (ownerDir === newDir) return;
    throw new PrebakeError(
      'PREBAKE_ERR_NAME_TAKEN',
      `the function name "${spec.name}" belongs to ${existing.meta.spec.dir}, not ${spec.dir}`,
      {
        functionName: spec.name,
        hint: 'give the function another "name" in its function.json, or replace the registered one',
      },
    );
  }

  // -- invocations -------------------------------------------------------------------------------------------

  async invoke(request: InvokeRequest): Promise<InvocationResult> {
    const { name, requestId } = request;
    const log = (request.log ?? this.log).child({ fn: name });
    const report: InvocationEvent = { functionName: name, outcome: 'ok' };
    let known = false;
    try {
      this.assertOpen();
      const image = await this.store.require(name);
      known = true;
      const settings = functionSettings(this.config, image.meta.spec);
      const mode = request.mode ?? settings.startMode;
      // The deployed version: nothing on this path reads the function's source directory.
      const fn = resolveImage(image, mode === 'warm' || mode === 'pooled' ? 'prebaked' : mode);
      const slot = await this.limiter.acquire(request.signal);
      const invoked = await runInvocation(
        request.event,
        { requestId, timeoutMs: fn.spec.timeoutMs, resultLimitBytes: this.config.resultLimitBytes },
        {
          // The one place an invocation gets its started instance.
          lease: () => this.lease(fn, mode, settings, log),
          started: (lease) => {
            // A forced shutdown began while this instance started: it would outlive the shutdown's sweep.
            this.assertOpen();
            report.start = lease.kind;
            report.startMs = lease.startMs;
          },
          released: (lease, logs, failure) => {
            const outcome = failure === undefined ? 'ok' : outcomeOf(failure);
            // The slot is held until the instance has ended, so that maxConcurrent bounds live instances too.
            this.track(logs.finally(slot));
            if (lease) this.invocationLogs.add(name, { requestId, at: new Date().toISOString(), start: lease.kind, outcome }, logs);
          },
        },
      );
      report.runMs = invoked.runMs;
      const { lease } = invoked;
      return { requestId, functionName: name, result: invoked.result, start: lease.kind, startMs: lease.startMs, runMs: invoked.runMs };
    } catch (error) {
      report.outcome = outcomeOf(error);
      throw error;
    } finally {
      if (known) this.record(report);
    }
  }

  private lease(fn: ResolvedFunction, mode: StartMode, settings: FunctionSettings, log: ManagerLogger): Promise<Lease> {
    const context = this.freshContext(log);
    if (mode === 'warm') return this.leases.warm(fn, settings.warm, context);
    if (mode === 'pooled') return this.leases.pooled(fn, settings.pool, context);
    return this.leases.fresh(fn, context);
  }

  private freshContext(log: ManagerLogger): FreshStartContext {
    return {
      store: this.store,
      criu: this.criu,
      instances: this.instances,
      fallback: this.config.fallback,
      marks: this.marks,
      templates: this.templates,
      log,
      observer: {
        restore: (event) => {
          if (!event.ok) this.countersOf(event.functionName).restoreFailures++;
          this.observer.restore?.(event);
        },
        fallback: (event) => {
          this.countersOf(event.functionName).fallbacks++;
          this.observer.fallback?.(event);
        },
      },
    };
  }

  private record(report: InvocationEvent): void {
    const counters = this.countersOf(report.functionName);
    counters.invocations++;
    if (report.outcome !== 'ok') counters.errors++;
    if (report.start) counters[report.start]++;
    this.observer.invocation?.(report);
  }

  private countersOf(name: string): Counters {
    let counters = this.counters.get(name);
    if (!counters) {
      counters = emptyCounters();
      this.counters.set(name, counters);
    }
    return counters;
  }

  // -- shutdown ----------------------------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closing) {
      throw new PrebakeError('PREBAKE_ERR_SHUTTING_DOWN', 'the daemon is shutting down', {
        hint: 'retry against another instance of the daemon',
      });
    }
  }

  private track(promise: Promise<unknown>): void {
    const tracked: Promise<unknown> = promise
      .catch((error: unknown) => this.log.error({ err: error }, 'ending an instance failed'))
      .finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  /**
   * Ends everything now: refuses queued invocations, ends warm instances and the instances of invocations still
   * running (they fail), and waits until every instance has ended. Call it once in-flight work had its chance
   * (see closeGracefully). Idempotent.
   */
  shutdown(): Promise<void> {
    this.closing ??= (async () => {
      this.limiter.refuseQueued(new PrebakeError('PREBAKE_ERR_SHUTTING_DOWN', 'the daemon is shutting down'));
      this.builds.refuseQueued(new PrebakeError('PREBAKE_ERR_SHUTTING_DOWN', 'the daemon is shutting down'));
      this.leases.retireAll();
      this.leases.endLent();
      this.track(this.templates.endAll());
      while (this.pending.size > 0) await Promise.all([...this.pending]);
    })();
    return this.closing;
  }
}
