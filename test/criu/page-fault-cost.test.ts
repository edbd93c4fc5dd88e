// The host's page-fault cost (src/criu/page-fault-cost.ts): the sentence for a fast and a slow host, and the
// real probe on this one.
import { describe, expect, it } from 'vitest';
import { judgePageFaults, measurePageFaultCost, SLOW_FAULT_US } from '../../src/criu/page-fault-cost.ts';

describe('page-fault cost', () => {
  it('calls a host slow above the threshold and names the start modes that pay off there', () => {
    // Ours (~1.9 us) and the hypervisor of issue 23 (16.5 us per 4 KiB).
    const fast = judgePageFaults(1.9, 0.3);
    expect(fast.slow).toBe(false);
    expect(fast.detail).toBe(
      '1.90 us per 4 KiB fault, 0.30 us per 4 KiB with MADV_HUGEPAGE (8 MB, best of 3): fast: a prebaked start pays ~4.9 ms per 10 MB of image in faults (~0.8 ms where criu fills with huge pages)',
    );
    const slow = judgePageFaults(16.5, 5);
    expect(slow.slow).toBe(true);
    expect(slow.detail).toMatch(
      /: slow: a prebaked start pays ~42.2 ms per 10 MB of image in faults \(~12.8 ms where criu fills with huge pages\) .*pooled and fork modes move the faults off the request path$/,
    );
    expect(judgePageFaults(SLOW_FAULT_US, 1).slow).toBe(false);
  });

  it('measures this host', async () => {
    const cost = await measurePageFaultCost();
    expect(cost.fourKUs).toBeGreaterThan(0);
    expect(cost.hugeUs).toBeGreaterThan(0);
    expect(cost.slow).toBe(cost.fourKUs > SLOW_FAULT_US);
  });
});
