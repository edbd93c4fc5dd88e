import { describe, expect, it } from 'vitest';
import { PoolSizer, poolTarget, RATE_TIME_CONSTANT_MS } from '../../src/manager/pool-size.ts';

const sizing = { minSize: 1, maxSize: 8, burst: 1 };

/** A sizer on a clock the test moves. */
function sizerAt(start = 0, bounds = sizing) {
  const clock = { now: start };
  return { clock, sizer: new PoolSizer(bounds, () => clock.now) };
}

/** `count` arrivals `everyMs` apart, the first `everyMs` from now. */
function arrive(s: ReturnType<typeof sizerAt>, count: number, everyMs: number) {
  for (let i = 0; i < count; i++) {
    s.clock.now += everyMs;
    s.sizer.arrival();
  }
  return s.sizer.current;
}

describe('poolTarget', () => {
  it('is the arrivals expected during one refill, rounded up, plus the burst margin', () => {
    // 4/s x 0.75 s = 3 arrivals during a refill, + 1.
    expect(poolTarget(4, 750, sizing)).toBe(4);
    // 3.2 arrivals round up to 4.
    expect(poolTarget(4, 800, sizing)).toBe(5);
    // Nothing measured yet: the margin alone.
    expect(poolTarget(4, undefined, { ...sizing, burst: 2 })).toBe(2);
  });

  it('stays within minSize and maxSize, and maxSize wins where they cross', () => {
    expect(poolTarget(0, undefined, { minSize: 3, maxSize: 8, burst: 1 })).toBe(3);
    expect(poolTarget(100, 1000, { minSize: 1, maxSize: 8, burst: 1 })).toBe(8);
    expect(poolTarget(0, undefined, { minSize: 0, maxSize: 8, burst: 0 })).toBe(0);
    expect(poolTarget(0, undefined, { minSize: 5, maxSize: 3, burst: 0 })).toBe(3);
  });
});

describe('PoolSizer', () => {
  it('starts at the margin within the bounds, with no rate and no refill time', () => {
    expect(sizerAt().sizer.current).toEqual({ target: 1, ratePerSecond: 0 });
    expect(sizerAt(0, { minSize: 0, maxSize: 8, burst: 2 }).sizer.current).toEqual({ target: 2, ratePerSecond: 0 });
  });

  it('reads a steady arrival rate, however it started', () => {
    const s = sizerAt(123_456);
    // Five a second for ten time constants.
    const { ratePerSecond } = arrive(s, (10 * RATE_TIME_CONSTANT_MS) / 200, 200);
    expect(ratePerSecond).toBeGreaterThan(4.9);
    expect(ratePerSecond).toBeLessThan(5.2);
  });

  it('sizes the pool from the rate and the refill time, and recomputes at each arrival and refill', () => {
    const s = sizerAt();
    // Four a second for ten time constants: the rate reads ~4.
    arrive(s, 400, 250);
    // No refill measured yet: the margin alone, whatever the rate.
    expect(s.sizer.current.target).toBe(1);
    // ~4/s x 0.3 s = ~1.2, rounded up, + 1.
    expect(s.sizer.refilled(300)).toMatchObject({ target: 3, refillMs: 300 });
    // A slower refill (the host got busy) moves the average a third of the way: 300 + (1200 - 300) / 3 = 600;
    // ~4/s x 0.6 s = ~2.4, rounded up, + 1.
    expect(s.sizer.refilled(1200)).toMatchObject({ target: 4, refillMs: 600 });
    // Twenty a second now: the rate climbs and the target hits maxSize.
    arrive(s, 400, 50);
    expect(s.sizer.current.target).toBe(8);
  });

  it('lowers the target when arrivals slow down, at the next arrival or refill', () => {
    const s = sizerAt();
    // Five a second for five time constants: ~5/s x 0.5 s, rounded up, + 1.
    arrive(s, 250, 200);
    const busy = s.sizer.refilled(500);
    expect(busy.target).toBe(4);
    // Time alone changes nothing: the target is what the last arrival or refill computed.
    s.clock.now += 3 * RATE_TIME_CONSTANT_MS;
    expect(s.sizer.current).toBe(busy);
    // One arrival after three time constants: ~5 x e^-3 + 0.1 = ~0.35/s, x 0.5 s rounds up to 1, + 1.
    const quiet = s.sizer.arrival();
    expect(quiet.ratePerSecond).toBeLessThan(busy.ratePerSecond / 10);
    expect(quiet.target).toBe(2);
  });
});
