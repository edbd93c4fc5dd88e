import type { Command } from 'commander';
import { runDoctor } from '../../doctor.ts';
import { formatSandboxReport, sandboxReport } from '../../sandbox-report.ts';
import { type CliSession, cliHost, type GlobalOptions } from '../context.ts';

export function registerDoctor(program: Command, session: CliSession): void {
  const { io } = session;
  program
    .command('doctor')
    .description('check criu, privileges, the kernel and the runtimes')
    .option('--json', 'print JSON')
    .option('--plan <function>', "print the sandbox of a function's instances (a name: its image's; a directory: a plain start's) instead")
    .action(async (options: { json?: boolean; plan?: string }, command: Command) => {
      const host = cliHost(command.optsWithGlobals<GlobalOptions>());
      if (options.plan !== undefined) {
        const report = await sandboxReport(options.plan, host.store);
        io.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatSandboxReport(report));
        return;
      }
      const checks = await runDoctor(host.criu, host.store);
      if (options.json) io.stdout.write(`${JSON.stringify(checks, null, 2)}\n`);
      else {
        for (const check of checks) {
          const mark = check.ok ? 'ok  ' : check.optional ? 'warn' : 'FAIL';
          io.stdout.write(`${mark}  ${check.name}: ${check.detail}\n`);
        }
      }
      if (checks.some((c) => !c.ok && !c.optional)) session.exitCode = 1;
    });
}
