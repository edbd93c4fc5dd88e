// The daemon's configuration: validated once at the boundary (a config file, CLI flags), defaults filled in,
// then frozen. Per-function settings resolve as: the daemon's `functions.<name>`, else function.json, else the
// daemon's defaults.
import os from 'node:os';
import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { CriuDeadlines } from '../criu/deadline.ts';
import { PrebakeError } from '../errors.ts';
import { LAMBDA_PAYLOAD_BYTES, MAX_BODY_BYTES } from '../instance/frames.ts';
import { DEFAULT_RESULT_LIMIT_BYTES } from '../instance/instance.ts';
import { defaultRegion } from '../instance/lambda-context.ts';
import {
  DEFAULT_POOL_SIZING,
  FUNCTION_NAME_PATTERN,
  type FunctionSpec,
  PoolSettingsSchema,
  poolSettingsProblem,
  type StartMode,
  StartModeSchema,
  WarmSettingsSchema,
} from '../manifest/schema.ts';
import { schemaProblem } from '../validate.ts';

const overrideFields = {
  startMode: Type.Optional(StartModeSchema),
  warm: Type.Optional(WarmSettingsSchema),
  pool: Type.Optional(PoolSettingsSchema),
};

export const FunctionOverridesSchema = Type.Object(overrideFields, { additionalProperties: false });

/** A function declared by reference (docs/DAEMON.md, "Functions declared by reference"): pulled, kept current. */
export const DeclaredFunctionSchema = Type.Object(
  {
    name: Type.String({ pattern: FUNCTION_NAME_PATTERN }),
    /** `<registry>/<repository>:<tag>` or `@sha256:<digest>`, as `prebake pull` takes it (checked by src/fleet). */
    bundle: Type.String({ minLength: 3, maxLength: 1024 }),
    ...overrideFields,
  },
  { additionalProperties: false },
);

export const DaemonConfigSchema = Type.Object(
  {
    /** Default start mode of functions that set none. */
    startMode: Type.Optional(StartModeSchema),
    warm: Type.Optional(WarmSettingsSchema),
    /** Clone-pool defaults of functions in start mode `pooled`. */
    pool: Type.Optional(PoolSettingsSchema),
    /** Invocations running at once, over all functions. */
    maxConcurrent: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
    /** Invocations waiting for a slot; past that, 429. */
    maxQueued: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000 })),
    /** The longest an invocation waits for a slot; then 429. */
    queueTimeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 15 * 60 * 1000 })),
    /** Start plainly when a restore fails (else 502). */
    fallback: Type.Optional(Type.Boolean()),
    /** Largest event an invocation takes (bytes). */
    bodyLimitBytes: Type.Optional(Type.Integer({ minimum: 2, maximum: MAX_BODY_BYTES })),
    /** Largest result a handler may return (bytes); past it, 502 PREBAKE_ERR_RESULT_TOO_LARGE. */
    resultLimitBytes: Type.Optional(Type.Integer({ minimum: 4, maximum: MAX_BODY_BYTES })),
    /** How long a shutdown waits for invocations in flight before it ends their instances. */
    shutdownTimeoutMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 15 * 60 * 1000 })),
    /** Builds (registrations and rebuilds) running at once, and how many more may wait. */
    builds: Type.Optional(
      Type.Object(
        {
          maxConcurrent: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000 })),
          maxQueued: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })),
          queueTimeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 60 * 60 * 1000 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** The Lambda API (docs/LAMBDA.md): SigV4 keys beyond the default one, the region of ARNs, the Event queue. */
    lambda: Type.Optional(
      Type.Object(
        {
          keys: Type.Optional(
            Type.Array(
              Type.Object(
                {
                  accessKeyId: Type.String({ pattern: '^[A-Za-z0-9_+=,.@-]{1,128}$' }),
                  secretAccessKey: Type.String({ minLength: 16, maxLength: 1024 }),
                },
                { additionalProperties: false },
              ),
              { maxItems: 1000 },
            ),
          ),
          region: Type.Optional(Type.String({ pattern: '^[a-z0-9-]{1,32}$' })),
          eventQueue: Type.Optional(
            Type.Object(
              {
                maxQueued: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000 })),
                maxConcurrent: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
              },
              { additionalProperties: false },
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    /** How long each criu phase may take before criu is killed (PREBAKE_ERR_CRIU_TIMEOUT); unset: PREBAKE_CRIU_DEADLINE_S, else the defaults. */
    criuDeadlines: Type.Optional(
      Type.Object(
        {
          checkMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 24 * 3600 * 1000 })),
          dumpMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 24 * 3600 * 1000 })),
          restoreMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 24 * 3600 * 1000 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** When set, POST /functions takes only directories whose real path lies inside one of these. */
    functionsRoots: Type.Optional(Type.Array(Type.String({ pattern: '^/' }), { maxItems: 100 })),
    /** Deadlines of a client's HTTP connection (see docs/DAEMON.md, "Limits"). */
    http: Type.Optional(
      Type.Object(
        {
          headersTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 10 * 60 * 1000 })),
          requestTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 60 * 60 * 1000 })),
          keepAliveTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 10 * 60 * 1000 })),
        },
        { additionalProperties: false },
      ),
    ),
    logs: Type.Optional(
      Type.Object(
        {
          /** Invocations whose function logs are kept, per function. */
          perFunction: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000 })),
          /** Bytes kept of one invocation's function logs (the tail). */
          maxBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: 16 * 1024 * 1024 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Per-function overrides by name, or the functions declared by reference (with the same overrides). */
    functions: Type.Optional(
      Type.Union([
        Type.Record(Type.String({ pattern: FUNCTION_NAME_PATTERN }), FunctionOverridesSchema),
        Type.Array(DeclaredFunctionSchema, { maxItems: 1000 }),
      ]),
    ),
    /** A docker config.json whose credentials the daemon pulls declared bundles with. */
    registryCredentials: Type.Optional(Type.String({ pattern: '^/' })),
    /** Registries (host[:port]) reached over plain http, as Docker's insecure-registries; loopback ones always are. */
    insecureRegistries: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z0-9.-]+(:[0-9]{1,5})?$' }), { maxItems: 100 })),
  },
  { additionalProperties: false },
);

export type DaemonConfigInput = Static<typeof DaemonConfigSchema>;
export type FunctionOverrides = Static<typeof FunctionOverridesSchema>;

export interface DeclaredFunction {
  name: string;
  /** The reference as the config wrote it. */
  bundle: string;
}

export interface WarmPolicy {
  max: number;
  idleMs: number;
}

/** A function's clone pool (start mode `pooled`, clone-pool.ts). */
export interface ClonePolicy {
  /** Clones kept ready, or "auto": sized as src/manager/pool-size.ts says, within minSize and maxSize. */
  size: number | 'auto';
  minSize: number;
  maxSize: number;
  burst: number;
  /** In seconds, as in function.json. */
  maxIdleSeconds: number;
  hooks: 'fill' | 'assign';
}

export interface DaemonConfig {
  startMode: StartMode;
  warm: WarmPolicy;
  pool: ClonePolicy;
  maxConcurrent: number;
  maxQueued: number;
  queueTimeoutMs: number;
  fallback: boolean;
  bodyLimitBytes: number;
  resultLimitBytes: number;
  shutdownTimeoutMs: number;
  builds: { maxConcurrent: number; maxQueued: number; queueTimeoutMs: number };
  /** Only the phases the config sets: the others keep the criu's own (PREBAKE_CRIU_DEADLINE_S, else the defaults). */
  criuDeadlines: Partial<CriuDeadlines>;
  /** Empty: any directory may be registered. */
  functionsRoots: readonly string[];
  http: { headersTimeoutMs: number; requestTimeoutMs: number; keepAliveTimeoutMs: number };
  lambda: {
    /** Besides the default key (access key id "prebake", the API token as its secret). */
    keys: readonly { accessKeyId: string; secretAccessKey: string }[];
    region: string;
    eventQueue: { maxQueued: number; maxConcurrent: number };
  };
  logs: { perFunction: number; maxBytes: number };
  /** Overrides by function name, from either form of the config's `functions`. */
  functions: Record<string, FunctionOverrides>;
  /** The functions declared by reference, in the config's order (empty with the record form). */
  declared: readonly DeclaredFunction[];
  registryCredentials?: string;
  insecureRegistries: readonly string[];
}

export const DEFAULTS = {
  startMode: 'prebaked',
  warm: { max: 4, idleMs: 60_000 },
  // Two clones cover an invocation arriving while the previous one's replacement restores; a clone of
  // hello-node holds ~21 MB (PSS), so an idle function costs little for ten minutes.
  // A fixed size by default: predictable memory, and what the benchmarks measured; "auto" is asked for.
  pool: { size: 2, ...DEFAULT_POOL_SIZING, maxIdleSeconds: 600, hooks: 'fill' },
  // Restores are mostly kernel work; a few per core keep both busy without thrashing.
  maxConcurrent: Math.max(4, 4 * os.availableParallelism()),
  maxQueued: 100,
  queueTimeoutMs: 30_000,
  fallback: true,
  // Lambda's limit for a synchronous invocation's payload.
  bodyLimitBytes: LAMBDA_PAYLOAD_BYTES,
  resultLimitBytes: DEFAULT_RESULT_LIMIT_BYTES,
  shutdownTimeoutMs: 30_000,
  // A build keeps a core busy (runtime start, init, criu dump): twelve at once on 2 cores put the load at 7.7.
  // A queued registration waits as long as the builds ahead of it can take.
  builds: { maxConcurrent: os.availableParallelism(), maxQueued: 64, queueTimeoutMs: 10 * 60 * 1000 },
  criuDeadlines: {},
  functionsRoots: [],
  // A client gets this long to send its headers, then its whole request (a 6 MB event over a slow link fits),
  // and an idle keep-alive connection is closed after this long: a client trickling bytes holds no socket for
  // longer (Node's own defaults let 50 trickling connections hold their sockets for over five minutes).
  http: { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 5_000 },
  // Event invocations wait here (a full queue answers 429) and run a few at a time, each taking a slot of maxConcurrent.
  // The region's default is read when the config is resolved (defaultRegion: AWS_REGION, else this).
  lambda: { keys: [], region: 'us-east-1', eventQueue: { maxQueued: 1000, maxConcurrent: os.availableParallelism() } },
  logs: { perFunction: 100, maxBytes: 64 * 1024 },
} as const satisfies Omit<DaemonConfig, 'functions' | 'declared' | 'insecureRegistries'>;

const checkConfig = TypeCompiler.Compile(DaemonConfigSchema);

// Configs this module resolved: resolving one again (buildServer's, then the Host's) returns it as it is.
const resolvedConfigs = new WeakSet<object>();

/** Validates `input` (from a config file and flags), fills in defaults and freezes the result. */
export function resolveDaemonConfig(input: unknown = {}, source = 'the daemon config'): DaemonConfig {
  if (typeof input === 'object' && input !== null && resolvedConfigs.has(input)) return input as DaemonConfig;
  const resolved = resolveInput(input, source);
  resolvedConfigs.add(resolved);
  return resolved;
}

/** `config` with other per-function overrides, resolved as it was. */
export function withFunctionOverrides(config: DaemonConfig, functions: Record<string, FunctionOverrides>): DaemonConfig {
  const changed = Object.freeze({ ...config, functions });
  resolvedConfigs.add(changed);
  return changed;
}

function resolveInput(input: unknown, source: string): DaemonConfig {
  const invalid = (problem: string) =>
    new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `${source}: ${problem}`, { hint: 'see "Configuration" in docs/DAEMON.md' });
  const problem = schemaProblem(checkConfig, input, 'the config');
  if (problem) throw invalid(problem);
  const config = input as DaemonConfigInput;
  const { overrides, declared, problem: functionsProblem } = normalizeFunctions(config.functions);
  if (functionsProblem) throw invalid(functionsProblem);
  const poolProblem = [
    poolSettingsProblem(config.pool, 'pool'),
    ...Object.entries(overrides).map(([name, override]) => poolSettingsProblem(override.pool, `functions.${name}.pool`)),
  ].find((p) => p !== undefined);
  if (poolProblem) throw invalid(poolProblem);
  const headersTimeoutMs = config.http?.headersTimeoutMs ?? DEFAULTS.http.headersTimeoutMs;
  const requestTimeoutMs = config.http?.requestTimeoutMs ?? DEFAULTS.http.requestTimeoutMs;
  // Node refuses a headers deadline past the whole request's.
  if (headersTimeoutMs > requestTimeoutMs) {
    throw invalid(`field "http.headersTimeoutMs" (${headersTimeoutMs}) is over "http.requestTimeoutMs" (${requestTimeoutMs})`);
  }
  return Object.freeze({
    startMode: config.startMode ?? DEFAULTS.startMode,
    warm: { max: config.warm?.max ?? DEFAULTS.warm.max, idleMs: config.warm?.idleMs ?? DEFAULTS.warm.idleMs },
    pool: {
      size: config.pool?.size ?? DEFAULTS.pool.size,
      minSize: config.pool?.minSize ?? DEFAULTS.pool.minSize,
      maxSize: config.pool?.maxSize ?? DEFAULTS.pool.maxSize,
      burst: config.pool?.burst ?? DEFAULTS.pool.burst,
      maxIdleSeconds: config.pool?.maxIdleSeconds ?? DEFAULTS.pool.maxIdleSeconds,
      hooks: config.pool?.hooks ?? DEFAULTS.pool.hooks,
    },
    maxConcurrent: config.maxConcurrent ?? DEFAULTS.maxConcurrent,
    maxQueued: config.maxQueued ?? DEFAULTS.maxQueued,
    queueTimeoutMs: config.queueTimeoutMs ?? DEFAULTS.queueTimeoutMs,
    fallback: config.fallback ?? DEFAULTS.fallback,
    bodyLimitBytes: config.bodyLimitBytes ?? DEFAULTS.bodyLimitBytes,
    resultLimitBytes: config.resultLimitBytes ?? DEFAULTS.resultLimitBytes,
    shutdownTimeoutMs: config.shutdownTimeoutMs ?? DEFAULTS.shutdownTimeoutMs,
    builds: {
      maxConcurrent: config.builds?.maxConcurrent ?? DEFAULTS.builds.maxConcurrent,
      maxQueued: config.builds?.maxQueued ?? DEFAULTS.builds.maxQueued,
      queueTimeoutMs: config.builds?.queueTimeoutMs ?? DEFAULTS.builds.queueTimeoutMs,
    },
    criuDeadlines: { ...config.criuDeadlines },
    functionsRoots: config.functionsRoots ?? DEFAULTS.functionsRoots,
    http: {
      headersTimeoutMs,
      requestTimeoutMs,
      keepAliveTimeoutMs: config.http?.keepAliveTimeoutMs ?? DEFAULTS.http.keepAliveTimeoutMs,
    },
    lambda: {
      keys: config.lambda?.keys ?? DEFAULTS.lambda.keys,
      region: config.lambda?.region ?? defaultRegion(),
      eventQueue: {
        maxQueued: config.lambda?.eventQueue?.maxQueued ?? DEFAULTS.lambda.eventQueue.maxQueued,
        maxConcurrent: config.lambda?.eventQueue?.maxConcurrent ?? DEFAULTS.lambda.eventQueue.maxConcurrent,
      },
    },
    logs: {
      perFunction: config.logs?.perFunction ?? DEFAULTS.logs.perFunction,
      maxBytes: config.logs?.maxBytes ?? DEFAULTS.logs.maxBytes,
    },
    functions: overrides,
    declared,
    ...(config.registryCredentials !== undefined && { registryCredentials: config.registryCredentials }),
    insecureRegistries: config.insecureRegistries ?? [],
  });
}

// Both forms of `functions` as overrides by name plus the declared references; a name declared twice is refused.
function normalizeFunctions(functions: DaemonConfigInput['functions']): {
  overrides: Record<string, FunctionOverrides>;
  declared: DeclaredFunction[];
  problem?: string;
} {
  if (!Array.isArray(functions)) return { overrides: functions ?? {}, declared: [] };
  const overrides: Record<string, FunctionOverrides> = {};
  const declared: DeclaredFunction[] = [];
  for (const [index, { name, bundle, ...override }] of functions.entries()) {
    if (overrides[name]) return { overrides, declared, problem: `field "functions[${index}].name": "${name}" is declared twice` };
    overrides[name] = override;
    declared.push({ name, bundle });
  }
  return { overrides, declared };
}

export interface FunctionSettings {
  startMode: StartMode;
  warm: WarmPolicy;
  pool: ClonePolicy;
}

/** A function's start mode, warm-pool and clone-pool policies: daemon override, else function.json, else daemon default. */
export function functionSettings(config: DaemonConfig, spec: FunctionSpec): FunctionSettings {
  const override = config.functions[spec.name];
  return {
    startMode: override?.startMode ?? spec.startMode ?? config.startMode,
    warm: {
      max: override?.warm?.max ?? spec.warm?.max ?? config.warm.max,
      idleMs: override?.warm?.idleMs ?? spec.warm?.idleMs ?? config.warm.idleMs,
    },
    pool: {
      size: override?.pool?.size ?? spec.pool?.size ?? config.pool.size,
      minSize: override?.pool?.minSize ?? spec.pool?.minSize ?? config.pool.minSize,
      maxSize: override?.pool?.maxSize ?? spec.pool?.maxSize ?? config.pool.maxSize,
      burst: override?.pool?.burst ?? spec.pool?.burst ?? config.pool.burst,
      maxIdleSeconds: override?.pool?.maxIdleSeconds ?? spec.pool?.maxIdleSeconds ?? config.pool.maxIdleSeconds,
      hooks: override?.pool?.hooks ?? spec.pool?.hooks ?? config.pool.hooks,
    },
  };
}
