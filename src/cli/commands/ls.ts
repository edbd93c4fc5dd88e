import type { Command } from 'commander';
import { type CliSession, formatBytes, formatMs, type GlobalOptions, openHost } from '../context.ts';

export function registerLs(program: Command, { io }: CliSession): void {
  program
    .command('ls')
    .description('list built functions')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const host = await openHost(command.optsWithGlobals<GlobalOptions>());
      // With whether each source changed since its build (invocations by name keep running the build either way).
      const builds = await host.listBuilds();
      const metas = builds.map((build) => build.meta);
      const sources = builds.map((build) => build.source);
      if (options.json) {
        io.stdout.write(
          `${JSON.stringify(
            metas.map((meta, i) => ({ ...meta, source: sources[i] })),
            null,
            2,
          )}\n`,
        );
        return;
      }
      if (metas.length === 0) {
        io.stdout.write('no functions built yet (prebake build <dir>)\n');
        return;
      }
      const rows = [['NAME', 'RUNTIME', 'IMAGE', 'BUILD', 'BUILT AT', 'NETWORK', 'SOURCE', 'INTERPRETER', 'READ-ONLY PATHS']];
      metas.forEach((m, i) => {
        const interpreter = `${m.interpreter.path} (${m.interpreter.version})`;
        const source = sources[i] === 'unchanged' ? m.spec.dir : `${m.spec.dir} (${sources[i]} since the build)`;
        rows.push([
          m.name,
          m.runtime,
          formatBytes(m.imageBytes),
          formatMs(m.buildMs),
          m.builtAt,
          m.sandbox.network,
          source,
          interpreter,
          m.spec.readOnlyPaths?.join(',') ?? '',
        ]);
      });
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      for (const row of rows)
        io.stdout.write(
          `${row
            .map((cell, i) => cell.padEnd(widths[i]!))
            .join('  ')
            .trimEnd()}\n`,
        );
    });
}
