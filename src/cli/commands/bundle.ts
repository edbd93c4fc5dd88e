// prebake export / import: a function's snapshot as one tar stream (docs/BUNDLES.md), to a file or a pipe.
import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import type { ImportResult } from '../../bundle/import.ts';
import { PrebakeError } from '../../errors.ts';
import { type CliSession, cliHost, formatBytes, type GlobalOptions } from '../context.ts';

/** Writes `stream` to `file` through a temp name, so a failed export never leaves a file that looks whole. */
async function writeAtomically(stream: Readable, file: string): Promise<void> {
  const temp = `${file}.partial-${process.pid}`;
  try {
    await pipeline(stream, createWriteStream(temp, { flags: 'wx' }));
    await rename(temp, file);
  } finally {
    await rm(temp, { force: true });
  }
}

async function openBundleFile(file: string): Promise<Readable> {
  const handle = await open(file).catch((error: Error) => {
    throw new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `cannot read the bundle ${file}: ${error.message}`, { cause: error });
  });
  return handle.createReadStream();
}

/** What `import` and `pull` both take. */
export interface ImportFlags {
  force?: boolean;
  name?: string;
}

/** The options of `import` and `pull`, which publish a bundle the same way. */
export function withImportFlags(command: Command): Command {
  return command
    .option('--force', 'import a bundle from an incompatible host anyway, marked for rebuild')
    .option('--name <name>', "publish the function under this name instead of the bundle's");
}

export function describeImport(result: ImportResult): string {
  const { meta } = result;
  const marked = result.rebuildReason ? `; marked for rebuild: ${result.rebuildReason}` : '';
  return `imported ${meta.name} (${meta.runtime}, build ${meta.buildId}): image ${formatBytes(meta.imageBytes)}${marked}\n`;
}

export function registerBundle(program: Command, { io }: CliSession): void {
  program
    .command('export')
    .description("write a function's image, code and environment fingerprint as one tar stream")
    .argument('<name>', 'a built function')
    .option('-o, --output <file>', 'write the bundle to FILE (default: stdout)')
    .action(async (name: string, options: { output?: string }, command: Command) => {
      const host = cliHost(command.optsWithGlobals<GlobalOptions>());
      if (!options.output && io.stdout.isTTY) {
        throw new PrebakeError('PREBAKE_ERR_INVALID_INPUT', 'a bundle is binary: not writing it to a terminal', {
          hint: 'use -o FILE or a pipe',
        });
      }
      const bundle = await host.exportBundle(name);
      if (options.output) await writeAtomically(bundle, options.output);
      else await pipeline(bundle, io.stdout, { end: false });
    });

  withImportFlags(program.command('import'))
    .description('verify a bundle and publish its function into the store')
    .argument('<file>', 'a bundle file, or - for stdin')
    .action(async (file: string, options: ImportFlags, command: Command) => {
      const host = cliHost(command.optsWithGlobals<GlobalOptions>());
      const input = file === '-' ? io.stdin : await openBundleFile(file);
      const { outcome } = await host.importBundle(input, { force: options.force, name: options.name });
      io.stdout.write(describeImport(outcome));
    });
}
