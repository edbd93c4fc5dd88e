// What a page fault costs on this host (native/page-fault-probe): a prebaked start fills its whole image into
// fresh memory, so where a fault is slow (16.5 us per 4 KiB on one hypervisor, ~1.9 us on ours: issue 23) a
// restore gains little over a cold start, while pooled clones and fork children fault before the request.
import { hostProbePath, runHostProbe } from './host-probe.ts';

const PROBE = hostProbePath('page-fault-probe');
const PROBE_MB = 8;
// Above this a 10 MB image costs over 10 ms of faults alone, the order of a small function's whole restore.
export const SLOW_FAULT_US = 4;

export interface PageFaultCost {
  /** Microseconds per fresh 4 KiB anonymous page, and per 4 KiB of a MADV_HUGEPAGE region. */
  fourKUs: number;
  hugeUs: number;
  slow: boolean;
  /** A sentence for doctor and bench: the numbers and which start modes pay off here. */
  detail: string;
}

/** Runs native/page-fault-probe (about 3 x 2 x 8 MB touched); throws when it cannot. */
export async function measurePageFaultCost(probe = PROBE): Promise<PageFaultCost> {
  const { line } = await runHostProbe(probe, [String(PROBE_MB)], 10_000);
  const match = /^4k ([\d.]+) huge ([\d.]+)$/.exec(line);
  if (!match) throw new Error(`${probe} failed: it said "${line}"`);
  return judgePageFaults(Number(match[1]), Number(match[2]));
}

/** The sentence for measured costs. */
export function judgePageFaults(fourKUs: number, hugeUs: number): PageFaultCost {
  const slow = fourKUs > SLOW_FAULT_US;
  const per10Mb = (us: number) => (us * 2560) / 1000;
  const pays = `a prebaked start pays ~${per10Mb(fourKUs).toFixed(1)} ms per 10 MB of image in faults (~${per10Mb(hugeUs).toFixed(1)} ms where criu fills with huge pages)`;
  const verdict = slow
    ? `slow: ${pays} and may gain little over a cold start; pooled and fork modes move the faults off the request path`
    : `fast: ${pays}`;
  return {
    fourKUs,
    hugeUs,
    slow,
    detail: `${fourKUs.toFixed(2)} us per 4 KiB fault, ${hugeUs.toFixed(2)} us per 4 KiB with MADV_HUGEPAGE (${PROBE_MB} MB, best of 3): ${verdict}`,
  };
}
