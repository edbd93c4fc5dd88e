// An arm is one series of a bench: one function started one way. Each measurement is one invocation, timed
// from the request until the result arrived, with the instance's memory read just before it ends.
//
// Times, all from performance.now() in the controller:
//   start      request -> instance ready to run the handler (what StartedInstance.startMs says: spawn + init
//              for a plain start, restore + resume for a prebaked one; taking a clone from a pool); 0 for a
//              warm instance
//   handler    event sent -> result frame in (the handler plus the frame round trip)
//   e2e        request -> result frame in: start + handler. The protocol is one-shot (the result frame is the
//              only response), so this is also the time to first response.
//   teardown   ending the instance (kill, reap, remove its work dir): not in e2e
import { randomUUID } from 'node:crypto';
import type { Criu } from '../criu/criu.ts';
import { isPrebakeError } from '../errors.ts';
import type { Instance } from '../instance/instance.ts';
import type { InstanceRegistry } from '../instance/registry.ts';
import { ForkTemplates, startForked } from '../start/fork.ts';
import type { ResolvedFunction } from '../start/start.ts';
import type { StartedInstance } from '../start/started.ts';
import type { ImageStore } from '../store/store.ts';
import { readInstanceMemory } from './memory.ts';

export interface Sample {
  /** 1-based run number; warm-up runs are not recorded. */
  run: number;
  /** Wall-clock time the run began (ISO 8601). */
  at: string;
  ok: boolean;
  /** "<code>: <message>" of a failed run. */
  error?: string;
  startMs: number;
  e2eMs: number;
  handlerMs: number;
  teardownMs: number;
  rssMb?: number;
  pssMb?: number;
}

export interface Arm {
  readonly functionName: string;
  /** The mode's label: cold, prebaked, warm, node-snapshot, or a label of the caller's (prebaked-ready). */
  readonly mode: string;
  /** Gets ready for the first measurement (a warm arm starts its instance); not timed. */
  open(): Promise<void>;
  measure(run: number): Promise<Sample>;
  /** Ends whatever the arm keeps running. Safe to call more than once. */
  close(): Promise<void>;
}

export interface ArmOptions {
  functionName: string;
  mode: string;
  /** The event sent on every invocation, as JSON text. */
  event: string;
  timeoutMs: number;
}

function requestId(mode: string, run: number): string {
  return `bench-${mode}-${run}-${randomUUID().slice(0, 8)}`;
}

function describe(error: unknown): string {
  if (isPrebakeError(error)) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

function failed(run: number, at: string, error: unknown): Sample {
  return { run, at, ok: false, error: describe(error), startMs: 0, e2eMs: 0, handlerMs: 0, teardownMs: 0 };
}

async function memoryOf(instance: Instance): Promise<{ rssMb?: number; pssMb?: number }> {
  try {
    const memory = await readInstanceMemory(await instance.initPid());
    return { rssMb: memory.rssMb, pssMb: memory.pssMb };
  } catch {
    return {};
  }
}

/**
 * A fresh instance for every measurement, made by `start` (a plain start, a restore, a snapshot start, a take
 * from a pool). `between` runs off the clock before each measurement (a pool's refill) and `close` at the end.
 */
export function freshInstanceArm(
  options: ArmOptions,
  start: () => Promise<StartedInstance>,
  offClock: { between?: () => Promise<void>; close?: () => Promise<void> } = {},
): Arm {
  return {
    functionName: options.functionName,
    mode: options.mode,
    async open() {
      await offClock.between?.();
    },
    async measure(run) {
      await offClock.between?.();
      const at = new Date().toISOString();
      const requested = performance.now();
      let started: StartedInstance | undefined;
      let sample: Sample;
      try {
        started = await start();
        const ready = performance.now();
        await started.instance.invoke(options.event, { requestId: requestId(options.mode, run), timeoutMs: options.timeoutMs });
        const answered = performance.now();
        const e2eMs = answered - requested;
        sample = {
          run,
          at,
          ok: true,
          startMs: started.startMs,
          e2eMs,
          handlerMs: answered - ready,
          teardownMs: 0,
          ...(await memoryOf(started.instance)),
        };
      } catch (error) {
        sample = failed(run, at, error);
      }
      if (started) {
        const ending = performance.now();
        await started.instance.end();
        await started.cleanup();
        sample.teardownMs = performance.now() - ending;
      }
      return sample;
    },
    async close() {
      await offClock.close?.();
    },
  };
}

/** One instance, started by `start` when the arm opens (not timed) and reused by every measurement. */
export function warmInstanceArm(options: ArmOptions, start: () => Promise<StartedInstance>): Arm {
  let started: StartedInstance | undefined;
  const close = async () => {
    const current = started;
    started = undefined;
    if (current) {
      await current.instance.end();
      await current.cleanup();
    }
  };
  return {
    functionName: options.functionName,
    mode: options.mode,
    async open() {
      started ??= await start();
    },
    async measure(run) {
      const at = new Date().toISOString();
      try {
        // After a failed run there is none: start another, untimed.
        started ??= await start();
        const requested = performance.now();
        await started.instance.invoke(options.event, { requestId: requestId(options.mode, run), timeoutMs: options.timeoutMs });
        const e2eMs = performance.now() - requested;
        return { run, at, ok: true, startMs: 0, e2eMs, handlerMs: e2eMs, teardownMs: 0, ...(await memoryOf(started.instance)) };
      } catch (error) {
        // The instance may be broken (it exited, or timed out and was ended): the next run gets a new one.
        await close();
        return failed(run, at, error);
      }
    },
    close,
  };
}

/**
 * A fresh child of the function's fork template for every measurement; the template is restored when the arm
 * opens (not timed), as the daemon keeps one per function, and ended when it closes.
 */
export function forkArm(options: ArmOptions, fn: ResolvedFunction, store: ImageStore, criu: Criu, instances: InstanceRegistry): Arm {
  const image = fn.image!;
  const templates = new ForkTemplates(store, criu, instances);
  const fresh = freshInstanceArm(options, () => startForked(fn.spec, image, templates));
  return {
    ...fresh,
    async open() {
      await templates.forImage(image);
    },
    close: () => templates.endAll(),
  };
}
