import { PrebakeError } from '../errors.ts';
import type { RuntimeName } from '../manifest/schema.ts';
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
