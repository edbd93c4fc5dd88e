// What a bench needs of each function before its runs: an image built from the current source (built here
// when missing or stale, said on stderr), and the function resolved for a plain start and for a restore.
import type { BuildListener } from '../bake/progress.ts';
import { isPrebakeError } from '../errors.ts';
import type { Host } from '../host/host.ts';
import { looksLikePath, resolveFunction } from '../invoke/resolve.ts';
import { loadFunction } from '../manifest/load.ts';
import type { FunctionSpec } from '../manifest/schema.ts';
import type { ResolvedFunction } from '../start/start.ts';

export interface BenchFunction {
  spec: FunctionSpec;
  /** For plain starts (cold, warm, node-snapshot). */
  plain: ResolvedFunction;
  /** For restores; present when an image was wanted. */
  prebaked?: ResolvedFunction;
  /** True when this bench built the image. */
  builtNow: boolean;
}

/**
 * Resolves `target` (a function directory or the name of a built function). With `needImage`, builds the
 * function first when it has no image or its source changed since (a named function is rebuilt from the
 * directory its image was built from).
 */
export async function prepareBenchFunction(
  target: string,
  context: {
    /** Builds through its policies (a name taken by another directory is refused, as by prebake build). */
    host: Host;
    needImage: boolean;
    onNotice?: (line: string) => void;
    onBuild?: BuildListener;
    replace?: boolean;
  },
): Promise<BenchFunction> {
  const { store } = context.host;
  let builtNow = false;
  let prebaked: ResolvedFunction | undefined;
  if (context.needImage) {
    try {
      prebaked = await resolveFunction(target, store, 'prebaked');
    } catch (error) {
      if (!isPrebakeError(error, 'PREBAKE_ERR_NOT_BUILT') && !isPrebakeError(error, 'PREBAKE_ERR_IMAGE_STALE')) throw error;
      const dir = looksLikePath(target) ? target : (await store.get(target))?.meta.spec.dir;
      if (!dir) throw error;
      const spec = await loadFunction(dir);
      const why = isPrebakeError(error, 'PREBAKE_ERR_NOT_BUILT') ? 'no image yet' : 'its image is stale';
      context.onNotice?.(`${spec.name}: ${why}, building it from ${spec.dir}`);
      const { outcome: built } = await context.host.register(spec.dir, { onEvent: context.onBuild, replace: context.replace });
      context.onNotice?.(
        `${spec.name}: built in ${(built.meta.buildMs / 1000).toFixed(2)} s, image ${(built.meta.imageBytes / 1e6).toFixed(1)} MB`,
      );
      builtNow = true;
      prebaked = await resolveFunction(target, store, 'prebaked');
    }
  }
  const plain = await resolveFunction(target, store, 'cold');
  return { spec: plain.spec, plain, prebaked, builtNow };
}
