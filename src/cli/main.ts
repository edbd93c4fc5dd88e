// The prebake command line: a thin surface over the core, src/host (each command parses, calls the Host once, and
// formats what it answers). This file owns the process; run.ts runs the commands.
import { InstanceRegistry } from '../instance/registry.ts';
import { runCli } from './run.ts';
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

const { exitCode, failure } = await runCli(
  process.argv.slice(2),
  { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
  instances,
);
if (failure) process.exit(exitCode);
process.exitCode = exitCode;
