import type { Command } from 'commander';
import { PrebakeError } from '../../errors.ts';
import { isFunctionName } from '../../manifest/schema.ts';
import { type CliSession, type GlobalOptions, openHost } from '../context.ts';

export function registerRm(program: Command, { io }: CliSession): void {
  program
    .command('rm')
    .description("remove functions' images")
    .argument('<name...>', 'function names')
    .action(async (names: string[], _options: unknown, command: Command) => {
      // All checked before anything is removed: a typo in the third name leaves the first two in place.
      const notNames = names.filter((name) => !isFunctionName(name));
      if (notNames.length > 0) {
        throw new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `not a function name: ${notNames.map((n) => JSON.stringify(n)).join(', ')}`, {
          hint: 'prebake rm takes function names as `prebake ls` shows them, not paths',
        });
      }
      const host = await openHost(command.optsWithGlobals<GlobalOptions>());
      for (const name of names) {
        await host.remove(name);
        io.stdout.write(`removed ${name}\n`);
      }
    });
}
