import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { runBench } from '../../bench/bench.ts';
import { benchChart } from '../../bench/chart.ts';
import { benchJson } from '../../bench/json.ts';
import { DEFAULT_MODES, parseModes } from '../../bench/modes.ts';
import { createProgress } from '../../bench/progress.ts';
import { createBuildReporter } from '../../build/progress.ts';
import { formatReport } from '../../bench/report.ts';
import type { InstanceRegistry } from '../../instance/registry.ts';
import { checkEvent } from '../../invoke/event.ts';
import { openStore, readEventOption, type GlobalOptions } from '../context.ts';
import { wholeNumber } from '../options.ts';

interface BenchCommandOptions {
  runs: number;
  warmups: number;
  modes: string;
  data?: string;
  json?: string;
  chart?: string;
}

async function writeOutput(file: string, content: string): Promise<void> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writeFile(file, content);
}

export function registerBench(program: Command, instances: InstanceRegistry): void {
  program
    .command('bench')
    .description('measure start-up and end-to-end latency, cold against prebaked (and warm), and print a table per function')
    .argument('<function...>', 'function directories (built first when their image is missing or stale) or names of built functions')
    .option('-n, --runs <n>', 'recorded invocations per function and mode', wholeNumber(1, 100_000), 20)
    .option('--warmups <n>', 'unrecorded invocations per function and mode before the runs', wholeNumber(0, 100_000), 1)
    .option('-m, --modes <list>', `comma-separated: cold, prebaked, warm, node-snapshot (Node functions), pooled, fork (Python functions)`, DEFAULT_MODES.join(','))
    .option('-d, --data <json>', "the event of every invocation, as JSON; @FILE reads it from FILE, - from stdin (default: each function's warm-up event)")
    .option('--json <file>', 'write every run and the summary as JSON')
    .option('--chart <file.svg>', 'draw the distributions as an SVG chart')
    .action(async (targets: string[], options: BenchCommandOptions, command: Command) => {
      const { runs, warmups } = options;
      const modes = parseModes(options.modes);
      const event = options.data === undefined ? undefined : await readEventOption(options.data);
      if (event !== undefined) checkEvent(event);
      const { store, criu } = await openStore(command.optsWithGlobals<GlobalOptions>());
      const progress = createProgress(process.stderr);
      const builds = createBuildReporter(process.stderr);
      let run;
      try {
        run = await runBench({
          targets,
          modes,
          runs,
          warmups,
          event,
          store,
          criu,
          instances,
          onNotice: (line) => {
            progress.finish();
            process.stderr.write(`${line}\n`);
          },
          onBuild: (event) => {
            progress.finish();
            builds.listener(event);
          },
          onFunction: (name, measurements) => {
            builds.finish();
            progress.functionStarted(name, measurements);
          },
          onMeasured: (event) => progress.measured(event),
        });
      } finally {
        builds.finish();
        progress.finish();
      }
      process.stdout.write(formatReport(run));
      if (options.json) {
        await writeOutput(options.json, `${JSON.stringify(benchJson(run), null, 2)}\n`);
        process.stderr.write(`wrote ${options.json}\n`);
      }
      if (options.chart) {
        await writeOutput(options.chart, benchChart(run));
        process.stderr.write(`wrote ${options.chart}\n`);
      }
      if (run.arms.some((arm) => arm.samples.every((s) => !s.ok))) process.exitCode = 1;
    });
}
