import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { retryDelayMs } from '../../src/fleet/backoff.ts';
import { declaredConfig } from '../../src/fleet/declared-config.ts';
import { DEFAULTS, functionSettings, resolveDaemonConfig } from '../../src/manager/config.ts';
import { InvocationLogs } from '../../src/manager/invocation-logs.ts';
import type { FunctionSpec } from '../../src/manifest/schema.ts';

const spec = (extra: Partial<FunctionSpec> = {}): FunctionSpec => ({
  name: 'fn',
  dir: '/fn',
  runtime: 'node',
  handler: 'index.handler',
  warmup: { invocations: 0, event: {} },
  timeoutMs: 1000,
  memoryMb: 128,
  maxProcesses: 1024,
  env: {},
  tmpMb: 512,
  network: 'outbound',
  ...extra,
});

describe('the daemon config', () => {
  it('fills in defaults and freezes the result', () => {
    const config = resolveDaemonConfig({});
    expect(config).toMatchObject({ startMode: 'prebaked', fallback: true, bodyLimitBytes: 6 * 1024 * 1024, maxQueued: DEFAULTS.maxQueued });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('bounds builds and HTTP connections by default, and keeps the header deadline within the request deadline', () => {
    const config = resolveDaemonConfig({});
    expect(config.builds.maxConcurrent).toBe(os.availableParallelism());
    expect(config.http).toEqual(DEFAULTS.http);
    expect(config.functionsRoots).toEqual([]);
    expect(() => resolveDaemonConfig({ http: { headersTimeoutMs: 5_000, requestTimeoutMs: 1_000 } })).toThrow(/http\.headersTimeoutMs/);
    expect(() => resolveDaemonConfig({ functionsRoots: ['relative/dir'] })).toThrow(/functionsRoots/);
  });

  it("keeps only the criu deadlines it sets (the others stay the criu's own), and names a bad one", () => {
    expect(resolveDaemonConfig({}).criuDeadlines).toEqual({});
    expect(resolveDaemonConfig({ criuDeadlines: { dumpMs: 300_000 } }).criuDeadlines).toEqual({ dumpMs: 300_000 });
    expect(() => resolveDaemonConfig({ criuDeadlines: { restoreMs: 0 } })).toThrow(/field "criuDeadlines\.restoreMs"/);
    expect(() => resolveDaemonConfig({ criuDeadlines: { restoreS: 30 } })).toThrow(/criuDeadlines/);
  });

  it('names the field that is wrong', () => {
    expect(() => resolveDaemonConfig({ warm: { max: -1 } })).toThrow(/field "warm\.max"/);
    expect(() => resolveDaemonConfig({ pool: { hooks: 'later' } })).toThrow(/field "pool\.hooks"/);
    expect(() => resolveDaemonConfig({ pool: { size: 0 } })).toThrow(/field "pool\.size"/);
    expect(() => resolveDaemonConfig({ pool: { size: 'large' } })).toThrow(/field "pool\.size"/);
    expect(() => resolveDaemonConfig({ pool: { burst: -1 } })).toThrow(/field "pool\.burst"/);
    expect(() => resolveDaemonConfig({ pool: { size: 'auto', maxSize: 0 } })).toThrow(/field "pool\.maxSize"/);
    expect(() => resolveDaemonConfig({ nonsense: 1 })).toThrow('the daemon config: field "nonsense": Unexpected property');
  });

  it('takes an automatic pool size within bounds in order', () => {
    const config = resolveDaemonConfig({ pool: { size: 'auto' } });
    expect(config.pool).toMatchObject({
      size: 'auto',
      minSize: DEFAULTS.pool.minSize,
      maxSize: DEFAULTS.pool.maxSize,
      burst: DEFAULTS.pool.burst,
    });
    expect(() => resolveDaemonConfig({ pool: { size: 'auto', minSize: 5, maxSize: 4 } })).toThrow(
      'the daemon config: field "pool.minSize": 5 is over pool.maxSize (4)',
    );
    expect(() => resolveDaemonConfig({ functions: { fn: { pool: { minSize: 3, maxSize: 2 } } } })).toThrow(
      /field "functions\.fn\.pool\.minSize"/,
    );
    // Bounds from different places are taken as they are (maxSize wins where they cross: pool-size.ts).
    const crossed = resolveDaemonConfig({ pool: { maxSize: 2 }, functions: { fn: { pool: { size: 'auto', minSize: 3 } } } });
    expect(functionSettings(crossed, spec()).pool).toMatchObject({ size: 'auto', minSize: 3, maxSize: 2 });
  });

  it("resolves a function's settings: daemon override, then function.json, then daemon default", () => {
    const config = resolveDaemonConfig({
      startMode: 'prebaked',
      warm: { max: 4, idleMs: 1000 },
      pool: { size: 3 },
      functions: { fn: { warm: { max: 9 }, pool: { hooks: 'assign' } } },
    });
    const pool = { size: 3, minSize: 1, maxSize: 8, burst: 1, maxIdleSeconds: DEFAULTS.pool.maxIdleSeconds, hooks: 'assign' };
    expect(functionSettings(config, spec())).toEqual({ startMode: 'prebaked', warm: { max: 9, idleMs: 1000 }, pool });
    const fnPool = { size: 'auto', minSize: 0, maxSize: 4, burst: 2, maxIdleSeconds: 7, hooks: 'fill' } as const;
    expect(functionSettings(config, spec({ startMode: 'warm', warm: { max: 2, idleMs: 5 }, pool: fnPool }))).toEqual({
      startMode: 'warm',
      warm: { max: 9, idleMs: 5 },
      pool: { ...fnPool, hooks: 'assign' },
    });
  });

  it('takes its own resolved form again (buildServer resolves what serve resolved)', () => {
    const config = resolveDaemonConfig({
      pool: { size: 4, maxIdleSeconds: 30 },
      functions: { fn: { startMode: 'pooled', pool: { size: 'auto', maxSize: 3 } } },
    });
    expect(resolveDaemonConfig(config)).toEqual(config);
  });

  it('takes functions declared by reference (with their overrides) besides the record of overrides', () => {
    const config = resolveDaemonConfig({
      functions: [
        { name: 'fn', bundle: '127.0.0.1:5000/fns/fn:v1', startMode: 'warm', warm: { max: 3 } },
        { name: 'other', bundle: `127.0.0.1:5000/fns/other@sha256:${'a'.repeat(64)}` },
      ],
      registryCredentials: '/etc/prebake/docker-config.json',
    });
    expect(config.declared).toEqual([
      { name: 'fn', bundle: '127.0.0.1:5000/fns/fn:v1' },
      { name: 'other', bundle: `127.0.0.1:5000/fns/other@sha256:${'a'.repeat(64)}` },
    ]);
    expect(functionSettings(config, spec())).toMatchObject({ startMode: 'warm', warm: { max: 3 } });
    expect(config.registryCredentials).toBe('/etc/prebake/docker-config.json');
    expect(resolveDaemonConfig({ functions: { fn: { startMode: 'cold' } } }).declared).toEqual([]);
    expect(() =>
      resolveDaemonConfig({
        functions: [
          { name: 'fn', bundle: 'r/a:1' },
          { name: 'fn', bundle: 'r/b:1' },
        ],
      }),
    ).toThrow(/field "functions\[1\]\.name": "fn" is declared twice/);
    expect(() => resolveDaemonConfig({ functions: [{ name: 'fn' }] })).toThrow(/functions/);
    expect(() => resolveDaemonConfig({ registryCredentials: 'relative.json' })).toThrow(/registryCredentials/);
  });

  it('refuses a config whose declared reference does not parse, naming the entry', () => {
    expect(() => declaredConfig({ functions: [{ name: 'fn', bundle: 'no-registry' }] }, '/etc/prebake.json')).toThrow(
      /\/etc\/prebake\.json: field "functions\[0\]\.bundle": "no-registry" is not a registry reference/,
    );
    const { declared } = declaredConfig({ functions: [{ name: 'fn', bundle: 'localhost:5000/fns/fn:v2' }] }, 'config');
    expect(declared[0]?.ref).toMatchObject({ registry: 'localhost:5000', repository: 'fns/fn', reference: 'v2' });
  });
});

describe('the backoff of failed references', () => {
  it('doubles from the first delay up to the longest, spread by 20% either way', () => {
    const backoff = { firstMs: 1_000, maxMs: 10_000 };
    expect([1, 2, 3, 4, 5, 40].map((attempt) => retryDelayMs(backoff, attempt, () => 0.5))).toEqual([
      1_000, 2_000, 4_000, 8_000, 10_000, 10_000,
    ]);
    expect(retryDelayMs(backoff, 1, () => 0)).toBe(800);
    expect(retryDelayMs(backoff, 1, () => 1)).toBe(1_200);
  });
});

describe('InvocationLogs', () => {
  it('keeps the last invocations per function and the tail of long logs', async () => {
    const logs = new InvocationLogs(2, 8);
    for (const id of ['a', 'b', 'c']) logs.add('fn', { requestId: id, at: '', outcome: 'ok' }, Promise.resolve(`${id} says\nline two`));
    expect(await logs.get('fn', 'a')).toBeUndefined();
    expect((await logs.recent('fn', 5)).map((e) => e.requestId)).toEqual(['c', 'b']);
    expect((await logs.get('fn', 'c'))?.logs).toMatch(/dropped.*\nline two$/);
  });
});
