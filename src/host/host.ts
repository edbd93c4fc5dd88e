// The core behind both surfaces (the CLI and the daemon's HTTP API, each a thin adapter over it): a prebake home
// with its policies. It owns the store, the leftover sweep, name ownership, functions roots, fallback to a plain
// start, rebuild marks, the build queue, the concurrency limit, and the instances kept between calls (warm pools,
// clone pools, fork templates) where it keeps any. Nothing here talks to criu itself.
import type { Readable } from 'node:stream';
import { type BuildResult, buildFunction } from '../bake/build.ts';
import { type BuildListener, describeBuildEvent } from '../bake/progress.ts';
import { exportBundle } from '../bundle/export.ts';
import { type ImportOptions, type ImportResult, importBundle } from '../bundle/import.ts';
import { Criu } from '../criu/criu.ts';
import { isPrebakeError, PrebakeError } from '../errors.ts';
import { functionArn, type LambdaContextFields } from '../instance/lambda-context.ts';
import { InstanceRegistry } from '../instance/registry.ts';
import { checkEvent } from '../invoke/event.ts';
import { type Lease, runInvocation } from '../invoke/invocation.ts';
import type { InvokeOutcome } from '../invoke/invoke.ts';
import { looksLikePath, resolveFunction, resolveImage } from '../invoke/resolve.ts';
import { ensureVisibleProc } from '../launch/visible-proc.ts';
import { BuildQueue } from '../manager/build-queue.ts';
import { type ClonePoolStats, ClonePools } from '../manager/clone-pool.ts';
import {
  type DaemonConfig,
  type DaemonConfigInput,
  type FunctionOverrides,
  type FunctionSettings,
  functionSettings,
  resolveDaemonConfig,
  withFunctionOverrides,
} from '../manager/config.ts';
import { type Counters, describeFunction, emptyCounters, type FunctionDescription } from '../manager/describe.ts';
import { type FreshStartContext, RebuildMarks } from '../manager/fallback.ts';
import { assertWouldBeInsideRoots, directoryInsideRoots } from '../manager/functions-roots.ts';
import { InFlight } from '../manager/in-flight.ts';
import { InvocationLogs } from '../manager/invocation-logs.ts';
import { InstanceLeases, type PoolStats } from '../manager/leases.ts';
import { ConcurrencyLimiter } from '../manager/limiter.ts';
import { type InvocationEvent, type ManagerLogger, type ManagerObserver, silentLogger } from '../manager/observer.ts';
import { loadFunction } from '../manifest/load.ts';
import type { FunctionSpec, StartMode } from '../manifest/schema.ts';
import type { RegistryCredentials } from '../registry/credentials.ts';
import { type PushResult, pullBundle, pushBundle } from '../registry/oci-bundle.ts';
import type { RegistryReference } from '../registry/reference.ts';
import { ForkTemplates } from '../start/fork.ts';
import type { ResolvedFunction } from '../start/start.ts';
import { type SourceStatus, SourceStatusCache } from '../store/source-status.ts';
import { type ImageMeta, ImageStore, unknownFunction } from '../store/store.ts';
import { sweepLeftovers } from './leftovers.ts';
import { assertNameFree } from './name-ownership.ts';

export interface HostOptions {
  /** The prebake home: the store and the identity of this host's instances (their cgroups' home tag). */
  home: string;
  criu?: Criu;
  /** As read from a config file and flags (validated here), or already resolved. */
  config?: DaemonConfigInput | DaemonConfig;
  log?: ManagerLogger;
  observer?: ManagerObserver;
  /** The registry its instances are alive in: its own unless given one (`prebake` gives its process's). */
  instances?: InstanceRegistry;
  /**
   * Keep instances between calls (default true): warm pools, clone pools filled ahead, fork templates. A process
   * that exits after one command (the CLI) says false: each invocation then gets a fresh instance, restored
   * (warm, pooled and fork start as prebaked) or plain, and nothing is started ahead.
   */
  keepInstances?: boolean;
}

export interface InvokeRequest {
  /**
   * A function name; or a function directory (a path, see looksLikePath), whose image must be built from its
   * source as it is now, or whose source runs as it is in mode cold.
   */
  target: string;
  /** The event as JSON text, passed to the function verbatim; checked against the config's bodyLimitBytes. */
  event: string;
  requestId: string;
  /** Overrides the function's start mode for this invocation. */
  mode?: StartMode;
  /** A logger that already carries the request id. */
  log?: ManagerLogger;
  /** Aborts when the caller no longer wants the answer; honoured while the invocation waits for a slot. */
  signal?: AbortSignal;
  /** Lambda's context fields the caller knows (the ARN it invoked, its client context); defaults for the rest. */
  lambda?: Partial<LambdaContextFields>;
  /**
   * Wait until the instance has ended and answer with what it printed (a failure's PrebakeError carries it too);
   * otherwise the answer goes out before the instance's end, and its logs go to invocationLogs.
   */
  collectLogs?: boolean;
}

/** An invocation's outcome; its logs only when asked for (collectLogs). */
export type InvocationResult = Omit<InvokeOutcome, 'logs'> & { logs?: string };

export interface RegisterOptions {
  /** Take the name even when another directory holds it (that function's image is replaced). */
  replace?: boolean;
  /** Aborts when the caller no longer wants the answer; honoured while the build waits for a slot. */
  signal?: AbortSignal;
  /** Fail the build (PREBAKE_ERR_CLONE_CHECK) rather than warn when clones share state. */
  strict?: boolean;
  /** Told each phase of the build as it begins and ends (bake/progress.ts renders them for people). */
  onEvent?: BuildListener;
}

/** A build or an import, published: the function as described, and what the stage that made it reported. */
export interface Published<Outcome> {
  description: FunctionDescription;
  outcome: Outcome;
}

export type ImportRequest = Pick<ImportOptions, 'force' | 'name' | 'expectedName'>;

export interface RegistryAccess {
  /** Who to log in to the registry as, when it asks (docker's config.json: loadDockerConfig). */
  credentials?: RegistryCredentials;
}

export type PullRequest = ImportRequest & RegistryAccess;

export function outcomeOf(error: unknown): string {
  return isPrebakeError(error) ? error.code.replace(/^PREBAKE_ERR_/, '').toLowerCase() : 'internal';
}

export class Host {
  private currentConfig: DaemonConfig;
  readonly store: ImageStore;
  /** The criu driver, with the config's deadlines. */
  readonly criu: Criu;
  readonly invocationLogs: InvocationLogs;
  /** Every instance this host has alive: fresh, warm, being built or being ended. */
  readonly instances: InstanceRegistry;
  private readonly keepInstances: boolean;
  private readonly log: ManagerLogger;
  private readonly observer: ManagerObserver;
  private readonly limiter: ConcurrencyLimiter;
  private readonly builds: BuildQueue;
  private readonly marks = new RebuildMarks();
  private readonly counters = new Map<string, Counters>();
  private readonly sources = new SourceStatusCache();
  /** Instance ends and slot releases under way: a shutdown waits for all of them. */
  private readonly pending = new Set<Promise<unknown>>();
  private readonly inFlight = new InFlight();
  /** Functions being removed once their invocations in flight end: new invocations are refused. */
  private readonly leaving = new Set<string>();
  /** Functions that start plainly while their image is marked for rebuild (instead of PREBAKE_ERR_IMAGE_STALE). */
  private readonly plainWhileStale = new Set<string>();
  private readonly leases: InstanceLeases;
  private readonly templates: ForkTemplates;
  private closing: Promise<void> | undefined;

  constructor(options: HostOptions) {
    this.store = new ImageStore(options.home);
    this.currentConfig = resolveDaemonConfig(options.config ?? {});
    this.criu = (options.criu ?? new Criu()).withDeadlines(this.config.criuDeadlines);
    this.instances = options.instances ?? new InstanceRegistry();
    this.keepInstances = options.keepInstances ?? true;
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

  /**
   * Makes the home, sweeps what a killed prebake left on it (instances, their cgroups and work dirs: not only a
   * daemon start cleans up after a SIGKILL'd `prebake invoke`), and fills the clone pools it keeps.
   */
  async open(): Promise<void> {
    await this.store.init();
    const proc = await ensureVisibleProc();
    if (proc.mounted)
      this.log.info({ mountPoint: proc.mountPoint }, "mounted a whole proc for the sandboxes: this container's /proc is masked");
    if (proc.problem) this.log.warn({ problem: proc.problem }, 'sandboxes cannot mount their own proc here');
    const { cgroups, killed, removedDirs } = await sweepLeftovers(this.store);
    if (cgroups > 0 || killed > 0 || removedDirs > 0) {
      this.log.warn({ cgroups, killed, removedDirs }, 'swept instances and work dirs left by a previous run');
    }
    for (const meta of await this.store.list()) await this.prefill(meta.name);
  }

  get config(): DaemonConfig {
    return this.currentConfig;
  }

  /** Replaces the per-function overrides (a reloaded config's `functions`); the rest of the config stays. */
  setFunctionOverrides(functions: Record<string, FunctionOverrides>): void {
    this.currentConfig = withFunctionOverrides(this.currentConfig, functions);
  }

  /**
   * While `name`'s image is marked for rebuild (imported from an incompatible host), its invocations start
   * plainly instead of failing with PREBAKE_ERR_IMAGE_STALE: a function declared by reference serves meanwhile.
   */
  servePlainlyWhileStale(name: string, plainly: boolean): void {
    if (plainly) this.plainWhileStale.add(name);
    else this.plainWhileStale.delete(name);
  }

  /** Invocations of `name` under way now. */
  inFlightCount(name: string): number {
    return this.inFlight.count(name);
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
    if (!this.keepInstances) return;
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
  async register(dir: string, options: RegisterOptions = {}): Promise<Published<BuildResult>> {
    this.assertOpen();
    const spec = await loadFunction(await directoryInsideRoots(dir, this.config.functionsRoots));
    const built = await this.build(spec, options);
    return { description: await this.describe(spec.name), outcome: built };
  }

  async rebuild(name: string, options: Omit<RegisterOptions, 'replace'> = {}): Promise<Published<BuildResult>> {
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
    const built = await this.build(spec, options);
    return { description: await this.describe(name), outcome: built };
  }

  /**
   * Rebuilds `name` on this host from the code its current build carries (an imported bundle's, whose source
   * directory need not exist here), through the build queue. Its declared source directory stays as it was.
   */
  async rebuildFromBuildCode(name: string, options: Omit<RegisterOptions, 'replace'> = {}): Promise<Published<BuildResult>> {
    this.assertOpen();
    const image = await this.store.require(name);
    const built = await this.build(image.meta.spec, { ...options, replace: true }, image.codeDir);
    return { description: await this.describe(name), outcome: built };
  }

  /**
   * Removes the function's image and registration; its instances end, in-flight invocations included, unless
   * `drain`: then new invocations are refused at once and the removal waits for those under way to end.
   */
  async remove(name: string, options: { drain?: boolean } = {}): Promise<void> {
    this.assertOpen();
    if (!(await this.store.get(name).catch(() => true))) throw unknownFunction(name);
    if (options.drain) {
      this.leaving.add(name);
      try {
        await this.inFlight.drained(name);
        await this.removeNow(name);
      } finally {
        this.leaving.delete(name);
      }
      return;
    }
    await this.removeNow(name);
  }

  private async removeNow(name: string): Promise<void> {
    this.leases.retire(name);
    this.leases.endLent(name);
    this.templates.retire(name);
    await this.store.remove(name);
    this.counters.delete(name);
    this.sources.forget(name);
    this.marks.clear(name);
    this.invocationLogs.forget(name);
    this.plainWhileStale.delete(name);
  }

  /** Hashes every file of the function's image: PREBAKE_ERR_IMAGE_CORRUPT unless all are as built. */
  async verify(name: string): Promise<{ files: number }> {
    const image = await this.store.get(name);
    if (!image) throw unknownFunction(name);
    await this.store.verifyInFull(image);
    return { files: Object.keys(image.meta.files ?? {}).length };
  }

  /** A bundle of the function (docs/BUNDLES.md), streamed; the function's lock is held until the stream ends. */
  async exportBundle(name: string): Promise<Readable> {
    this.assertOpen();
    await this.assertRegistered(name);
    return exportBundle(this.store, this.criu, name);
  }

  /** Imports a bundle (registering its function, or replacing its image, as a build would). */
  async importBundle(input: Readable, request: ImportRequest = {}): Promise<Published<ImportResult>> {
    this.assertOpen();
    return this.published(await importBundle(this.store, this.criu, input, this.importOptions(request)));
  }

  /** Pulls a bundle from an OCI registry and imports it, as importBundle does. */
  async pull(ref: RegistryReference, request: PullRequest = {}): Promise<Published<ImportResult>> {
    this.assertOpen();
    const { credentials, ...importRequest } = request;
    return this.published(await pullBundle(this.store, this.criu, ref, this.importOptions(importRequest), credentials));
  }

  /** Stores the function's bundle in an OCI registry (only the blobs it lacks are uploaded). */
  async push(name: string, ref: RegistryReference, request: RegistryAccess = {}): Promise<PushResult> {
    this.assertOpen();
    return pushBundle(this.store, this.criu, name, ref, request.credentials);
  }

  private importOptions(request: ImportRequest): ImportOptions {
    return { ...request, checkSourceDir: (dir) => assertWouldBeInsideRoots(dir, this.config.functionsRoots) };
  }

  private async published(imported: ImportResult): Promise<Published<ImportResult>> {
    const { name } = imported.meta;
    this.marks.clear(name);
    // Warm instances of the old image end, as after a build.
    this.leases.retire(name);
    await this.prefill(name);
    this.templates.retire(name);
    return { description: await this.describe(name), outcome: imported };
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

  /** Every build as stored, and whether its source changed since (`prebake ls`). */
  async listBuilds(): Promise<{ meta: ImageMeta; source: SourceStatus }[]> {
    const metas = await this.store.list();
    return Promise.all(metas.map(async (meta) => ({ meta, source: await this.sources.get(meta) })));
  }

  // `codeFrom`: where the code is copied from when not from spec.dir (a build's own copy, rebuildFromBuildCode).
  private async build(spec: FunctionSpec, options: RegisterOptions, codeFrom?: string): Promise<BuildResult> {
    const log = this.log.child({ fn: spec.name });
    const built = await this.builds.run(
      spec.name,
      async () => {
        this.assertOpen();
        if (!options.replace) await assertNameFree(this.store, spec);
        const started = performance.now();
        try {
          const result = await buildFunction(spec, {
            store: this.store,
            criu: this.criu,
            instances: this.instances,
            strict: options.strict,
            codeFrom,
            onEvent: (event) => {
              log.info({}, `build: ${describeBuildEvent(event)}`);
              options.onEvent?.(event);
            },
          });
          for (const warning of result.warnings) log.warn({ sharedState: result.meta.cloneCheck?.sharedPaths }, `build: ${warning}`);
          this.observer.build?.({ functionName: spec.name, ok: true, ms: performance.now() - started });
          return result;
        } catch (error) {
          this.observer.build?.({ functionName: spec.name, ok: false, ms: performance.now() - started });
          throw error;
        }
      },
      options.signal,
    );
    this.marks.clear(spec.name);
    // Warm instances and the fork template of the old build end; the next invocation restores the new one.
    this.leases.retire(spec.name);
    await this.prefill(spec.name);
    this.templates.retire(spec.name);
    return built;
  }

  // -- invocations -------------------------------------------------------------------------------------------

  async invoke(request: InvokeRequest): Promise<InvocationResult> {
    const { requestId } = request;
    const report: InvocationEvent = { functionName: request.target, outcome: 'ok' };
    let known = false;
    let entered: string | undefined;
    let ended: Promise<string> | undefined;
    try {
      this.assertOpen();
      checkEvent(request.event, this.config.bodyLimitBytes);
      const { fn, mode, settings } = await this.resolve(request);
      const name = fn.spec.name;
      report.functionName = name;
      known = fn.image !== undefined;
      if (known) {
        this.inFlight.enter(name);
        entered = name;
        // A drain that began while this one resolved has counted none: it must not run on a removed build.
        if (this.leaving.has(name)) throw leavingFunction(name);
      }
      const log = (request.log ?? this.log).child({ fn: name });
      const slot = await this.limiter.acquire(request.signal);
      const invoked = await runInvocation(
        request.event,
        {
          requestId,
          timeoutMs: fn.spec.timeoutMs,
          resultLimitBytes: this.config.resultLimitBytes,
          lambda: { invokedFunctionArn: functionArn(name, this.config.lambda.region), ...request.lambda },
        },
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
            if (request.collectLogs) ended = logs;
            else if (lease) this.invocationLogs.add(name, { requestId, at: new Date().toISOString(), start: lease.kind, outcome }, logs);
          },
        },
      );
      report.runMs = invoked.runMs;
      const { lease } = invoked;
      return {
        requestId,
        functionName: name,
        result: invoked.result,
        start: lease.kind,
        startMs: lease.startMs,
        startPhases: lease.started.phases,
        runMs: invoked.runMs,
        ...(ended && { logs: await ended }),
      };
    } catch (error) {
      report.outcome = outcomeOf(error);
      if (ended && error instanceof PrebakeError) error.logs = await ended;
      throw error;
    } finally {
      if (entered) this.inFlight.leave(entered);
      if (known) this.record(report);
    }
  }

  // A name runs the deployed version (nothing on that path reads the function's source directory). A directory
  // gets one fresh instance: its image checked against the source, or the source itself in mode cold (unstated:
  // prebaked once built, else cold).
  private async resolve(request: InvokeRequest): Promise<{ fn: ResolvedFunction; mode: StartMode; settings?: FunctionSettings }> {
    const { mode } = request;
    if (looksLikePath(request.target)) {
      const dir = await directoryInsideRoots(request.target, this.config.functionsRoots);
      const fn = await resolveFunction(dir, this.store, mode === undefined || mode === 'cold' ? mode : 'prebaked');
      return { fn, mode: fn.mode };
    }
    if (this.leaving.has(request.target)) throw leavingFunction(request.target);
    const image = await this.store.require(request.target);
    const settings = functionSettings(this.config, image.meta.spec);
    if (image.meta.rebuildReason !== undefined && this.plainWhileStale.has(request.target)) {
      return { fn: resolveImage(image, 'cold'), mode: 'cold', settings };
    }
    let asked = mode ?? settings.startMode;
    // Without instances kept between calls, the modes that keep some start as prebaked.
    if (!this.keepInstances && (asked === 'warm' || asked === 'pooled' || asked === 'fork')) asked = 'prebaked';
    const fn = resolveImage(image, asked === 'warm' || asked === 'pooled' ? 'prebaked' : asked);
    return { fn, mode: asked, settings };
  }

  private lease(fn: ResolvedFunction, mode: StartMode, settings: FunctionSettings | undefined, log: ManagerLogger): Promise<Lease> {
    const context = this.freshContext(log);
    if (mode === 'warm' && settings) return this.leases.warm(fn, settings.warm, context);
    if (mode === 'pooled' && settings) return this.leases.pooled(fn, settings.pool, context);
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

function leavingFunction(name: string): PrebakeError {
  return new PrebakeError('PREBAKE_ERR_UNKNOWN_FUNCTION', `function "${name}" is being removed`, {
    functionName: name,
    hint: "it left the daemon's declared functions: its invocations in flight finish, new ones are refused",
  });
}
