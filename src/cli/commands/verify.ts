import type { Command } from 'commander';
import { isPrebakeError, PrebakeError } from '../../errors.ts';
import { type GlobalOptions, openStore } from '../context.ts';

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description("check built functions' images against the sha256 of every file recorded at build")
    .argument('[name...]', 'function names (default: every built function)')
    .action(async (names: string[], _options: unknown, command: Command) => {
      const { store } = await openStore(command.optsWithGlobals<GlobalOptions>());
      const targets = names.length > 0 ? names : (await store.list()).map((meta) => meta.name);
      const corrupt: PrebakeError[] = [];
      for (const name of targets) {
        const image = await store.get(name);
        if (!image) {
          throw new PrebakeError('PREBAKE_ERR_UNKNOWN_FUNCTION', `no function named "${name}" has been built`, {
            functionName: name,
            hint: 'list built functions with `prebake ls`',
          });
        }
        try {
          await store.verifyInFull(image);
          process.stdout.write(`ok ${name} (${Object.keys(image.meta.files ?? {}).length} files)\n`);
        } catch (error) {
          if (!isPrebakeError(error, 'PREBAKE_ERR_IMAGE_CORRUPT')) throw error;
          process.stdout.write(`CORRUPT ${name}\n`);
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
