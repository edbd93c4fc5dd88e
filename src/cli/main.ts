// The prebake command line: a thin surface over the core, src/host (each command parses, calls the Host once, and
// formats what it answers).
import { Command, CommanderError } from 'commander';
import { toPrebakeError } from '../errors.ts';
import { InstanceRegistry } from '../instance/registry.ts';
import { registerBench } from './commands/bench.ts';
import { registerBuild } from './commands/build.ts';
import { registerBundle } from './commands/bundle.ts';
import { registerDoctor } from './commands/doctor.ts';
import { registerInvoke } from './commands/invoke.ts';
import { registerLs } from './commands/ls.ts';
import { registerRegistry } from './commands/registry.ts';
import { registerRm } from './commands/rm.ts';
import { registerServe } from './commands/serve.ts';
import { registerVerify } from './commands/verify.ts';
import { cliHint } from './hints.ts';
import { exitOnSignals } from './signals.ts';

// Every instance a command starts is alive in this registry; whatever way this process exits (a command's
// end, an error, a signal: see signals.ts), none outlives it.
const instances = new InstanceRegistry();
instances.killOnExit();
exitOnSignals();
// A reader that went away (`prebake ls | head -1`) is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const program = new Command('prebake')
  .description('Prebake serverless functions with CRIU: restore a snapshot instead of a cold start')
  .option('--home <dir>', 'state directory (default: $PREBAKE_HOME or /var/lib/prebake)')
  .option('--verbose', "print error details (stack, criu log) on failure; with invoke --timing, where the start's time went")
  .showHelpAfterError()
  .exitOverride();

// The command that ran, for its own options (--logs) when its failure is printed.
let ran: Command | undefined;
program.hook('preAction', (_program, actionCommand) => {
  ran = actionCommand;
});

registerBuild(program, instances);
registerInvoke(program, instances);
registerLs(program);
registerRm(program);
registerVerify(program);
registerDoctor(program);
registerServe(program, instances);
registerBench(program, instances);
registerBundle(program);
registerRegistry(program);

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
  const hint = cliHint(error);
  process.stderr.write(`prebake: ${error.message}${hint ? ` (${hint})` : ''} [${error.code}]\n`);
  if (verbose) {
    if (error.details) process.stderr.write(`${JSON.stringify(error.details, null, 2)}\n`);
    process.stderr.write(`${error.stack ?? ''}\n`);
  }
  process.exit(error.exitCode);
}
