// The prebake command line: a thin surface over the core (build, invoke, the store, doctor).
import { Command, CommanderError } from 'commander';
import { setCgroupHome } from '../cgroup/host.ts';
import { sweepLeftoverCgroups } from '../cgroup/sweep.ts';
import { toPrebakeError } from '../errors.ts';
import { resolveHome } from '../paths.ts';
import { ImageStore } from '../store/store.ts';
import { registerBench } from './commands/bench.ts';
import { registerBuild } from './commands/build.ts';
import { registerDoctor } from './commands/doctor.ts';
import { registerInvoke } from './commands/invoke.ts';
import { registerLs } from './commands/ls.ts';
import { registerRm } from './commands/rm.ts';
import { registerServe } from './commands/serve.ts';
import { exitOnSignals } from './signals.ts';

exitOnSignals();
// A reader that went away (`prebake ls | head -1`) is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const program = new Command('prebake')
  .description('Prebake serverless functions with CRIU: restore a snapshot instead of a cold start')
  .option('--home <dir>', 'state directory (default: $PREBAKE_HOME or /var/lib/prebake)')
  .option('--verbose', 'print error details (stack, criu log) on failure')
  .showHelpAfterError()
  .exitOverride()
  // A CLI or daemon killed with instances running (kill -9) left their cgroups and work dirs: every command
  // ends and removes them (those of live processes are left alone).
  .hook('preAction', async (command) => {
    const home = resolveHome(command.opts<{ home?: string }>().home);
    setCgroupHome(home);
    await sweepLeftoverCgroups(home);
    await new ImageStore(home).sweep();
  });

// The command that ran, for its own options (--logs) when its failure is printed.
let ran: Command | undefined;
program.hook('preAction', (_program, actionCommand) => {
  ran = actionCommand;
});

registerBuild(program);
registerInvoke(program);
registerLs(program);
registerRm(program);
registerDoctor(program);
registerServe(program);
registerBench(program);

try {
  await program.parseAsync(process.argv);
} catch (thrown) {
  if (thrown instanceof CommanderError) process.exit(thrown.exitCode === 0 ? 0 : 2);
  const error = toPrebakeError(thrown);
  const verbose = program.opts<{ verbose?: boolean }>().verbose;
  // The function's own stack (where its code threw), as the daemon returns it; before the summary line,
  // which stays last so that it is what a reader sees first.
  if ((verbose || ran?.opts<{ logs?: boolean }>().logs) && error.functionError?.stack) {
    process.stderr.write(`${error.functionError.stack}\n`);
  }
  process.stderr.write(`prebake: ${error.message}${error.hint ? ` (${error.hint})` : ''} [${error.code}]\n`);
  if (verbose) {
    if (error.details) process.stderr.write(`${JSON.stringify(error.details, null, 2)}\n`);
    process.stderr.write(`${error.stack ?? ''}\n`);
  }
  process.exit(error.exitCode);
}
