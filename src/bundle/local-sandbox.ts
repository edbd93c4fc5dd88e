// An imported build's sandbox and interpreter, as this host gives them. A bundle's meta.json records the plan
// its build ran in (the view's root, every bind's host path, the devices and trees copied into the root) and
// the interpreter's path: taken as they are, a forged plan would bind or copy any host path into an instance's
// view (a root of `/`, a device node of the host's disk). So the plan is made again here, as a build of the
// same function would make it, and the bundle's must match it but for the function's own directories.

import { planSandbox, type SandboxDirs } from '../launch/launch.ts';
import { namespaceRootHostId, type SandboxPlan } from '../launch/sandbox-plan.ts';
import { VIEW } from '../launch/view-places.ts';
import { runtimeFor } from '../runtimes/index.ts';
import type { Interpreter } from '../runtimes/runtime.ts';
import type { ImageMeta } from '../store/store.ts';
import { codeDirOf } from '../store/store.ts';

export interface LocalSandbox {
  sandbox: SandboxPlan;
  interpreter: Interpreter;
  /** How the bundle's plan differs from this host's, one phrase each; empty when they match. */
  differences: string[];
}

// The function's own directories move with the store; the restore binds them where they are now.
function parts(plan: SandboxPlan): Record<string, string[]> {
  const mounts = plan.mounts.map((mount) =>
    mount.target === VIEW.code || mount.target === VIEW.prepared ? { ...mount, source: '' } : mount,
  );
  return {
    mounts: mounts.map((mount) => `${mount.kind} ${mount.source || "(the function's)"} -> ${mount.target}`),
    rootEntries: (plan.rootEntries ?? []).map((entry) => `${entry.kind} ${entry.source} -> ${entry.target}`),
    settings: [`tmpMb ${plan.tmpMb}`, `network ${plan.network}`, `cwd ${plan.cwd}`],
  };
}

/** This host's plan and interpreter for the build `meta` that will live in `buildDir`. */
export async function localSandbox(dirs: SandboxDirs, meta: ImageMeta, buildDir: string): Promise<LocalSandbox> {
  const runtime = runtimeFor(meta.spec.runtime);
  const interpreter = await runtime.interpreter(meta.spec);
  const deployed = { ...meta.spec, dir: codeDirOf(buildDir), interpreter: interpreter.path };
  // The image's user namespace maps are fixed in it: its clones run as the host ids its build claimed.
  const hostIds = namespaceRootHostId(meta.sandbox);
  const { plan } = await planSandbox(dirs, deployed, meta.preparedDir, runtime.command(deployed, meta.preparedDir), hostIds);
  const there = parts(meta.sandbox);
  const here = parts(plan);
  const differences: string[] = [];
  for (const [part, items] of Object.entries(here)) {
    const onlyThere = there[part]!.filter((item) => !items.includes(item));
    const onlyHere = items.filter((item) => !there[part]!.includes(item));
    if (onlyThere.length > 0 || onlyHere.length > 0 || there[part]!.length !== items.length) {
      differences.push(
        `sandbox ${part}: ${onlyThere.slice(0, 3).join(', ') || 'the same'} there, ${onlyHere.slice(0, 3).join(', ') || 'the same'} here`,
      );
    }
  }
  return { sandbox: plan, interpreter, differences };
}
