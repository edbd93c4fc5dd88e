import type { Command } from 'commander';
import { isPrebakeError, PrebakeError } from '../../errors.ts';
import { type CliSession, type GlobalOptions, openHost } from '../context.ts';

export function registerVerify(program: Command, { io }: CliSession): void {
  program
    .command('verify')
    .description("check built functions' images against the sha256 of every file recorded at build")
    .argument('[name...]', 'function names (default: every built function)')
    .action(async (names: string[], _options: unknown, command: Command) => {
      const host = await openHost(command.optsWithGlobals<GlobalOptions>());
      const targets = names.length > 0 ? names : (await host.store.list()).map((meta) => meta.name);
      const corrupt: PrebakeError[] = [];
      for (const name of targets) {
        try {
          const { files } = await host.verify(name);
          io.stdout.write(`ok ${name} (${files} files)\n`);
        } catch (error) {
          if (!isPrebakeError(error, 'PREBAKE_ERR_IMAGE_CORRUPT')) throw error;
          io.stdout.write(`CORRUPT ${name}\n`);
          corrupt.push(error);
        }
      }
      if (corrupt.length === 1) throw corrupt[0];
      if (corrupt.length > 1) {
        throw new PrebakeError(
          'PREBAKE_ERR_IMAGE_CORRUPT',
          `${corrupt.length} images are corrupt: ${corrupt.map((e) => e.message).join('; ')}`,
          {
            hint: 'rebuild them with prebake build',
          },
        );
      }
    });
}
