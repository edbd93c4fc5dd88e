import type { Command } from 'commander';
import { buildFunction } from '../../bake/build.ts';
import { createBuildReporter } from '../../bake/progress.ts';
import type { InstanceRegistry } from '../../instance/registry.ts';
import { loadFunction } from '../../manifest/load.ts';
import { formatBytes, formatMs, type GlobalOptions, openStore } from '../context.ts';

export function registerBuild(program: Command, instances: InstanceRegistry): void {
  program
    .command('build')
    .description('run functions to readiness (plus warm-ups), checkpoint them with criu, store the images')
    .argument('<dir...>', 'function directories (each with a function.json)')
    .option('--logs', "print the function's output during init and warm-up to stderr")
    .option('--strict', 'fail the build when clones of the image share state that plain starts do not')
    .action(async (dirs: string[], options: { logs?: boolean; strict?: boolean }, command: Command) => {
      const { store, criu } = await openStore(command.optsWithGlobals<GlobalOptions>());
      for (const dir of dirs) {
        const fn = await loadFunction(dir);
        const reporter = createBuildReporter(process.stderr);
        let built: Awaited<ReturnType<typeof buildFunction>>;
        try {
          built = await buildFunction(fn, { store, criu, instances, strict: options.strict, onEvent: reporter.listener });
        } finally {
          reporter.finish();
        }
        if (options.logs && built.logs) process.stderr.write(built.logs);
        for (const warning of built.warnings) process.stderr.write(`prebake: warning: function "${fn.name}": ${warning}\n`);
        const { meta } = built;
        process.stdout.write(
          `built ${meta.name} (${meta.runtime}): image ${formatBytes(meta.imageBytes)}, init ${formatMs(meta.initMs)}, ` +
            `${meta.warmupInvocations} warm-up(s), build ${formatMs(meta.buildMs)}\n`,
        );
      }
    });
}
