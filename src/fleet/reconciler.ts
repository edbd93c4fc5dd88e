// Functions declared by reference (docs/DAEMON.md): the daemon keeps the functions its config lists as the
// config says, at start, when the config file changes and on SIGHUP. Each reference is resolved to a manifest
// digest; a digest this daemon already runs is not pulled again; a new one is pulled through the Host (verified
// as `prebake pull` verifies) under the declared name. A bundle made on an incompatible host is imported marked
// for rebuild and rebuilt here from the code it carries, with plain starts meanwhile. A function that left the
// list is removed once its invocations in flight end. Whatever fails (the registry, a tag, a bundle, a rebuild)
// leaves the previous version serving, is reported per function and retried with a backoff. Only names this
// reconciler put in the home (owned.ts) are ever touched.
import { readFile } from 'node:fs/promises';
import { PrebakeError, toPrebakeError } from '../errors.ts';
import type { Host } from '../host/host.ts';
import type { DaemonConfigInput } from '../manager/config.ts';
import { readConfigFile } from '../manager/config-file.ts';
import type { ManagerLogger } from '../manager/observer.ts';
import { loadDockerConfig, type RegistryCredentials } from '../registry/credentials.ts';
import { bundleDigest } from '../registry/oci-bundle.ts';
import { type Backoff, DEFAULT_BACKOFF, retryDelayMs } from './backoff.ts';
import { type DeclaredConfig, type DeclaredEntry, declaredConfig } from './declared-config.ts';
import { OwnedFunctions } from './owned.ts';
import type { ConfigStatus, DeclaredStatus, DeclaredStatusName } from './status.ts';
import { type ConfigWatch, watchConfigFile } from './watch.ts';

export interface FleetObserver {
  /** A declared function's new digest was pulled (ok) or its reference could not be brought in (failed). */
  reconcile?(event: { functionName: string; ok: boolean }): void;
  rebuild?(event: { functionName: string; ok: boolean }): void;
  reload?(event: { ok: boolean }): void;
}

export interface ReconcilerOptions {
  host: Host;
  /** The config file, watched for changes; without it a reload applies the config the daemon started with. */
  file?: string;
  /** Reads the config again (the file, then the command line's flags over it); default: the file as it is. */
  load?: () => Promise<DaemonConfigInput>;
  log: ManagerLogger;
  observer?: FleetObserver;
  backoff?: Backoff;
  /** Events on the file within this long make one reload. */
  debounceMs?: number;
}

interface FunctionState {
  entry: DeclaredEntry;
  digest: string | null;
  status: DeclaredStatusName;
  error?: { code: string; message: string };
  since: string;
  failures: number;
  retryAt?: string;
  retryTimer?: NodeJS.Timeout;
}

// Editors and ConfigMap updates write a file in several events.
const DEFAULT_DEBOUNCE_MS = 200;

export class Reconciler {
  private readonly host: Host;
  private readonly file: string | undefined;
  private readonly load: (() => Promise<DaemonConfigInput>) | undefined;
  private readonly log: ManagerLogger;
  private readonly observer: FleetObserver;
  private readonly backoff: Backoff;
  private readonly debounceMs: number;
  private readonly owned: OwnedFunctions;
  private readonly states = new Map<string, FunctionState>();
  private readonly rebuilds = new Map<string, Promise<void>>();
  private readonly removals = new Map<string, Promise<void>>();
  private readonly signals: [NodeJS.Signals, () => void][] = [];
  private current: DeclaredConfig;
  private credentials: { get?: RegistryCredentials; error?: unknown } = {};
  private loadedAt = new Date().toISOString();
  private configError: ConfigStatus['error'];
  private fileText: string | undefined;
  private queue: Promise<void> = Promise.resolve();
  private watcher: ConfigWatch | undefined;
  private closed = false;
  private started = false;
  private markReady!: () => void;
  /** Resolves when `ready` turns true. */
  readonly whenReady = new Promise<void>((resolve) => {
    this.markReady = resolve;
  });

  constructor(options: ReconcilerOptions) {
    this.host = options.host;
    this.file = options.file;
    this.load = options.load ?? (options.file === undefined ? undefined : () => readConfigFile(options.file!));
    this.log = options.log.child({ component: 'declared' });
    this.observer = options.observer ?? {};
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    this.owned = new OwnedFunctions(options.host.store.home);
    // The Host's config was validated already; its references are checked here (a bad one fails the start).
    this.current = declaredConfig(options.host.config, 'the daemon config');
  }

  /** Applies the config the daemon started with, then follows the file. Returns at once: idle() waits. */
  start(): void {
    void this.enqueue(async () => {
      if (this.file) this.fileText = await readFile(this.file, 'utf8').catch(() => undefined);
      await this.apply(this.current);
      this.started = true;
      this.markReady();
    });
    if (this.file) {
      this.watcher = watchConfigFile(
        this.file,
        () => void this.reload('the config file changed', { onlyIfChanged: true }),
        this.debounceMs,
        (error) => this.log.warn({ err: error, file: this.file }, 'watching the config file failed; SIGHUP still reloads it'),
      );
    }
  }

  /** Reloads on `signal` (SIGHUP) until closed. */
  reloadOn(signal: NodeJS.Signals): void {
    const handler = () => void this.reload(signal);
    process.on(signal, handler);
    this.signals.push([signal, handler]);
  }

  /**
   * Reads and validates the config again and applies it: an invalid one is reported and the config in force
   * stays. Every tag is resolved again (a moved tag is pulled), unless `onlyIfChanged` and the file is as before.
   */
  reload(reason: string, options: { onlyIfChanged?: boolean } = {}): Promise<void> {
    return this.enqueue(async () => {
      let next: DeclaredConfig;
      try {
        if (this.file) {
          const text = await readFile(this.file, 'utf8');
          if (options.onlyIfChanged && text === this.fileText) return;
          this.fileText = text;
        }
        next = this.load ? declaredConfig(await this.load(), this.file ?? 'the daemon config') : this.current;
      } catch (error) {
        const { code, message } = toPrebakeError(error);
        this.configError = { code, message, at: new Date().toISOString() };
        this.observer.reload?.({ ok: false });
        this.log.error({ reason, err: { code, message } }, 'the new config is refused; the config in force stays');
        return;
      }
      this.log.info({ reason, declared: next.declared.length }, 'config reloaded');
      this.configError = undefined;
      this.loadedAt = new Date().toISOString();
      this.observer.reload?.({ ok: true });
      await this.apply(next);
    });
  }

  /** Resolves once the reloads asked for so far, their pulls and the rebuilds and removals they started, are done. */
  async idle(): Promise<void> {
    for (;;) {
      const queue = this.queue;
      await queue;
      await Promise.all([...this.rebuilds.values(), ...this.removals.values()]);
      if (queue === this.queue && this.rebuilds.size === 0 && this.removals.size === 0) return;
    }
  }

  /**
   * True once the config the daemon started with was applied: every declared function pulled, or failed to be
   * and reported (an orchestrator's readiness: GET /readyz). Rebuilds may still run; their functions start plainly.
   */
  get ready(): boolean {
    return this.started;
  }

  statuses(): DeclaredStatus[] {
    return [...this.states.keys()].map((name) => this.status(name)!);
  }

  status(name: string): DeclaredStatus | undefined {
    const state = this.states.get(name);
    if (!state) return undefined;
    return {
      name,
      bundle: state.entry.bundle,
      digest: state.digest,
      status: state.status,
      ...(state.error && { error: state.error }),
      since: state.since,
      ...(state.retryAt && { retryAt: state.retryAt }),
    };
  }

  configStatus(): ConfigStatus {
    return { ...(this.file && { file: this.file }), loadedAt: this.loadedAt, ...(this.configError && { error: this.configError }) };
  }

  /** Stops watching and retrying; waits for the work under way. */
  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    for (const [signal, handler] of this.signals) process.off(signal, handler);
    for (const state of this.states.values()) clearTimeout(state.retryTimer);
    await this.queue;
    await Promise.all([...this.rebuilds.values(), ...this.removals.values()]);
  }

  // One pass or retry at a time, in the order asked.
  private enqueue(task: () => Promise<void>): Promise<void> {
    this.queue = this.queue
      .then(() => (this.closed ? undefined : task()))
      .catch((error: unknown) => this.log.error({ err: error }, 'reconciling the declared functions failed'));
    return this.queue;
  }

  private async apply(next: DeclaredConfig): Promise<void> {
    this.current = next;
    this.host.setFunctionOverrides(next.config.functions);
    await this.owned.load();
    await this.loadCredentials();
    const wanted = new Set(next.declared.map((entry) => entry.name));
    for (const name of this.owned.names()) if (!wanted.has(name)) this.removeLeaving(name);
    for (const [name, state] of this.states) {
      if (wanted.has(name) || this.owned.get(name) || this.removals.has(name)) continue;
      clearTimeout(state.retryTimer);
      this.states.delete(name);
    }
    for (const entry of next.declared) await this.reconcileOne(entry);
  }

  private async reconcileOne(entry: DeclaredEntry): Promise<void> {
    const { name } = entry;
    await this.removals.get(name);
    const state = this.stateOf(entry);
    clearTimeout(state.retryTimer);
    state.retryAt = undefined;
    const log = this.log.child({ fn: name, bundle: entry.bundle });
    try {
      if (this.credentials.error) throw this.credentials.error;
      const owned = this.owned.get(name);
      const image = await this.host.store.get(name).catch(() => undefined);
      if (image && !owned) {
        throw new PrebakeError(
          'PREBAKE_ERR_NAME_TAKEN',
          `the function name "${name}" is held by ${image.meta.spec.dir}, not declared here`,
          {
            functionName: name,
            hint: 'declare the function under another name, or remove the one registered over the API',
          },
        );
      }
      const digest = await bundleDigest(entry.ref, this.credentials.get);
      if (image && owned?.digest === digest) {
        state.digest = digest;
        state.failures = 0;
        if (owned.bundle !== entry.bundle) await this.owned.set(name, { bundle: entry.bundle, digest });
        this.settle(state, image.meta.rebuildReason !== undefined);
        return;
      }
      // A rebuild of the previous version must not publish over the new one.
      await this.rebuilds.get(name);
      this.setStatus(state, 'pulling');
      // The name is claimed before the image lands (a crash in between must not leave it looking taken); an
      // empty digest matches none, so the next pass pulls again.
      if (!owned) await this.owned.set(name, { bundle: entry.bundle, digest: '' });
      log.info({ digest, previous: state.digest }, 'pulling the declared bundle');
      this.host.servePlainlyWhileStale(name, true);
      const pulled = await this.host.pull({ ...entry.ref, reference: digest }, { name, force: true, credentials: this.credentials.get });
      await this.owned.set(name, { bundle: entry.bundle, digest });
      state.digest = digest;
      state.failures = 0;
      this.observer.reconcile?.({ functionName: name, ok: true });
      log.info({ digest, buildId: pulled.outcome.meta.buildId }, 'the declared bundle serves');
      this.settle(state, pulled.outcome.rebuildReason !== undefined);
    } catch (error) {
      state.failures++;
      this.observer.reconcile?.({ functionName: name, ok: false });
      this.setStatus(state, 'failed', error);
      const delay = retryDelayMs(this.backoff, state.failures);
      state.retryAt = new Date(Date.now() + delay).toISOString();
      state.retryTimer = setTimeout(() => void this.retry(name), delay).unref();
      log.warn(
        { err: state.error, running: state.digest, retryInMs: delay },
        'the declared bundle could not be brought in; what ran before serves',
      );
    }
  }

  private retry(name: string): Promise<void> {
    return this.enqueue(async () => {
      const entry = this.current.declared.find((declared) => declared.name === name);
      if (!entry) return;
      // The credentials file may have been fixed since.
      await this.loadCredentials();
      await this.reconcileOne(entry);
    });
  }

  private async loadCredentials(): Promise<void> {
    const file = this.current.config.registryCredentials;
    this.credentials = {};
    if (!file) return;
    await loadDockerConfig(file).then(
      (get) => (this.credentials.get = get),
      (error: unknown) => (this.credentials.error = error),
    );
  }

  // Serving what was declared: prebaked, or plainly while a rebuild for this host runs.
  private settle(state: FunctionState, stale: boolean): void {
    if (!stale) {
      if (state.status !== 'current') this.setStatus(state, 'current');
      return;
    }
    if (!this.rebuilds.has(state.entry.name)) this.rebuild(state);
  }

  private rebuild(state: FunctionState): void {
    const { name } = state.entry;
    const digest = state.digest;
    this.setStatus(state, 'rebuilding');
    this.log.info({ fn: name, digest }, 'the bundle was made on an incompatible host: rebuilding it here; plain starts serve meanwhile');
    const stillThis = () => this.states.get(name) === state && state.digest === digest;
    const run = this.host
      .rebuildFromBuildCode(name)
      .then(
        () => {
          this.observer.rebuild?.({ functionName: name, ok: true });
          if (stillThis()) this.setStatus(state, 'current');
        },
        (error: unknown) => {
          this.observer.rebuild?.({ functionName: name, ok: false });
          if (stillThis()) this.setStatus(state, 'failed', error);
          this.log.warn({ fn: name, err: state.error }, 'the rebuild failed; the function keeps starting plainly');
        },
      )
      .finally(() => this.rebuilds.delete(name));
    this.rebuilds.set(name, run);
  }

  private removeLeaving(name: string): void {
    if (this.removals.has(name)) return;
    const state = this.states.get(name);
    if (state) {
      clearTimeout(state.retryTimer);
      this.setStatus(state, 'removing');
    }
    const run = (async () => {
      await this.rebuilds.get(name);
      this.log.info({ fn: name }, 'left the declared functions: removing it once its invocations in flight end');
      try {
        await this.host.remove(name, { drain: true });
      } catch (error) {
        if (toPrebakeError(error).code !== 'PREBAKE_ERR_UNKNOWN_FUNCTION') throw error;
      }
      await this.owned.delete(name);
      this.host.servePlainlyWhileStale(name, false);
      if (this.states.get(name) === state) this.states.delete(name);
    })()
      .catch((error: unknown) => {
        if (state) this.setStatus(state, 'failed', error);
        this.log.error({ fn: name, err: error }, 'removing a function that left the declared ones failed');
      })
      .finally(() => this.removals.delete(name));
    this.removals.set(name, run);
  }

  private stateOf(entry: DeclaredEntry): FunctionState {
    let state = this.states.get(entry.name);
    if (!state) {
      state = {
        entry,
        digest: this.owned.get(entry.name)?.digest ?? null,
        status: 'pulling',
        since: new Date().toISOString(),
        failures: 0,
      };
      this.states.set(entry.name, state);
    }
    state.entry = entry;
    return state;
  }

  private setStatus(state: FunctionState, status: DeclaredStatusName, error?: unknown): void {
    const next = error === undefined ? undefined : (({ code, message }) => ({ code, message }))(toPrebakeError(error));
    if (state.status !== status || state.error?.message !== next?.message) state.since = new Date().toISOString();
    state.status = status;
    state.error = next;
  }
}
