import { randomUUID } from 'node:crypto';
import { type Command, Option } from 'commander';
import { isPrebakeError } from '../../errors.ts';
import { formatPhases } from '../../start/phases.ts';
import { type CliSession, formatMs, type GlobalOptions, openHost, readEventOption } from '../context.ts';

interface InvokeFlags {
  data: string;
  mode?: 'prebaked' | 'cold';
  timing?: boolean;
  logs?: boolean;
}

export function registerInvoke(program: Command, { io, instances }: CliSession): void {
  program
    .command('invoke')
    .description('run a function once and print its result as JSON')
    .argument('<function>', 'a built function name, or a function directory')
    .option('-d, --data <json>', 'the event, as JSON; @FILE reads it from FILE, - from stdin', '{}')
    .addOption(
      new Option('-m, --mode <mode>', 'how to start the instance (default: prebaked once built, else cold)').choices(['prebaked', 'cold']),
    )
    .option('--timing', 'print start and run times to stderr (with --verbose: where a prebaked start went, phase by phase)')
    .option('--logs', "print the function's output to stderr")
    .action(async (target: string, options: InvokeFlags, command: Command) => {
      const host = await openHost(command.optsWithGlobals<GlobalOptions>(), instances);
      try {
        const event = await readEventOption(options.data, io.stdin);
        const outcome = await host.invoke({ target, event, mode: options.mode, requestId: randomUUID(), collectLogs: true });
        if (options.logs && outcome.logs) io.stderr.write(outcome.logs);
        if (options.timing) {
          io.stderr.write(`start: ${outcome.start} in ${formatMs(outcome.startMs)}; handler: ${formatMs(outcome.runMs)}\n`);
          if (command.optsWithGlobals<GlobalOptions>().verbose && outcome.startPhases)
            io.stderr.write(`${formatPhases(outcome.startPhases)}\n`);
        }
        io.stdout.write(`${outcome.result}\n`);
      } catch (error) {
        if (options.logs && isPrebakeError(error) && error.logs) io.stderr.write(error.logs);
        throw error;
      }
    });
}
