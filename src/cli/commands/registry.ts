// prebake push / pull: a function's bundle through any registry that speaks the OCI distribution API.
import type { Command } from 'commander';
import { parseReference } from '../../registry/reference.ts';
import { type CliSession, cliHost, formatBytes, type GlobalOptions } from '../context.ts';
import { describeImport, type ImportFlags, withImportFlags } from './bundle.ts';

export function registerRegistry(program: Command, { io }: CliSession): void {
  program
    .command('push')
    .description("store a function's bundle in an OCI registry (only the blobs it lacks are uploaded)")
    .argument('<name>', 'a built function')
    .argument('<ref>', '<registry>/<repository>:<tag>, e.g. 127.0.0.1:5000/functions/hello:v1')
    .action(async (name: string, refText: string, _options: unknown, command: Command) => {
      const ref = parseReference(refText);
      const pushed = await cliHost(command.optsWithGlobals<GlobalOptions>()).push(name, ref);
      io.stdout.write(
        `pushed ${name} to ${refText} (${pushed.digest}): ${pushed.uploaded.blobs} blob(s) uploaded (${formatBytes(pushed.uploaded.bytes)}), ` +
          `${pushed.present.blobs} already there (${formatBytes(pushed.present.bytes)})\n`,
      );
    });

  withImportFlags(program.command('pull'))
    .description('fetch a bundle from an OCI registry and import it (verified as any bundle)')
    .argument('<ref>', '<registry>/<repository>:<tag> or <registry>/<repository>@sha256:<digest>')
    .action(async (refText: string, options: ImportFlags, command: Command) => {
      const host = cliHost(command.optsWithGlobals<GlobalOptions>());
      const { outcome } = await host.pull(parseReference(refText), { force: options.force, name: options.name });
      io.stdout.write(describeImport(outcome));
    });
}
