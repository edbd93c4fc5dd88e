// `prebake doctor --plan`: an instance's whole sandbox as the one list a review reads (launch.ts
// InstanceSandbox): every operation that builds its view, in order, its ids, limits, command and environment.
// For a function's name, the plan its image stored (what every restored instance gets); for a directory, what
// a plain start of it plans.

import { resolveFunction } from './invoke/resolve.ts';
import { hostFacts } from './launch/host-facts.ts';
import { hostIdBase } from './launch/host-ids.ts';
import { type InstanceSandbox, instanceSandbox, planSandbox } from './launch/launch.ts';
import { withFunctionDirs } from './launch/sandbox-plan.ts';
import type { ViewOp } from './launch/view-ops.ts';
import { runtimeFor } from './runtimes/index.ts';
import type { ImageStore } from './store/store.ts';

export interface SandboxReport {
  function: string;
  /** "image": the stored plan of its current image; "plain start": planned now, as a plain start would. */
  from: 'image' | 'plain start';
  root: string;
  view: ViewOp[];
  ids: InstanceSandbox['ids'];
  limits: InstanceSandbox['limits'];
  network: InstanceSandbox['plan']['network'];
  userNamespaces: InstanceSandbox['plan']['userNamespaces'];
  cwd: string;
  argv: string[];
  env: Record<string, string>;
}

/** The sandbox of `target` (a function's name, or a directory: invoke's rule) in `store`. */
export async function sandboxReport(target: string, store: ImageStore): Promise<SandboxReport> {
  const resolved = await resolveFunction(target, store, 'cold');
  const { spec, preparedDir, image } = resolved;
  const command = runtimeFor(spec.runtime).command(spec, preparedDir);
  let sandbox: InstanceSandbox;
  // A name runs its image (resolveFunction gave its deployed code); a directory runs its source.
  if (image && spec.dir === image.codeDir) {
    const plan = withFunctionDirs(image.meta.sandbox, image.codeDir, preparedDir);
    sandbox = instanceSandbox(await hostFacts(store.sandboxDir), spec, plan, command);
  } else {
    sandbox = await planSandbox(store, spec, preparedDir, command, await hostIdBase(store.home, spec.name));
  }
  const { plan } = sandbox;
  return {
    function: spec.name,
    from: image && spec.dir === image.codeDir ? 'image' : 'plain start',
    root: plan.root,
    view: sandbox.view,
    ids: sandbox.ids,
    limits: sandbox.limits,
    network: plan.network,
    userNamespaces: plan.userNamespaces,
    cwd: plan.cwd,
    argv: sandbox.command.argv,
    env: sandbox.env,
  };
}

function describeOp(op: ViewOp): string {
  switch (op.kind) {
    case 'file':
      return `file     ${op.target} (mode ${op.mode.toString(8).padStart(4, '0')}, ${op.content.length} bytes)`;
    case 'symlink':
      return `symlink  ${op.target} -> ${op.link}`;
    case 'copy':
      return `copy     ${op.target} <- ${op.source} (what others can read)`;
    case 'device':
      return `device   ${op.target} (node of ${op.source})`;
    case 'ro-bind':
    case 'dev-bind':
      return `${op.kind.padEnd(8)} ${op.target} <- ${op.source}${op.kind === 'ro-bind' ? ' (read-only)' : ''}`;
    case 'proc':
      return `proc     ${op.target}`;
    case 'tmpfs':
      return `tmpfs    ${op.target} (${op.sizeMb} MB)`;
  }
}

/** The report for people: one line per setting, one per operation. */
export function formatSandboxReport(report: SandboxReport): string {
  const { ids, limits } = report;
  const lines = [
    `function ${report.function} (${report.from === 'image' ? 'its image' : 'a plain start'})`,
    `root     ${report.root} (read-only)`,
    `ids      uid ${ids.uid}, gid ${ids.gid} inside; ${ids.uidMap.inside}..${ids.uidMap.count - 1} are host ${ids.uidMap.outside}..${ids.uidMap.outside + ids.uidMap.count - 1}`,
    `limits   memory ${limits.memoryBytes / 1024 / 1024} MiB, ${limits.maxProcesses} processes${limits.cpus === undefined ? '' : `, ${limits.cpus} CPUs`}`,
    `network  ${report.network}; new user namespaces: ${report.userNamespaces ?? 'allow'}`,
    `cwd      ${report.cwd}`,
    `argv     ${report.argv.join(' ')}`,
    'env',
    ...Object.entries(report.env).map(([name, value]) => `  ${name}=${value}`),
    'view (in order)',
    ...report.view.map((op) => `  ${describeOp(op)}`),
  ];
  return `${lines.join('\n')}\n`;
}
