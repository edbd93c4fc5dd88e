// The command line as a function: parse `argv`, run the command on the given streams, answer the exit code.
// main.ts runs it on the process's own streams; tests run it in-process (a spawned CLI costs about 0.75 s of
// CPU to start, measured with /usr/bin/time on `prebake ls` on the 2-vCPU VM). `serve` takes the process
// over (signals, exit): it runs only from main.ts.
import { Command, CommanderError } from 'commander';
import { type PrebakeError, toPrebakeError } from '../errors.ts';
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
import type { CliIo, CliSession } from './context.ts';
import { cliHint } from './hints.ts';

export interface CliOutcome {
  exitCode: number;
  /** Why the command failed, when it did: main.ts exits at once then, without waiting for the event loop. */
  failure?: PrebakeError | CommanderError;
}

export async function runCli(argv: string[], io: CliIo, instances = new InstanceRegistry()): Promise<CliOutcome> {
  const session: CliSession = { io, instances, exitCode: 0 };
  const program = new Command('prebake')
    .description('Prebake serverless functions with CRIU: restore a snapshot instead of a cold start')
    .option('--home <dir>', 'state directory (default: $PREBAKE_HOME or /var/lib/prebake)')
    .option('--verbose', "print error details (stack, criu log) on failure; with invoke --timing, where the start's time went")
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) })
    .showHelpAfterError()
    .exitOverride();

  // The command that ran, for its own options (--logs) when its failure is printed.
  let ran: Command | undefined;
  program.hook('preAction', (_program, actionCommand) => {
    ran = actionCommand;
  });

  registerBuild(program, session);
  registerInvoke(program, session);
  registerLs(program, session);
  registerRm(program, session);
  registerVerify(program, session);
  registerDoctor(program, session);
  registerServe(program, instances);
  registerBench(program, session);
  registerBundle(program, session);
  registerRegistry(program, session);

  try {
    await program.parseAsync(argv, { from: 'user' });
    return { exitCode: session.exitCode };
  } catch (thrown) {
    if (thrown instanceof CommanderError) return { exitCode: thrown.exitCode === 0 ? 0 : 2, failure: thrown };
    const error = toPrebakeError(thrown);
    const verbose = program.opts<{ verbose?: boolean }>().verbose;
    // The function's own stack (where its code threw), as the daemon returns it; before the summary line,
    // which stays last so that it is what a reader sees first.
    if ((verbose || ran?.opts<{ logs?: boolean }>().logs) && error.functionError?.stack) {
      io.stderr.write(`${error.functionError.stack}\n`);
    }
    const hint = cliHint(error);
    io.stderr.write(`prebake: ${error.message}${hint ? ` (${hint})` : ''} [${error.code}]\n`);
    if (verbose) {
      if (error.details) io.stderr.write(`${JSON.stringify(error.details, null, 2)}\n`);
      io.stderr.write(`${error.stack ?? ''}\n`);
    }
    return { exitCode: error.exitCode, failure: error };
  }
}
