// prebake push / pull: a function's bundle through any registry that speaks the OCI distribution API.
import type { Command } from 'commander';
import { credentialsOption } from '../../registry/credentials.ts';
import { parseReference } from '../../registry/reference.ts';
import { type CliSession, cliHost, formatBytes, type GlobalOptions } from '../context.ts';
import { describeImport, type ImportFlags, withImportFlags } from './bundle.ts';

interface CredentialsFlag {
  credentials?: string;
}

function withCredentialsFlag(command: Command): Command {
  return command.option(
    '--credentials <file>',
    "registry logins in docker's config.json format, used when a registry asks for one " +
      '(default: $DOCKER_CONFIG/config.json, else ~/.docker/config.json, when it exists)',
  );
}

export function registerRegistry(program: Command, { io }: CliSession): void {
  withCredentialsFlag(program.command('push'))
    .description("store a function's bundle in an OCI registry (only the blobs it lacks are uploaded)")
    .argument('<name>', 'a built function')
    .argument('<ref>', '<registry>/<repository>:<tag>, e.g. 127.0.0.1:5000/functions/hello:v1')
    .action(async (name: string, refText: string, options: CredentialsFlag, command: Command) => {
      const ref = parseReference(refText);
      const credentials = await credentialsOption(options.credentials);
      const pushed = await cliHost(command.optsWithGlobals<GlobalOptions>()).push(name, ref, { credentials });
      io.stdout.write(
        `pushed ${name} to ${refText} (${pushed.digest}): ${pushed.uploaded.blobs} blob(s) uploaded (${formatBytes(pushed.uploaded.bytes)}), ` +
          `${pushed.present.blobs} already there (${formatBytes(pushed.present.bytes)})\n`,
      );
    });

  withCredentialsFlag(withImportFlags(program.command('pull')))
    .description('fetch a bundle from an OCI registry and import it (verified as any bundle)')
    .argument('<ref>', '<registry>/<repository>:<tag> or <registry>/<repository>@sha256:<digest>')
    .action(async (refText: string, options: ImportFlags & CredentialsFlag, command: Command) => {
      const ref = parseReference(refText);
      const credentials = await credentialsOption(options.credentials);
      const host = cliHost(command.optsWithGlobals<GlobalOptions>());
      const { outcome } = await host.pull(ref, { force: options.force, name: options.name, credentials });
      io.stdout.write(describeImport(outcome));
    });
}
