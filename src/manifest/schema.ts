import { type Static, Type } from '@sinclair/typebox';

export const RUNTIMES = ['node', 'python', 'java'] as const;
/** "outbound" first: the default (docs/SANDBOX.md, "Network"). */
export const NETWORK_MODES = ['outbound', 'none', 'host'] as const;
export type NetworkMode = (typeof NETWORK_MODES)[number];
/** What a stored meta.json may say: images built before "host" had a name called it "default". */
export const STORED_NETWORK_MODES = [...NETWORK_MODES, 'default'] as const;
export type StoredNetworkMode = (typeof STORED_NETWORK_MODES)[number];

export function currentNetworkMode(mode: StoredNetworkMode): NetworkMode {
  return mode === 'default' ? 'host' : mode;
}
export type RuntimeName = (typeof RUNTIMES)[number];

/**
 * How the daemon starts an instance per invocation (docs/DAEMON.md): a fresh restore, a reused one, plain, a
 * fresh clone restored ahead of need, or a child forked from a template restored once (Python only).
 */
export const START_MODES = ['prebaked', 'warm', 'cold', 'pooled', 'fork'] as const;
export type StartMode = (typeof START_MODES)[number];
export const StartModeSchema = Type.Union(START_MODES.map((m) => Type.Literal(m)));

/** Warm-pool settings: the most instances kept for reuse, and how long one may sit idle before it ends. */
export const WarmSettingsSchema = Type.Object(
  {
    max: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
    idleMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 24 * 60 * 60 * 1000 })),
  },
  { additionalProperties: false },
);
export type WarmSettings = Static<typeof WarmSettingsSchema>;

/** When a pooled clone runs its afterRestore hooks: when it is restored into the pool, or handed out. */
export const POOL_HOOKS = ['fill', 'assign'] as const;

/** The most clones one function's pool may keep ready (a fixed size, or an automatic size's bounds). */
export const MAX_POOL_SIZE = 64;
const poolCount = (minimum: number) => Type.Integer({ minimum, maximum: MAX_POOL_SIZE });

/**
 * Clone-pool settings (start mode `pooled`): clones kept ready (a number, or "auto": sized from the arrival rate
 * and the refill time, plus `burst`, within `minSize` and `maxSize`), how long one may wait, when hooks run.
 */
export const PoolSettingsSchema = Type.Object(
  {
    size: Type.Optional(Type.Union([poolCount(1), Type.Literal('auto')])),
    minSize: Type.Optional(poolCount(0)),
    maxSize: Type.Optional(poolCount(1)),
    burst: Type.Optional(poolCount(0)),
    maxIdleSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 24 * 60 * 60 })),
    hooks: Type.Optional(Type.Union(POOL_HOOKS.map((h) => Type.Literal(h)))),
  },
  { additionalProperties: false },
);
export type PoolSettings = Static<typeof PoolSettingsSchema>;

/** Bounds and margin of an automatic pool size where nothing sets them (docs/DAEMON.md says why). */
export const DEFAULT_POOL_SIZING = { minSize: 1, maxSize: 8, burst: 1 } as const;

/**
 * What the schema cannot say of one `pool` object: its bounds in order. `field` is where the object sits ("pool",
 * "functions.fn.pool"). Bounds set in different places (function.json, the daemon's config) cannot be checked
 * where either is read: where they cross, maxSize wins (src/manager/pool-size.ts).
 */
export function poolSettingsProblem(pool: PoolSettings | undefined, field: string): string | undefined {
  if (pool?.minSize === undefined || pool.maxSize === undefined || pool.minSize <= pool.maxSize) return undefined;
  return `field "${field}.minSize": ${pool.minSize} is over ${field}.maxSize (${pool.maxSize})`;
}

// A function's name doubles as a directory name in the image store and a URL segment. It never ends in ".lock":
// the store keeps a function's lock beside its directory as <name>.lock (src/store/store.ts), so a function
// named "x.lock" would sit on the lock of "x".
export const FUNCTION_NAME_PATTERN = '^(?!.*\\.lock$)[a-z0-9][a-z0-9._-]{0,62}$';
const functionName = new RegExp(FUNCTION_NAME_PATTERN);

export function isFunctionName(name: string): boolean {
  return functionName.test(name);
}

export const ManifestSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ pattern: FUNCTION_NAME_PATTERN })),
    runtime: Type.Union(RUNTIMES.map((r) => Type.Literal(r))),
    handler: Type.String({ minLength: 1, maxLength: 256 }),
    warmup: Type.Optional(
      Type.Object(
        {
          invocations: Type.Integer({ minimum: 0, maximum: 1000, default: 0 }),
          event: Type.Optional(Type.Unknown()),
        },
        { additionalProperties: false },
      ),
    ),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 15 * 60 * 1000 })),
    memoryMb: Type.Optional(Type.Integer({ minimum: 16, maximum: 65536 })),
    /** Processes and threads an instance may have at once (cgroup pids.max), as Lambda's 1024. */
    maxProcesses: Type.Optional(Type.Integer({ minimum: 8, maximum: 65536 })),
    /** CPU time an instance may use, in CPUs (0.5: half of one); unlimited when unset. */
    cpus: Type.Optional(Type.Number({ minimum: 0.01, maximum: 1024 })),
    env: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), Type.String())),
    /**
     * The build's clone-uniqueness check: `false` turns it off (for a handler with side effects); `event`
     * is the probe event (default: the warm-up event).
     */
    cloneCheck: Type.Optional(
      Type.Union([Type.Literal(false), Type.Object({ event: Type.Optional(Type.Unknown()) }, { additionalProperties: false })]),
    ),
    /** Size of the instance's private /tmp (a tmpfs), as Lambda's ephemeral storage. */
    tmpMb: Type.Optional(Type.Integer({ minimum: 1, maximum: 10240 })),
    /**
     * "outbound" (default): a network namespace of its own with egress through a user-mode stack, no way to the
     * host's loopback; "none": loopback only; "host": the host's network (any listener on the host is reachable).
     */
    network: Type.Optional(Type.Union(NETWORK_MODES.map((m) => Type.Literal(m)))),
    /**
     * Let the instance create user namespaces of its own (`unshare -U`, a nested sandbox): denied by default, as
     * in Docker's default seccomp profile, since each one opens kernel code to an unprivileged process.
     */
    allowUserNamespaces: Type.Optional(Type.Boolean()),
    /**
     * Host paths an instance may read, mounted read-only at the same path in its view (docs/SANDBOX.md): absolute;
     * checked at build (src/launch/read-only-paths.ts).
     */
    readOnlyPaths: Type.Optional(Type.Array(Type.String({ minLength: 2, maxLength: 4096, pattern: '^/' }), { maxItems: 32 })),
    /** The runtime's binary (python3, node or java): a path (relative to the function's directory) or a name on PATH. */
    interpreter: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    /** Daemon only: the default start mode for this function; the daemon's config can override it. */
    startMode: Type.Optional(StartModeSchema),
    /** Daemon only: warm-pool settings for this function. */
    warm: Type.Optional(WarmSettingsSchema),
    /** Daemon only: clone-pool settings for this function (start mode `pooled`). */
    pool: Type.Optional(PoolSettingsSchema),
  },
  { additionalProperties: false },
);

export type Manifest = Static<typeof ManifestSchema>;

/** A function as prebake uses it: the manifest with its defaults filled in, and where it lives. */
export interface FunctionSpec {
  name: string;
  /** Absolute path of the function's directory. */
  dir: string;
  runtime: RuntimeName;
  handler: string;
  warmup: { invocations: number; event: unknown };
  timeoutMs: number;
  /** A hard limit on the whole instance (cgroup), and the base of Node's heap and Java's -Xmx. */
  memoryMb: number;
  maxProcesses: number;
  cpus?: number;
  env: Record<string, string>;
  /** The build's clone-uniqueness check (src/bake/clone-check.ts): off, or the probe event if set. */
  cloneCheck?: false | { event?: unknown };
  /** Size of the instance's /tmp in MB (docs/SANDBOX.md). */
  tmpMb: number;
  network: NetworkMode;
  /** Whether the instance may create user namespaces (docs/SANDBOX.md, "seccomp"); false when unset. */
  allowUserNamespaces?: boolean;
  /** Host paths mounted read-only at the same path in the view (function.json "readOnlyPaths"); absent when none. */
  readOnlyPaths?: string[];
  /**
   * The interpreter named in function.json (a path, or a name on PATH), else undefined: the runtime's default.
   * A build's instances run the path the build resolved it to (see deployedSpec in src/store/store.ts).
   */
  interpreter?: string;
  /** From the manifest when set there; the daemon's config fills in the rest. */
  startMode?: StartMode;
  warm?: WarmSettings;
  pool?: PoolSettings;
}

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MEMORY_MB = 256;
export const DEFAULT_MAX_PROCESSES = 1024;
export const DEFAULT_TMP_MB = 512;
