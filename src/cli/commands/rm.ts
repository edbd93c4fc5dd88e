import type { Command } from 'commander';
import { PrebakeError } from '../../errors.ts';
import { isFunctionName } from '../../manifest/schema.ts';
import { type GlobalOptions, openStore } from '../context.ts';

export function registerRm(program: Command): void {
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
      const { store } = await openStore(command.optsWithGlobals<GlobalOptions>());
      for (const name of names) {
        if (!(await store.get(name).catch(() => true))) {
          throw new PrebakeError('PREBAKE_ERR_UNKNOWN_FUNCTION', `no function named "${name}" has been built`, {
            functionName: name,
            hint: 'list built functions with `prebake ls`',
          });
        }
        await store.remove(name);
        process.stdout.write(`removed ${name}\n`);
      }
    });
}
