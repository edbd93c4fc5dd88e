// Two criu builds side by side on one image: builds a function once into a temp home, then alternates
// prebaked invocations between criu A and criu B (ABAB..., so that drift on a shared machine hits both
// alike) and prints, per build, the median start (restore + resume) and the CPU per invocation (teardown
// included) spent by criu and the clone, and by the controller. CPU comes from a cpuacct cgroup (v1) of the
// script's own, which criu and the clones inherit (prebake moves instances in the memory, pids, freezer and
// cpu hierarchies only); on a host without cgroup v1 cpuacct only the controller's CPU is shown.
//
//   node scripts/criu-ab.ts --a /opt/prebake/criu/run-criu --b /opt/prebake/criu-lean/criu \
//     [--runs 60] [--function functions/hello-node]
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildFunction } from '../src/bake/build.ts';
import { describeBuild } from '../src/criu/build-info.ts';
import { Criu } from '../src/criu/criu.ts';
import { InstanceRegistry } from '../src/instance/registry.ts';
import { invokeFunction } from '../src/invoke/invoke.ts';
import { loadFunction } from '../src/manifest/load.ts';
import { ImageStore } from '../src/store/store.ts';
import { joinCpuacctGroup } from './cpuacct-group.ts';

const { values } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string' },
    runs: { type: 'string', default: '60' },
    function: { type: 'string', default: 'functions/hello-node' },
  },
});
if (!values.a || !values.b) throw new Error('--a and --b name the two criu binaries');
const runs = Number(values.runs);
const cpuacct = await joinCpuacctGroup('prebake-criu-ab');
const groupNs = () => cpuacct.usageNs();
const home = await mkdtemp(path.join(os.tmpdir(), 'prebake-criu-ab-'));
try {
  // Sandboxed instances reach their prepared code and image only through a home others can search.
  await chmod(home, 0o711);
  const store = new ImageStore(home);
  const instances = new InstanceRegistry();
  instances.killOnExit();
  const arms = [values.a, values.b].map((binary) => ({ criu: new Criu(binary), start: [] as number[], allMs: 0, controllerMs: 0 }));
  const spec = await loadFunction(values.function);
  await buildFunction(spec, { store, criu: arms[0]!.criu, instances });
  const invoke = (criu: Criu) => invokeFunction({ target: spec.name, event: '{}', mode: 'prebaked' }, store, criu, instances);
  for (const arm of arms) for (let i = 0; i < 5; i++) await invoke(arm.criu); // not counted: caches, JIT
  for (let i = 0; i < runs; i++) {
    for (const arm of i % 2 ? [...arms].reverse() : arms) {
      const [before, cpu] = [await groupNs(), process.cpuUsage()];
      const outcome = await invoke(arm.criu);
      const used = process.cpuUsage(cpu);
      arm.allMs += ((await groupNs()) - before) / 1e6;
      arm.controllerMs += (used.user + used.system) / 1000;
      arm.start.push(outcome.startMs);
    }
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  console.log(`${spec.name}: ${runs} prebaked invocations per criu, interleaved; load average ${os.loadavg()[0]!.toFixed(2)}`);
  for (const [name, arm] of [
    ['A', arms[0]!],
    ['B', arms[1]!],
  ] as const) {
    console.log(
      `${name} ${arm.criu.binary} (${describeBuild(await arm.criu.build())}): start p50 ${median(arm.start).toFixed(2)} ms, ` +
        `criu+clone CPU ${((arm.allMs - arm.controllerMs) / runs).toFixed(1)} ms, controller CPU ${(arm.controllerMs / runs).toFixed(1)} ms per invocation`,
    );
  }
} finally {
  await rm(home, { recursive: true, force: true });
  await cpuacct.leave();
}
