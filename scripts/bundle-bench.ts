// Export and import speed and memory: builds functions into a temp home, then N times each exports the function
// to a file (`prebake export -o`) and imports it into a fresh home (`prebake import`), as a user runs them,
// each under /usr/bin/time for its wall time and peak RSS. Prints medians, MB/s over the bundle's size, and the
// peak RSS of `prebake ls` in the same home for the CLI's own footprint. `--ballast-mb N` adds a Node function
// that holds N MB of random bytes (an image of about that size), to show memory stays flat as images grow.
//
//   node scripts/bundle-bench.ts [--runs 5] [--ballast-mb 400] [--function functions/heavy-node --function functions/hello-node]
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    'ballast-mb': { type: 'string', default: '0' },
    function: { type: 'string', multiple: true, default: ['functions/heavy-node', 'functions/hello-node'] },
  },
});
const runs = Number(values.runs);
const prebake = path.join(import.meta.dirname, '..', 'bin', 'prebake');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Wall seconds and peak RSS (MB) of one prebake command. */
async function timed(args: string[]): Promise<{ seconds: number; rssMb: number }> {
  const result = await execa('/usr/bin/time', ['-f', '%e %M', prebake, ...args], { stdout: 'ignore' });
  const [seconds, kb] = result.stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
  return { seconds: seconds!, rssMb: kb! / 1024 };
}

const root = await mkdtemp(path.join(os.tmpdir(), 'prebake-bundle-bench-'));
// Instances run as an unprivileged user who must get through to the home's files (src/launch/reachable.ts).
await chmod(root, 0o711);
try {
  const home = path.join(root, 'a');
  const baseline = [];
  const functions = [...values.function];
  const ballastMb = Number(values['ballast-mb']);
  if (ballastMb > 0) {
    const dir = path.join(root, `ballast-${ballastMb}mb`);
    await mkdir(dir);
    await writeFile(path.join(dir, 'function.json'), JSON.stringify({ runtime: 'node', handler: 'index.handler', memoryMb: 256 }));
    await writeFile(
      path.join(dir, 'index.js'),
      `const ballast = require('node:crypto').randomBytes(${ballastMb} * 1024 * 1024);\n` +
        'exports.handler = async () => ({ bytes: ballast.length });\n',
    );
    functions.push(dir);
  }
  console.log('| function | image | bundle | export: time | MB/s | peak RSS | import: time | MB/s | peak RSS |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const dir of functions) {
    await execa(prebake, ['--home', home, 'build', dir]);
    const name = path.basename(dir);
    const file = path.join(root, `${name}.tar`);
    const exports = [];
    const imports = [];
    for (let i = 0; i < runs; i++) {
      await rm(file, { force: true });
      exports.push(await timed(['--home', home, 'export', name, '-o', file]));
      const homeB = path.join(root, `b-${i}`);
      imports.push(await timed(['--home', homeB, 'import', file]));
      await rm(homeB, { recursive: true, force: true });
      baseline.push((await timed(['--home', home, 'ls'])).rssMb);
    }
    const bundleMb = (await stat(file)).size / 1e6;
    const { stdout } = await execa(prebake, ['--home', home, 'ls', '--json']);
    const imageMb = (JSON.parse(stdout) as { name: string; imageBytes: number }[]).find((m) => m.name === name)!.imageBytes / 1e6;
    const row = (xs: { seconds: number; rssMb: number }[]) => {
      const seconds = median(xs.map((x) => x.seconds));
      return `${seconds.toFixed(2)} s | ${(bundleMb / seconds).toFixed(0)} | ${median(xs.map((x) => x.rssMb)).toFixed(0)} MB`;
    };
    console.log(`| ${name} | ${imageMb.toFixed(1)} MB | ${bundleMb.toFixed(1)} MB | ${row(exports)} | ${row(imports)} |`);
  }
  console.log(
    `\nprebake ls in the same home (the CLI's own footprint): peak RSS ${median(baseline).toFixed(0)} MB; ${runs} runs each, medians`,
  );
} finally {
  await rm(root, { recursive: true, force: true });
}
