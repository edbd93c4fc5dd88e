// The JSON results file: every run and the summary, in snake_case for other tools (pandas, jq, a notebook).
import type { BenchRun } from './bench.ts';
import type { Summary } from './stats.ts';
import { speedups, summarizeArm } from './summary.ts';

export const BENCH_JSON_FORMAT = 1;

function stats(summary: Summary | undefined): Record<string, number> | null {
  if (!summary) return null;
  const { n, p50, p95, p99, min, max, mean } = summary;
  return { n, p50, p95, p99, min, max, mean };
}

export function benchJson(run: BenchRun): Record<string, unknown> {
  const summaries = run.arms.map(summarizeArm);
  return {
    format: BENCH_JSON_FORMAT,
    started_at: run.startedAt,
    finished_at: run.finishedAt,
    // False in a file written while the bench ran (after each function): an interrupted bench leaves it so.
    complete: run.complete,
    config: { runs: run.runs, warmups: run.warmups, modes: run.modes, percentile_method: 'linear interpolation (type 7)' },
    machine: {
      cpu_model: run.machine.cpuModel,
      cores: run.machine.cores,
      memory_mb: run.machine.memoryMb,
      kernel: run.machine.kernel,
      distro: run.machine.distro,
      virtualization: run.machine.virtualization,
      node: run.machine.node,
      instance_node: run.machine.instanceNode,
      criu: run.machine.criu,
      criu_kdat_cache: run.machine.criuKdatCache,
      criu_build: run.machine.criuBuild,
      huge_page_fill: run.machine.hugePageFill,
      hardware_breakpoints: run.machine.hardwareBreakpoints,
      page_fault_4k_us: run.machine.pageFault4kUs,
      page_fault_huge_us: run.machine.pageFaultHugeUs,
      page_faults: run.machine.pageFaults,
      runtimes: run.machine.runtimes,
      load_average: { start: run.load.start, end: run.load.end },
    },
    results: run.arms.map((arm, i) => {
      const s = summaries[i]!;
      return {
        function: arm.functionName,
        runtime: arm.runtime,
        mode: arm.mode,
        runs: s.runs,
        failures: s.failures,
        startup_ms: stats(s.startup),
        e2e_ms: stats(s.e2e),
        handler_ms: stats(s.handler),
        teardown_ms: stats(s.teardown),
        rss_mb: stats(s.rss),
        pss_mb: stats(s.pss),
        samples: arm.samples.map((x) => ({
          run: x.run,
          at: x.at,
          ok: x.ok,
          ...(x.error !== undefined && { error: x.error }),
          startup_ms: x.startMs,
          e2e_ms: x.e2eMs,
          handler_ms: x.handlerMs,
          teardown_ms: x.teardownMs,
          rss_mb: x.rssMb ?? null,
          pss_mb: x.pssMb ?? null,
        })),
      };
    }),
    speedups: speedups(summaries).map((r) => ({
      function: r.functionName,
      baseline: r.baseline,
      mode: r.mode,
      startup_p50: r.startupP50 ?? null,
      startup_p95: r.startupP95 ?? null,
      e2e_p50: r.e2eP50 ?? null,
      e2e_p95: r.e2eP95 ?? null,
    })),
    images: run.images.map((i) => ({ function: i.functionName, kind: i.kind, bytes: i.bytes, build_ms: i.buildMs, warmups: i.warmups })),
    skipped: run.skipped.map((s) => ({
      function: s.functionName,
      mode: s.mode,
      code: s.code ?? null,
      reason: s.reason,
      hint: s.hint ?? null,
    })),
  };
}
