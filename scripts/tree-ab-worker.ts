// One side of scripts/tree-ab.ts: loads prebake from checkout TREE, builds FUNCTION_DIR into HOME (unless it is
// there), then answers each "go" line with one prebaked start's startMs, the start + end wall time, the CPU
// of this process and all it started (criu, the clone, the teardown) in that time, and this process's own share.
//
//   node scripts/tree-ab-worker.ts TREE HOME FUNCTION_DIR
import { chmod, mkdir } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { joinCpuacctGroup } from './cpuacct-group.ts';

const [tree, home, fnDir] = process.argv.slice(2) as [string, string, string];
const { buildFunction } = await import(`${tree}/src/bake/build.ts`);
const { Criu } = await import(`${tree}/src/criu/criu.ts`);
const { loadFunction } = await import(`${tree}/src/manifest/load.ts`);
const { ImageStore } = await import(`${tree}/src/store/store.ts`);
const { startPrebaked: start } = await import(`${tree}/src/start/restore.ts`);
// Checkouts since issue 12 give every start an instance registry; older ones take three arguments.
const registry = await import(`${tree}/src/instance/registry.ts`).then(
  (m) => new m.InstanceRegistry(),
  () => undefined,
);
const startPrebaked = (image: unknown, store: unknown, criu: unknown) => start(image, store, criu, registry);

const cpuacct = await joinCpuacctGroup('prebake-tree-ab');
try {
  await mkdir(home, { recursive: true });
  await chmod(home, 0o711); // sandboxed instances reach their code and image through it
  const store = new ImageStore(home);
  const criu = new Criu(process.env.PREBAKE_CRIU ?? '/opt/prebake/criu-lean/criu');
  const spec = await loadFunction(fnDir);
  let image = await store.get(spec.name);
  if (!image) {
    await buildFunction(spec, { store, criu, instances: registry });
    image = await store.get(spec.name);
  }
  const once = async () => {
    const started = await startPrebaked(image, store, criu);
    await started.instance.end();
    await started.cleanup();
    return started;
  };
  for (let i = 0; i < 3; i++) await once(); // not counted: caches, JIT
  console.log('ready');
  for await (const line of createInterface({ input: process.stdin })) {
    if (line !== 'go') break;
    await new Promise((resolve) => setTimeout(resolve, 20)); // the previous instance's reaping, outside the count
    const [t0, c0, own] = [performance.now(), await cpuacct.usageNs(), process.cpuUsage()];
    const started = await once();
    const controller = process.cpuUsage(own);
    console.log(
      JSON.stringify({
        startMs: started.startMs,
        cycleMs: performance.now() - t0,
        cpuMs: ((await cpuacct.usageNs()) - c0) / 1e6,
        controllerMs: (controller.user + controller.system) / 1000,
      }),
    );
  }
} finally {
  await cpuacct.leave();
}
