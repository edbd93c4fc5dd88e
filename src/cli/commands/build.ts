import type { Command } from 'commander';
import { createBuildReporter } from '../../bake/progress.ts';
import type { Host } from '../../host/host.ts';
import { type CliSession, formatBytes, formatMs, type GlobalOptions, openHost } from '../context.ts';

export function registerBuild(program: Command, { io, instances }: CliSession): void {
  program
    .command('build')
    .description('run functions to readiness (plus warm-ups), checkpoint them with criu, store the images')
    .argument('<dir...>', 'function directories (each with a function.json)')
    .option('--logs', "print the function's output during init and warm-up to stderr")
    .option('--strict', 'fail the build when clones of the image share state that plain starts do not')
    .option('--replace', 'take the function name even when another directory holds it (its image is replaced)')
    .action(async (dirs: string[], options: { logs?: boolean; strict?: boolean; replace?: boolean }, command: Command) => {
      const host = await openHost(command.optsWithGlobals<GlobalOptions>(), instances);
      for (const dir of dirs) {
        const reporter = createBuildReporter(io.stderr);
        let built: Awaited<ReturnType<Host['register']>>['outcome'];
        try {
          ({ outcome: built } = await host.register(dir, { replace: options.replace, strict: options.strict, onEvent: reporter.listener }));
        } finally {
          reporter.finish();
        }
        const { meta } = built;
        if (options.logs && built.logs) io.stderr.write(built.logs);
        for (const warning of built.warnings) io.stderr.write(`prebake: warning: function "${meta.name}": ${warning}\n`);
        io.stdout.write(
          `built ${meta.name} (${meta.runtime}): image ${formatBytes(meta.imageBytes)}, init ${formatMs(meta.initMs)}, ` +
            `${meta.warmupInvocations} warm-up(s), build ${formatMs(meta.buildMs)}\n`,
        );
      }
    });
}
