import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { createBuildReporter } from '../../bake/progress.ts';
import { type BenchRun, runBench } from '../../bench/bench.ts';
import { benchChart } from '../../bench/chart.ts';
import { benchJson } from '../../bench/json.ts';
import { DEFAULT_MODES, parseModes } from '../../bench/modes.ts';
import { createProgress } from '../../bench/progress.ts';
import { formatFunctionReport, formatReportFooter } from '../../bench/report.ts';
import { checkEvent } from '../../invoke/event.ts';
import { type CliSession, type GlobalOptions, openHost, readEventOption } from '../context.ts';
import { wholeNumber } from '../options.ts';

interface BenchCommandOptions {
  runs: number;
  warmups: number;
  modes: string;
  data?: string;
  json?: string;
  chart?: string;
  replace?: boolean;
}

// Through a temporary file and a rename: a reader, or a bench killed while writing, never sees half a file.
async function writeOutput(file: string, content: string): Promise<void> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const partial = `${file}.${process.pid}.tmp`;
  await writeFile(partial, content);
  await rename(partial, file);
}

export function registerBench(program: Command, session: CliSession): void {
  const { io, instances } = session;
  program
    .command('bench')
    .description('measure start-up and end-to-end latency, cold against prebaked (and warm), and print a table per function')
    .argument('<function...>', 'function directories (built first when their image is missing or stale) or names of built functions')
    .option('-n, --runs <n>', 'recorded invocations per function and mode', wholeNumber(1, 100_000), 20)
    .option('--warmups <n>', 'unrecorded invocations per function and mode before the runs', wholeNumber(0, 100_000), 1)
    .option(
      '-m, --modes <list>',
      `comma-separated: cold, prebaked, warm, node-snapshot (Node functions), pooled, fork (Python functions)`,
      DEFAULT_MODES.join(','),
    )
    .option(
      '-d, --data <json>',
      "the event of every invocation, as JSON; @FILE reads it from FILE, - from stdin (default: each function's warm-up event)",
    )
    .option('--json <file>', 'write every run and the summary as JSON')
    .option('--chart <file.svg>', 'draw the distributions as an SVG chart')
    .option('--replace', 'build a function whose name another directory holds, taking the name over (as build --replace)')
    .action(async (targets: string[], options: BenchCommandOptions, command: Command) => {
      const { runs, warmups } = options;
      const modes = parseModes(options.modes);
      const event = options.data === undefined ? undefined : await readEventOption(options.data, io.stdin);
      if (event !== undefined) checkEvent(event);
      const host = await openHost(command.optsWithGlobals<GlobalOptions>(), instances);
      const progress = createProgress(io.stderr);
      const builds = createBuildReporter(io.stderr);
      const printed = new Set<string>();
      // Each function's table as soon as it is done, and the JSON rewritten with it: an interrupted bench
      // leaves what finished.
      const report = async (run: BenchRun) => {
        builds.finish();
        progress.finish();
        for (const name of [...run.arms, ...run.skipped].map((x) => x.functionName)) {
          if (printed.has(name)) continue;
          printed.add(name);
          io.stdout.write(formatFunctionReport(run, name));
        }
        if (options.json) await writeOutput(options.json, `${JSON.stringify(benchJson(run), null, 2)}\n`);
      };
      let run: BenchRun;
      try {
        run = await runBench({
          targets,
          modes,
          runs,
          warmups,
          event,
          host,
          replace: options.replace,
          onNotice: (line) => {
            progress.finish();
            io.stderr.write(`${line}\n`);
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
          onResults: report,
        });
      } finally {
        builds.finish();
        progress.finish();
      }
      await report(run);
      io.stdout.write(formatReportFooter(run));
      if (options.json) io.stderr.write(`wrote ${options.json}\n`);
      if (options.chart) {
        await writeOutput(options.chart, benchChart(run));
        io.stderr.write(`wrote ${options.chart}\n`);
      }
      // A mode that does not apply (fork for Node) is no failure; a function that could not be benched is.
      const unbenched = run.skipped.some((s) => s.code !== undefined && s.code !== 'PREBAKE_ERR_FORK_UNSUPPORTED');
      if (unbenched || run.arms.some((arm) => arm.samples.every((s) => !s.ok))) session.exitCode = 1;
    });
}
