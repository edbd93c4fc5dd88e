// The pool's policy, with stand-in instances (the pool only looks at whether an instance is still alive).
import { describe, expect, it } from 'vitest';
import { WarmPool } from '../../src/manager/warm-pool.ts';
import type { StartedInstance } from '../../src/start/started.ts';

function fakeInstance(): StartedInstance & { kill(): void } {
  const state = { ended: false, owner: { exitCode: null as number | null }, onEnd: () => {} };
  return {
    instance: state as unknown as StartedInstance['instance'],
    kind: 'prebaked',
    startMs: 1,
    cleanup: async () => {},
    kill: () => (state.owner.exitCode = 137),
  };
}

function pool(max: number, idleMs = 60_000) {
  const ended: StartedInstance[] = [];
  return { pool: new WarmPool('build-1', { max, idleMs }, (s) => ended.push(s)), ended };
}

describe('WarmPool', () => {
  it('lends the most recently returned idle instance first', () => {
    const { pool: p } = pool(3);
    const [a, b] = [fakeInstance(), fakeInstance()];
    expect(p.reserve() && p.reserve()).toBe(true);
    p.put(a, true);
    p.put(b, true);
    expect(p.take()).toBe(b);
    expect(p.take()).toBe(a);
    expect(p.take()).toBeUndefined();
    expect(p.busyCount).toBe(2);
  });

  it('holds at most max instances, idle and busy together', () => {
    const { pool: p } = pool(2);
    expect(p.reserve()).toBe(true);
    expect(p.reserve()).toBe(true);
    expect(p.reserve()).toBe(false);
    p.cancel();
    expect(p.reserve()).toBe(true);
  });

  it('ends an unhealthy instance instead of keeping it, and skips one that died while idle', () => {
    const { pool: p, ended } = pool(2);
    const [sick, dead] = [fakeInstance(), fakeInstance()];
    p.reserve();
    p.reserve();
    p.put(sick, false);
    p.put(dead, true);
    dead.kill();
    expect(p.take()).toBeUndefined();
    expect(ended).toEqual([sick, dead]);
  });

  it('ends an instance idle for idleMs', async () => {
    const { pool: p, ended } = pool(1, 20);
    const a = fakeInstance();
    p.reserve();
    p.put(a, true);
    await expect.poll(() => ended).toEqual([a]);
    expect(p.idleCount).toBe(0);
  });

  it('ends idle instances on close, and busy ones when they come back', () => {
    const { pool: p, ended } = pool(2);
    const [idle, busy] = [fakeInstance(), fakeInstance()];
    p.reserve();
    p.reserve();
    p.put(idle, true);
    p.close();
    expect(ended).toEqual([idle]);
    p.put(busy, true);
    expect(ended).toEqual([idle, busy]);
    expect(p.reserve()).toBe(false);
  });
});
