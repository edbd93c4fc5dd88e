import { Option, type Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import { isPrebakeError, PrebakeError } from '../../errors.ts';
import { invokeFunction } from '../../invoke/invoke.ts';
import { cliContext, formatMs, type GlobalOptions } from '../context.ts';

interface InvokeOptions {
  data: string;
  mode?: 'prebaked' | 'cold';
  timing?: boolean;
  logs?: boolean;
}

export function registerInvoke(program: Command): void {
  program
    .command('invoke')
    .description("run a function once and print its result as JSON")
    .argument('<function>', 'a built function name, or a function directory')
    .option('-d, --data <json>', 'the event, as JSON; @FILE reads it from FILE, - from stdin', '{}')
    .addOption(new Option('-m, --mode <mode>', 'how to start the instance (default: prebaked once built, else cold)').choices(['prebaked', 'cold']))
    .option('--timing', 'print start and run times to stderr')
    .option('--logs', "print the function's output to stderr")
    .action(async (target: string, options: InvokeOptions, command: Command) => {
      const { store, criu } = cliContext(command.optsWithGlobals<GlobalOptions>());
      try {
        const event = await readEventOption(options.data);
        const outcome = await invokeFunction({ target, event, mode: options.mode }, store, criu);
        if (options.logs && outcome.logs) process.stderr.write(outcome.logs);
        if (options.timing) {
          process.stderr.write(`start: ${outcome.start} in ${formatMs(outcome.startMs)}; handler: ${formatMs(outcome.runMs)}\n`);
        }
        process.stdout.write(`${outcome.result}\n`);
      } catch (error) {
        if (options.logs && isPrebakeError(error) && error.logs) process.stderr.write(error.logs);
        throw error;
      }
    });
}

/** --data as given: inline JSON, @FILE, or - for stdin. */
async function readEventOption(data: string): Promise<string> {
  if (data === '-') return text(process.stdin);
  if (!data.startsWith('@')) return data;
  const file = data.slice(1);
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `cannot read the event from ${file}: ${(error as Error).message}`, { cause: error });
  }
}
