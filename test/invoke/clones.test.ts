// Clones restored from one image start with the same memory; prebake must make each one's randomness its own
// and keep time behaving.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { invokeFunction } from '../../src/invoke/invoke.ts';
import { makeSandbox, type Sandbox, settled } from '../helpers.ts';

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await makeSandbox();
  await sandbox.build('faulty-node');
});

afterAll(async () => {
  try {
    expect(await settled(() => sandbox.processes())).toEqual([]);
  } finally {
    await sandbox.cleanup();
  }
});

const invoke = async (event: unknown) =>
  JSON.parse(
    (
      await invokeFunction(
        { target: 'faulty-node', event: JSON.stringify(event), mode: 'prebaked' },
        sandbox.store,
        sandbox.criu,
        sandbox.instances,
      )
    ).result,
  );

describe('node clones', () => {
  it('never share random values', async () => {
    const clones = await Promise.all([1, 2, 3, 4].map(() => invoke({ random: true })));
    for (const key of ['mathRandom', 'randomUUID', 'webcryptoUUID', 'randomBytes', 'getRandomValues', 'randomInt']) {
      const values = clones.map((clone) => clone[key]);
      expect(values.every((v) => v !== undefined)).toBe(true);
      expect(new Set(values).size, `${key} repeated across clones: ${values.join(', ')}`).toBe(values.length);
    }
    expect(clones.every((c) => c.mathRandom >= 0 && c.mathRandom < 1)).toBe(true);
  });

  it('keep timers working after restore', async () => {
    const { sleptMs } = await invoke({ sleepMs: 200 });
    expect(sleptMs).toBeGreaterThanOrEqual(195);
    expect(sleptMs).toBeLessThan(5_000);
  });

  it('see the current wall clock, not the snapshot time', async () => {
    const before = Date.now();
    const { now, initializedAt } = await invoke({});
    const after = Date.now();
    // Init ran at build time, before this test asked; a clock stuck at the snapshot would read near it.
    expect(initializedAt).toBeLessThan(before);
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(after);
    const { remainingMs } = await invoke({});
    // The deadline is in wall-clock time: a clone whose clock were stuck at snapshot time would see far more.
    expect(remainingMs).toBeGreaterThan(0);
    expect(remainingMs).toBeLessThanOrEqual(3000);
  });
});
