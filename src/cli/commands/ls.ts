import type { Command } from 'commander';
import { openStore, formatBytes, formatMs, type GlobalOptions } from '../context.ts';

export function registerLs(program: Command): void {
  program
    .command('ls')
    .description('list built functions')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const { store } = await openStore(command.optsWithGlobals<GlobalOptions>());
      const metas = await store.list();
      if (options.json) {
        process.stdout.write(`${JSON.stringify(metas, null, 2)}\n`);
        return;
      }
      if (metas.length === 0) {
        process.stdout.write('no functions built yet (prebake build <dir>)\n');
        return;
      }
      const rows = [['NAME', 'RUNTIME', 'IMAGE', 'BUILD', 'BUILT AT', 'SOURCE']];
      for (const m of metas) {
        rows.push([m.name, m.runtime, formatBytes(m.imageBytes), formatMs(m.buildMs), m.builtAt, m.spec.dir]);
      }
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      for (const row of rows) process.stdout.write(`${row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()}\n`);
    });
}
