// Node's own startup snapshot as a baseline for CRIU: `node --build-snapshot` runs the function's init (and
// warm-ups) and writes the V8 heap to a blob; an instance then starts as `node --snapshot-blob <blob> shim.mjs`,
// a plain process launch that deserialises the heap instead of running the init. The function gets into the
// snapshot as one CommonJS script bundled by esbuild (entry.cjs runs it); docs/BENCHMARKS.md says what this
// can and cannot do.
import { statSync } from 'node:fs';
import { chmod, stat } from 'node:fs/promises';
import path from 'node:path';
import { build as esbuild } from 'esbuild';
import { execa } from 'execa';
import { PrebakeError } from '../../errors.ts';
import type { InstanceRegistry } from '../../instance/registry.ts';
import { instanceEnvironment } from '../../launch/launch.ts';
import { VIEW } from '../../launch/view-places.ts';
import type { FunctionSpec } from '../../manifest/schema.ts';
import { runtimeFor } from '../../runtimes/index.ts';
import type { RuntimeCommand } from '../../runtimes/runtime.ts';
import { startCommand } from '../../start/cold.ts';
import type { StartedInstance } from '../../start/started.ts';
import type { ImageStore } from '../../store/store.ts';

const ENTRY = path.join(import.meta.dirname, 'entry.cjs');
const OUTPUT_LINES = 15;

export interface NodeSnapshot {
  functionName: string;
  blobPath: string;
  bytes: number;
  buildMs: number;
  warmups: number;
}

/** The handler's module file, found the way the Node shim finds it. */
function handlerModule(spec: FunctionSpec): { file: string; exportName: string } | undefined {
  const dot = spec.handler.lastIndexOf('.');
  const base = path.resolve(spec.dir, spec.handler.slice(0, dot));
  for (const ext of ['.js', '.mjs', '.cjs', '']) {
    const file = base + ext;
    if (statSyncIsFile(file)) return { file, exportName: spec.handler.slice(dot + 1) };
  }
  return undefined;
}

function statSyncIsFile(file: string): boolean {
  return statSync(file, { throwIfNoEntry: false })?.isFile() === true;
}

/** Why `spec` cannot be started from a Node startup snapshot, or undefined when it can. */
export function nodeSnapshotUnsupported(spec: FunctionSpec): string | undefined {
  if (spec.runtime !== 'node') return `a ${spec.runtime} function (node-snapshot is for Node functions)`;
  const module = handlerModule(spec);
  if (!module) return `its handler module ${spec.handler} is not found`;
  return undefined;
}

/**
 * The handler's module and everything it imports, as one CommonJS script: the snapshot builder's `require`
 * knows built-ins only. ES modules convert, except those with top-level await (esbuild says so).
 */
async function bundleHandler(spec: FunctionSpec, moduleFile: string, outfile: string): Promise<void> {
  try {
    await esbuild({
      entryPoints: [moduleFile],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: `node${process.versions.node.split('.')[0]}`,
      // entry.cjs refuses it with a message of its own: a snapshot has no restore step for hooks.
      external: ['prebake/runtime'],
      logLevel: 'silent',
    });
  } catch (error) {
    const first = (error as { errors?: { text: string; location?: { file: string; line: number } | null }[] }).errors?.[0];
    const where = first?.location ? ` (${first.location.file}:${first.location.line})` : '';
    throw new PrebakeError(
      'PREBAKE_ERR_INVALID_INPUT',
      `function "${spec.name}": no Node startup snapshot: its code cannot be bundled into one script: ${first?.text ?? String(error)}${where}`,
      {
        cause: error,
        functionName: spec.name,
        hint: 'a Node startup snapshot holds one CommonJS script: no top-level await, no native addons; leave node-snapshot out of --modes',
      },
    );
  }
}

/** The Node shim's command line, with the snapshot blob put in front of the shim. */
function commandWithBlob(spec: FunctionSpec, preparedDir: string, blobArgs: string[], tail?: string[]): RuntimeCommand {
  const command = runtimeFor('node').command(spec, preparedDir);
  const shimIndex = command.argv.findIndex((arg) => arg.endsWith('shim.mjs'));
  if (shimIndex < 1) throw new PrebakeError('PREBAKE_ERR_INTERNAL', 'the Node command line has no shim.mjs');
  const flags = command.argv.slice(1, shimIndex);
  return { argv: [command.argv[0]!, ...flags, ...blobArgs, ...(tail ?? command.argv.slice(shimIndex))], env: command.env };
}

/** Builds `<workDir>/<name>.blob`, with `warmups` invocations of the function's warm-up event before it. */
export async function buildNodeSnapshot(spec: FunctionSpec, preparedDir: string, workDir: string, warmups: number): Promise<NodeSnapshot> {
  const problem = nodeSnapshotUnsupported(spec);
  if (problem) throw new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `function "${spec.name}": no Node startup snapshot for ${problem}`);
  const module = handlerModule(spec)!;
  const blobPath = path.join(workDir, `${spec.name}-w${warmups}.blob`);
  const bundlePath = path.join(workDir, `${spec.name}-w${warmups}.bundle.cjs`);
  const started = performance.now();
  await bundleHandler(spec, module.file, bundlePath);
  const command = commandWithBlob(spec, preparedDir, ['--snapshot-blob', blobPath, '--build-snapshot', ENTRY], []);
  const result = await execa(command.argv[0]!, command.argv.slice(1), {
    cwd: spec.dir,
    env: instanceEnvironment(spec, {
      ...command.env,
      PREBAKE_SNAPSHOT_BUNDLE: bundlePath,
      PREBAKE_SNAPSHOT_MODULE: module.file,
      PREBAKE_SNAPSHOT_VIEW_MODULE: path.join(VIEW.code, path.relative(spec.dir, module.file)),
      PREBAKE_SNAPSHOT_EXPORT: module.exportName,
      PREBAKE_SNAPSHOT_WARMUPS: String(warmups),
      PREBAKE_SNAPSHOT_WARMUP_EVENT: JSON.stringify(spec.warmup.event ?? {}),
    }),
    extendEnv: false,
    reject: false,
    all: true,
    timeout: spec.timeoutMs * (1 + warmups) + 30_000,
  });
  const buildMs = performance.now() - started;
  // Node writes the blob 0600; a sandboxed instance runs as an unprivileged uid (docs/SANDBOX.md).
  await chmod(blobPath, 0o644).catch(() => {});
  const bytes = await stat(blobPath).then(
    (s) => s.size,
    () => 0,
  );
  if (result.exitCode !== 0 || bytes === 0) {
    const output = (result.all ?? '').split('\n').slice(-OUTPUT_LINES).join('\n').trim();
    throw new PrebakeError('PREBAKE_ERR_INIT_FAILED', `function "${spec.name}": node --build-snapshot failed: ${output}`, {
      functionName: spec.name,
      details: { command: result.command, exitCode: result.exitCode },
      hint: 'a Node startup snapshot cannot hold every module (see docs/BENCHMARKS.md); leave node-snapshot out of --modes',
    });
  }
  return { functionName: spec.name, blobPath, bytes, buildMs, warmups };
}

/** A plain start of the Node shim that deserialises the function's heap from `snapshot` instead of loading it. */
export async function startFromNodeSnapshot(
  spec: FunctionSpec,
  preparedDir: string,
  snapshot: NodeSnapshot,
  store: ImageStore,
  instances: InstanceRegistry,
): Promise<StartedInstance> {
  const command = commandWithBlob(spec, preparedDir, ['--snapshot-blob', snapshot.blobPath]);
  return startCommand(spec, preparedDir, { ...command, readOnlyPaths: [snapshot.blobPath] }, store, instances);
}
