// How much CPU the controller (prebake's own process, not criu nor the instance) spends per prebaked
// invocation: builds functions/hello-node into a temp home, runs N sequential invocations through the core
// (restore, resume, invoke, end), and prints the controller's CPU and the wall time per invocation.
//
//   node scripts/controller-cpu.ts [--runs 150] [--function functions/hello-node]
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildFunction } from '../src/bake/build.ts';
import { Criu } from '../src/criu/criu.ts';
import { InstanceRegistry } from '../src/instance/registry.ts';
import { invokeFunction } from '../src/invoke/invoke.ts';
import { loadFunction } from '../src/manifest/load.ts';
import { ImageStore } from '../src/store/store.ts';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '150' }, function: { type: 'string', default: 'functions/hello-node' } },
});
const runs = Number(values.runs);
const home = await mkdtemp(path.join(os.tmpdir(), 'prebake-cpu-'));
// Instances run as an unprivileged user who must get through to the home's files (src/launch/reachable.ts).
await chmod(home, 0o711);
try {
  const store = new ImageStore(home);
  const criu = new Criu();
  const instances = new InstanceRegistry();
  instances.killOnExit();
  const spec = await loadFunction(values.function);
  await buildFunction(spec, { store, criu, instances });
  const invoke = () => invokeFunction({ target: spec.name, event: '{}', mode: 'prebaked' }, store, criu, instances);
  for (let i = 0; i < 10; i++) await invoke(); // not counted: JIT and caches of the controller itself
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let i = 0; i < runs; i++) {
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    await invoke();
    wall.push(performance.now() - started);
    const used = process.cpuUsage(cpuBefore);
    cpu.push((used.user + used.system) / 1000);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log(`${spec.name}, ${runs} sequential prebaked invocations`);
  console.log(`controller CPU per invocation: mean ${mean(cpu).toFixed(2)} ms, median ${median(cpu).toFixed(2)} ms`);
  console.log(`wall time per invocation:      mean ${mean(wall).toFixed(2)} ms, median ${median(wall).toFixed(2)} ms`);
  console.log(`load average (1 min): ${os.loadavg()[0]!.toFixed(2)}`);
} finally {
  await rm(home, { recursive: true, force: true });
}
