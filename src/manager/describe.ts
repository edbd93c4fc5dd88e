// How the daemon describes a function (GET /functions/:name): its image, its settings, its warm pool and what it
// has served since the daemon started. The schema doubles as the HTTP response schema.
import { type Static, Type } from '@sinclair/typebox';
import { cloneCheckWarnings } from '../bake/clone-check.ts';
import { POOL_HOOKS, RUNTIMES, StartModeSchema } from '../manifest/schema.ts';
import { SOURCE_STATUSES, type SourceStatus } from '../store/source-status.ts';
import type { ImageMeta } from '../store/store.ts';
import type { ClonePoolStats } from './clone-pool.ts';
import type { ClonePolicy, FunctionSettings } from './config.ts';
import { PoolSizer } from './pool-size.ts';

const Count = Type.Integer({ minimum: 0 });

export const CountersSchema = Type.Object({
  invocations: Count,
  /** Invocations that did not return a result (any error). */
  errors: Count,
  prebaked: Count,
  warm: Count,
  cold: Count,
  pooled: Count,
  fork: Count,
  restoreFailures: Count,
  fallbacks: Count,
});
export type Counters = Static<typeof CountersSchema>;

export const FunctionDescriptionSchema = Type.Object({
  name: Type.String(),
  runtime: Type.Union(RUNTIMES.map((r) => Type.Literal(r))),
  handler: Type.String(),
  dir: Type.String({ description: "the function's source directory (instances run the build's copy of it)" }),
  timeoutMs: Type.Integer(),
  memoryMb: Type.Integer(),
  buildId: Type.String(),
  builtAt: Type.String({ format: 'date-time' }),
  buildMs: Type.Number(),
  initMs: Type.Number(),
  imageBytes: Type.Integer(),
  sourceDigest: Type.String(),
  criuVersion: Type.String(),
  criuBuild: Type.Optional(Type.String()),
  runtimeVersion: Type.String(),
  interpreter: Type.Object({ path: Type.String(), version: Type.String() }),
  /** Host paths its instances may read, read-only at the same path (function.json "readOnlyPaths"). */
  readOnlyPaths: Type.Array(Type.String()),
  startMode: StartModeSchema,
  warm: Type.Object({ max: Count, idleMs: Count, idle: Count, busy: Count }),
  /**
   * The clone pool (start mode `pooled`): its settings; the number of clones it refills to now (`target`: `size`,
   * or with size "auto" derived from `ratePerSecond` and `refillMs` at the last invocation or refill); clones
   * `ready` now; invocations served from it (`hits`) or restored on demand because it was empty (`misses`); clones
   * restored into it (`refills`), ended unused after `maxIdleSeconds` (`retired`), ended by themselves while ready
   * and replaced (`died`).
   */
  pool: Type.Object({
    size: Type.Union([Count, Type.Literal('auto')]),
    minSize: Count,
    maxSize: Count,
    burst: Count,
    target: Count,
    ratePerSecond: Type.Optional(Type.Number({ minimum: 0 })),
    refillMs: Type.Optional(Type.Number({ minimum: 0 })),
    maxIdleSeconds: Count,
    hooks: Type.Union(POOL_HOOKS.map((h) => Type.Literal(h))),
    ready: Count,
    hits: Count,
    misses: Count,
    refills: Count,
    retired: Count,
    died: Count,
    refillFailures: Count,
  }),
  /**
   * The source directory compared with what the build deployed (checked off the invocation path, at most every
   * 2 s): invocations keep running the build until a rebuild.
   */
  source: Type.Union(SOURCE_STATUSES.map((s) => Type.Literal(s))),
  /** A restore of this build failed: invocations start plainly until a rebuild. */
  needsRebuild: Type.Boolean(),
  /** Result fields the build's clone-uniqueness check found equal in every clone but not in plain starts. */
  sharedState: Type.Array(Type.String()),
  /** What the build warned about (the clone-uniqueness check), for people. */
  warnings: Type.Array(Type.String()),
  counters: CountersSchema,
});
export type FunctionDescription = Static<typeof FunctionDescriptionSchema>;

export function emptyCounters(): Counters {
  return { invocations: 0, errors: 0, prebaked: 0, warm: 0, cold: 0, pooled: 0, fork: 0, restoreFailures: 0, fallbacks: 0 };
}

export interface DescribeInput {
  meta: ImageMeta;
  settings: FunctionSettings;
  pool: { idle: number; busy: number };
  /** The function's clone pool, when it has one. */
  clones?: ClonePoolStats;
  source: SourceStatus;
  needsRebuild: boolean;
  counters: Counters;
}

export function describeFunction(input: DescribeInput): FunctionDescription {
  const { meta, settings } = input;
  return {
    name: meta.name,
    runtime: meta.runtime,
    handler: meta.spec.handler,
    dir: meta.spec.dir,
    timeoutMs: meta.spec.timeoutMs,
    memoryMb: meta.spec.memoryMb,
    buildId: meta.buildId,
    builtAt: meta.builtAt,
    buildMs: meta.buildMs,
    initMs: meta.initMs,
    imageBytes: meta.imageBytes,
    sourceDigest: meta.sourceDigest,
    criuVersion: meta.criuVersion,
    ...(meta.criuBuild && { criuBuild: meta.criuBuild }),
    runtimeVersion: meta.runtimeVersion,
    interpreter: meta.interpreter,
    readOnlyPaths: meta.spec.readOnlyPaths ?? [],
    startMode: settings.startMode,
    warm: { ...settings.warm, ...input.pool },
    pool: {
      size: settings.pool.size,
      minSize: settings.pool.minSize,
      maxSize: settings.pool.maxSize,
      burst: settings.pool.burst,
      ...poolTargetOf(settings.pool, input.clones),
      maxIdleSeconds: settings.pool.maxIdleSeconds,
      hooks: settings.pool.hooks,
      ready: input.clones?.ready ?? 0,
      hits: input.clones?.hits ?? 0,
      misses: input.clones?.misses ?? 0,
      refills: input.clones?.refills ?? 0,
      retired: input.clones?.retired ?? 0,
      died: input.clones?.died ?? 0,
      refillFailures: input.clones?.refillFailures ?? 0,
    },
    source: input.source,
    needsRebuild: input.needsRebuild,
    sharedState: meta.cloneCheck?.sharedPaths ?? [],
    warnings: cloneCheckWarnings(meta.cloneCheck),
    counters: { ...input.counters },
  };
}

/** The pool's target as it stands; before the pool exists (no image yet, or not pooled), what it would start at. */
function poolTargetOf(
  policy: ClonePolicy,
  clones: ClonePoolStats | undefined,
): Pick<ClonePoolStats, 'target' | 'ratePerSecond' | 'refillMs'> {
  if (!clones) return policy.size === 'auto' ? new PoolSizer(policy).current : { target: policy.size };
  const { target, ratePerSecond, refillMs } = clones;
  return { target, ...(ratePerSecond !== undefined && { ratePerSecond }), ...(refillMs !== undefined && { refillMs }) };
}
