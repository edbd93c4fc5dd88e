// Fork mode against a prebaked restore on one image: builds a function once into a temp home, restores its fork
// template (not counted), then alternates a prebaked start and a fork start run by run (so that drift on a
// shared machine hits both alike), each running the handler once and ending, and prints per mode the median
// start and end to end and the CPU per invocation (teardown included) of everything involved: the controller,
// criu and the clone, or the template and its child. CPU comes from a cpuacct cgroup (v1) of the script's own,
// which criu, the template and its children inherit (prebake moves instances in the memory, pids, freezer and
// cpu hierarchies only; scripts/cpuacct-group.ts); without cgroup v1 cpuacct only the controller's is shown.
//
//   node scripts/fork-cpu.ts [--runs 60] [--function functions/heavy-python]
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildFunction } from '../src/bake/build.ts';
import { Criu } from '../src/criu/criu.ts';
import { InstanceRegistry } from '../src/instance/registry.ts';
import { loadFunction } from '../src/manifest/load.ts';
import { ForkTemplates, startForked } from '../src/start/fork.ts';
import { startPrebaked } from '../src/start/restore.ts';
import type { StartedInstance } from '../src/start/started.ts';
import { deployedSpec, ImageStore } from '../src/store/store.ts';
import { joinCpuacctGroup } from './cpuacct-group.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '60' },
    function: { type: 'string', default: 'functions/heavy-python' },
  },
});
const runs = Number(values.runs);
const cpuacct = await joinCpuacctGroup('prebake-fork-cpu');
const groupNs = () => cpuacct.usageNs();
const home = await mkdtemp(path.join(os.tmpdir(), 'prebake-fork-cpu-'));
const criu = new Criu();
const store = new ImageStore(home);
const instances = new InstanceRegistry();
instances.killOnExit();
const templates = new ForkTemplates(store, criu, instances);
try {
  await chmod(home, 0o711);
  const spec = await loadFunction(values.function);
  await buildFunction(spec, { store, criu, instances });
  const image = (await store.get(spec.name))!;
  const arms: {
    mode: string;
    start: () => Promise<StartedInstance>;
    startMs: number[];
    e2eMs: number[];
    allMs: number;
    controllerMs: number;
  }[] = [
    { mode: 'prebaked', start: () => startPrebaked(image, store, criu, instances), startMs: [], e2eMs: [], allMs: 0, controllerMs: 0 },
    { mode: 'fork', start: () => startForked(deployedSpec(image), image, templates), startMs: [], e2eMs: [], allMs: 0, controllerMs: 0 },
  ];
  const once = async (arm: (typeof arms)[number]) => {
    const asked = performance.now();
    const started = await arm.start();
    try {
      await started.instance.invoke('{}', { requestId: 'cpu', timeoutMs: spec.timeoutMs });
      return { startMs: started.startMs, e2eMs: performance.now() - asked };
    } finally {
      await started.instance.end();
      await started.cleanup();
    }
  };
  await templates.forImage(image);
  for (const arm of arms) for (let i = 0; i < 5; i++) await once(arm); // not counted: caches, JIT
  for (let i = 0; i < runs; i++) {
    for (const arm of i % 2 ? [...arms].reverse() : arms) {
      const [before, cpu] = [await groupNs(), process.cpuUsage()];
      const { startMs, e2eMs } = await once(arm);
      const used = process.cpuUsage(cpu);
      arm.allMs += ((await groupNs()) - before) / 1e6;
      arm.controllerMs += (used.user + used.system) / 1000;
      arm.startMs.push(startMs);
      arm.e2eMs.push(e2eMs);
    }
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  console.log(`${spec.name}: ${runs} invocations per mode, interleaved; load average ${os.loadavg()[0]!.toFixed(2)}`);
  for (const arm of arms) {
    console.log(
      `${arm.mode.padEnd(8)} start p50 ${median(arm.startMs).toFixed(2)} ms, e2e p50 ${median(arm.e2eMs).toFixed(2)} ms, ` +
        `CPU per invocation: all ${(arm.allMs / runs).toFixed(1)} ms, controller ${(arm.controllerMs / runs).toFixed(1)} ms`,
    );
  }
} finally {
  await templates.endAll();
  await rm(home, { recursive: true, force: true });
  await cpuacct.leave();
}
