// prebake bench: for each function, every mode run N times, interleaved run by run (see run.ts), after
// unrecorded warm-up runs. Functions are benched one after another.
import os from 'node:os';
import type { BuildListener } from '../bake/progress.ts';
import { isPrebakeError, PrebakeError } from '../errors.ts';
import type { Host } from '../host/host.ts';
import { ClonePool } from '../manager/clone-pool.ts';
import { DEFAULTS } from '../manager/config.ts';
import { type ManagerLogger, silentLogger } from '../manager/observer.ts';
import { assertForkable } from '../start/fork-template.ts';
import type { ResolvedFunction } from '../start/start.ts';
import { startInstance } from '../start/start.ts';
import { type Arm, type ArmOptions, forkArm, freshInstanceArm, warmInstanceArm } from './arms.ts';
import { describeMachine, type MachineInfo } from './machine.ts';
import type { BenchMode } from './modes.ts';
import { buildNodeSnapshot, nodeSnapshotUnsupported, startFromNodeSnapshot } from './node-snapshot/snapshot.ts';
import { type BenchFunction, prepareBenchFunction } from './prepare.ts';
import { type RunLoopOptions, runInterleaved } from './run.ts';
import { describeSkip, type SkippedMode, skippedMode } from './skipped.ts';
import type { ArmResult } from './summary.ts';

export interface BenchOptions {
  /** Function directories or names of built functions. */
  targets: string[];
  modes: readonly BenchMode[];
  runs: number;
  warmups: number;
  /** The event of every invocation (JSON text); default: each function's warm-up event from function.json. */
  event?: string;
  /** The home whose functions are benched: its store, criu and instances; it builds what needs an image. */
  host: Host;
  /** Things a user should know (a build, a skipped mode), one line each. */
  onNotice?: (line: string) => void;
  /** The phases of a build the bench runs (a function without a fresh image). */
  onBuild?: BuildListener;
  /** Build a function even when another directory holds its name, taking the name over (as `build --replace`). */
  replace?: boolean;
  /** Before a function's runs, once its arms are open: how many measurements they take. */
  onFunction?: (functionName: string, measurements: number) => void;
  onMeasured?: RunLoopOptions['onMeasured'];
  /** After each function (benched or skipped): the results so far, `complete` false. */
  onResults?: (run: BenchRun) => Promise<void>;
}

/** A snapshot of a function: a CRIU image, or a Node startup snapshot blob. */
export interface ImageInfo {
  functionName: string;
  kind: 'criu' | 'node-snapshot';
  bytes: number;
  buildMs: number;
  /** Warm-up invocations run before the snapshot. */
  warmups: number;
}

export interface BenchRun {
  startedAt: string;
  /** When the bench ended, or, while it runs, when these results were taken. */
  finishedAt: string;
  /** False in the results reported while the bench still runs (onResults): later functions are missing. */
  complete: boolean;
  runs: number;
  warmups: number;
  modes: string[];
  machine: MachineInfo;
  /** The machine's 1, 5 and 15 minute load averages when the bench started and ended: how busy it was. */
  load: { start: number[]; end: number[] };
  arms: ArmResult[];
  images: ImageInfo[];
  skipped: SkippedMode[];
}

/**
 * Benches every target. A function that cannot be prepared (its build failed) or a mode that cannot start it
 * (fork for a function with threads) is skipped and reported in `skipped`, and the bench goes on.
 */
export async function runBench(options: BenchOptions): Promise<BenchRun> {
  const { store, criu } = options.host;
  const startedAt = new Date().toISOString();
  const loadAtStart = os.loadavg();
  const arms: ArmResult[] = [];
  const images: ImageInfo[] = [];
  const skipped: SkippedMode[] = [];
  await store.init();
  const machine = await describeMachine(criu);
  const resultsSoFar = (complete: boolean): BenchRun => ({
    startedAt,
    finishedAt: new Date().toISOString(),
    complete,
    runs: options.runs,
    warmups: options.warmups,
    modes: [...options.modes],
    machine,
    load: { start: loadAtStart, end: os.loadavg() },
    arms: [...arms],
    images: [...images],
    skipped: [...skipped],
  });
  const skip = (functionName: string, mode: string, why: unknown) => {
    const entry = skippedMode(functionName, mode, why);
    skipped.push(entry);
    options.onNotice?.(`${functionName}: skipping ${mode}: ${describeSkip(entry)}`);
  };
  // Owned by the store: removed at this process's exit too (an interrupted bench exits from its signal handler).
  const { dir: scratch, remove: removeScratch } = await store.createWorkDir('bench');
  try {
    for (const target of options.targets) {
      const needImage = ['prebaked', 'pooled', 'fork'].some((mode) => options.modes.includes(mode as BenchMode));
      let fn: BenchFunction;
      try {
        fn = await prepareBenchFunction(target, {
          host: options.host,
          needImage,
          onNotice: options.onNotice,
          onBuild: options.onBuild,
          replace: options.replace,
        });
      } catch (error) {
        const name = (isPrebakeError(error) && error.functionName) || target;
        for (const mode of options.modes) skip(name, mode, error);
        await options.onResults?.(resultsSoFar(false));
        continue;
      }
      const meta = fn.prebaked?.image?.meta;
      if (meta)
        images.push({
          functionName: fn.spec.name,
          kind: 'criu',
          bytes: meta.imageBytes,
          buildMs: meta.buildMs,
          warmups: meta.warmupInvocations,
        });
      const functionArms: Arm[] = [];
      for (const mode of options.modes) {
        const problem = unsupported(fn, mode);
        if (problem) {
          skip(fn.spec.name, mode, problem);
          continue;
        }
        try {
          functionArms.push(await makeArm(fn, mode, { ...options, scratch, images }));
        } catch (error) {
          skip(fn.spec.name, mode, error);
        }
      }
      const results = await runInterleaved(functionArms, {
        runs: options.runs,
        warmups: options.warmups,
        onMeasured: options.onMeasured,
        onOpenFailed: (arm, error) => skip(fn.spec.name, arm.mode, error),
        onOpened: (measurements) => options.onFunction?.(fn.spec.name, measurements),
      });
      for (const { arm, samples } of results)
        arms.push({ functionName: arm.functionName, runtime: fn.spec.runtime, mode: arm.mode, samples });
      await options.onResults?.(resultsSoFar(false));
    }
  } finally {
    await removeScratch();
  }
  return resultsSoFar(true);
}

/** Why `mode` cannot start `fn` (a sentence, or the error that says it), if it cannot. */
function unsupported(fn: BenchFunction, mode: BenchMode): unknown {
  if (mode === 'node-snapshot') return nodeSnapshotUnsupported(fn.spec);
  if (mode !== 'fork') return undefined;
  try {
    assertForkable(fn.spec);
    return undefined;
  } catch (error) {
    return error;
  }
}

async function makeArm(fn: BenchFunction, mode: BenchMode, context: BenchOptions & { scratch: string; images: ImageInfo[] }): Promise<Arm> {
  const { store, criu, instances } = context.host;
  const armOptions = {
    functionName: fn.spec.name,
    mode,
    event: context.event ?? JSON.stringify(fn.spec.warmup.event ?? {}),
    timeoutMs: fn.spec.timeoutMs,
  };
  switch (mode) {
    case 'cold':
      return freshInstanceArm(armOptions, () => startInstance(fn.plain, store, criu, instances));
    case 'prebaked': {
      const prebaked = fn.prebaked!;
      return freshInstanceArm(armOptions, () => startInstance(prebaked, store, criu, instances));
    }
    case 'fork':
      return forkArm(armOptions, fn.prebaked!, store, criu, instances);
    case 'warm':
      return warmInstanceArm(armOptions, () => startInstance(fn.plain, store, criu, instances));
    case 'pooled':
      return pooledArm(armOptions, fn.prebaked!, context.host);
    case 'node-snapshot': {
      // The same warm-up invocations as the CRIU image, for a like-for-like comparison.
      const snapshot = await buildNodeSnapshot(fn.spec, fn.plain.preparedDir, context.scratch, fn.spec.warmup.invocations);
      context.images.push({
        functionName: fn.spec.name,
        kind: 'node-snapshot',
        bytes: snapshot.bytes,
        buildMs: snapshot.buildMs,
        warmups: snapshot.warmups,
      });
      return freshInstanceArm(armOptions, () => startFromNodeSnapshot(fn.spec, fn.plain.preparedDir, snapshot, store, instances));
    }
  }
}

// The daemon's clone pool, at its default size, refilled between runs (off the clock): each run takes a ready
// clone, invokes it once and ends it, as an invocation in start mode pooled does while its pool lasts.
function pooledArm(options: ArmOptions, fn: ResolvedFunction, context: Pick<Host, 'store' | 'criu' | 'instances'>): Arm {
  const pending = new Set<Promise<unknown>>();
  let refillError: unknown;
  const log: ManagerLogger = { ...silentLogger, warn: (fields) => (refillError = (fields as { err?: unknown }).err) };
  const pool = new ClonePool(
    fn.image!,
    { ...DEFAULTS.pool, maxIdleSeconds: 24 * 60 * 60 },
    {
      store: context.store,
      criu: context.criu,
      instances: context.instances,
      log,
      track: (work) => {
        const tracked = work.catch(() => {}).finally(() => pending.delete(tracked));
        pending.add(tracked);
      },
      refillOnTake: false,
    },
  );
  return freshInstanceArm(
    options,
    async () => {
      const asked = performance.now();
      const started = await pool.take(options.timeoutMs);
      if (!started) {
        throw new PrebakeError('PREBAKE_ERR_RESTORE_FAILED', `function "${fn.spec.name}": the clone pool is empty: its refill failed`, {
          cause: refillError,
        });
      }
      return { ...started, kind: 'pooled', startMs: performance.now() - asked };
    },
    {
      between: async () => {
        pool.fill();
        await pool.settled();
      },
      close: async () => {
        pool.close();
        while (pending.size > 0) await Promise.all([...pending]);
      },
    },
  );
}
