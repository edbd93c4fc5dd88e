// What an instance's cgroup costs on the start path and at the end, on this host's hierarchy:
//   node scripts/cgroup-cost.ts [RUNS]      (as root; default 100 runs; prints medians in ms)
// Spawns `true` RUNS times each way, interleaved: plainly, and into a fresh cgroup with an instance's limits
// (create, join between clone and exec in native/spawn.c), which is then ended (kill what is left, rmdir);
// and the end of a cgroup with a live process in it (v1: freeze, SIGKILL, thaw, wait until empty, rmdir).
import { hostCgroups, instanceCgroupName } from '../src/cgroup/host.ts';
import { SpawnedProcess } from '../src/launch/spawn.ts';

const runs = Number(process.argv[2] ?? 100);
const hierarchy = hostCgroups();
if (!hierarchy) throw new Error('no cgroup hierarchy prebake can use');
const limits = { memoryBytes: 256 * 1024 * 1024, maxProcesses: 1024 };
const fds = [null, null, null];
const samples: Record<string, number[]> = {
  'spawn, plain': [],
  'create cgroup': [],
  'spawn, joining it': [],
  'end cgroup': [],
  'end, killing a sleep': [],
};

for (let i = 0; i < runs; i++) {
  let started = performance.now();
  await new SpawnedProcess('true', [], fds).then(
    () => undefined,
    () => undefined,
  );
  const plain = performance.now() - started;
  samples['spawn, plain']!.push(plain);

  started = performance.now();
  const cgroup = hierarchy.create(instanceCgroupName('00000000'), limits);
  samples['create cgroup']!.push(performance.now() - started);
  started = performance.now();
  await new SpawnedProcess('true', [], fds, { cgroupProcs: cgroup.procsFiles });
  samples['spawn, joining it']!.push(performance.now() - started);
  started = performance.now();
  await cgroup.end();
  samples['end cgroup']!.push(performance.now() - started);

  const busy = hierarchy.create(instanceCgroupName('00000000'), limits);
  const sleeper = new SpawnedProcess('sleep', ['10'], fds, { cgroupProcs: busy.procsFiles });
  started = performance.now();
  await busy.end();
  await sleeper;
  samples['end, killing a sleep']!.push(performance.now() - started);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
console.log(`cgroup v${hierarchy.version} at ${hierarchy.root}, ${runs} runs, medians:`);
for (const [label, values] of Object.entries(samples)) console.log(`  ${label.padEnd(20)} ${median(values).toFixed(3)} ms`);
