import { PrebakeError } from '../errors.ts';
import { sha256 } from '../files/sha256.ts';
import type { FunctionSpec, RuntimeName } from '../manifest/schema.ts';
import { javaRuntime } from './java/adapter.ts';
import { nodeRuntime } from './node/adapter.ts';
import { pythonRuntime } from './python/adapter.ts';
import type { RuntimeAdapter } from './runtime.ts';

const RUNTIMES: Partial<Record<RuntimeName, RuntimeAdapter>> = {
  node: nodeRuntime,
  python: pythonRuntime,
  java: javaRuntime,
};

export function runtimeFor(name: RuntimeName): RuntimeAdapter {
  const runtime = RUNTIMES[name];
  if (!runtime) {
    throw new PrebakeError('PREBAKE_ERR_MANIFEST', `runtime "${name}" is not supported yet`, {
      hint: `supported runtimes: ${Object.keys(RUNTIMES).join(', ')}`,
    });
  }
  return runtime;
}

/**
 * The directory the function's runtime prepared for this exact source and runtime (compiled classes for Java;
 * empty for Node): one per source digest and runtime key, kept by the store (ImageStore.prepared).
 */
/** What ensurePrepared needs of the image store (ImageStore.prepared keeps the layout and the publish). */
export interface PreparedDirs {
  prepared(name: string, key: string, fill: (dir: string) => Promise<void>): Promise<string>;
}

export async function ensurePrepared(store: PreparedDirs, fn: FunctionSpec, digest: string): Promise<string> {
  const runtime = runtimeFor(fn.runtime);
  const runtimeKey = (await runtime.prepareKey?.(fn)) ?? '';
  const key = sha256(`${digest}\0${fn.runtime}\0${runtimeKey}`);
  return store.prepared(fn.name, key, async (dir) => {
    await runtime.prepare?.(fn, dir);
  });
}
