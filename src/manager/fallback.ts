// A fresh instance for one invocation: a restore of the function's image, falling back to a plain start when
// the restore fails (a corrupt or incompatible image, a criu error). A failed image is marked for rebuild, and
// later invocations of that build go straight to a plain start instead of failing the same restore again; a
// failure of the host (a full disk, criu killed, no memory) falls back without marking.
import type { Criu } from '../criu/criu.ts';
import { isPrebakeError, PrebakeError } from '../errors.ts';
import type { InstanceRegistry } from '../instance/registry.ts';
import type { ForkTemplates } from '../start/fork.ts';
import type { ResolvedFunction } from '../start/start.ts';
import { startInstance } from '../start/start.ts';
import type { StartedInstance } from '../start/started.ts';
import type { ImageStore, StoredImage } from '../store/store.ts';
import type { ManagerLogger, ManagerObserver } from './observer.ts';

/** Builds whose restore failed, by function: the mark holds until the function has another build. */
export class RebuildMarks {
  private readonly failedBuild = new Map<string, string>();

  mark(image: StoredImage): void {
    this.failedBuild.set(image.meta.name, image.meta.buildId);
  }

  needsRebuild(image: StoredImage | undefined): boolean {
    if (image?.meta.rebuildReason !== undefined) return true;
    return image !== undefined && this.failedBuild.get(image.meta.name) === image.meta.buildId;
  }

  clear(name: string): void {
    this.failedBuild.delete(name);
  }
}

export interface FreshStartContext {
  store: ImageStore;
  criu: Criu;
  instances: InstanceRegistry;
  fallback: boolean;
  marks: RebuildMarks;
  /** The daemon's fork templates, for the fork start mode. */
  templates?: ForkTemplates;
  observer: ManagerObserver;
  log: ManagerLogger;
}

/**
 * What a prebaked start's failure says: `image` when the image (or its fit with this kernel and criu) is at
 * fault, `transient` when the host was (criu killed, memory or disk ran out: the same image may restore next
 * time), undefined when the function's own code or the daemon's shutdown is (no fallback helps).
 */
function restoreFailureKind(error: unknown): 'image' | 'transient' | undefined {
  if (!isPrebakeError(error)) return undefined;
  // The function's own after-restore hook threw: a rebuild would not help, and hiding it behind plain starts
  // would hide the bug.
  if (error.code === 'PREBAKE_ERR_HOOK_FAILED' && error.functionError) return undefined;
  if (error.code === 'PREBAKE_ERR_SHUTTING_DOWN') return undefined;
  // Fork mode asked for a function that cannot be forked: the configuration is at fault, not the image.
  if (error.code === 'PREBAKE_ERR_FORK_UNSUPPORTED') return undefined;
  // Over memoryMb while restoring: a plain start has the same limit.
  if (error.code === 'PREBAKE_ERR_OUT_OF_MEMORY') return undefined;
  if (error.code === 'PREBAKE_ERR_RESTORE_FAILED' && error.details?.transient) return 'transient';
  // A criu that hangs on this host (issue 23) hangs on every image.
  if (error.code === 'PREBAKE_ERR_CRIU_TIMEOUT') return 'transient';
  return 'image';
}

/** Starts `fn` as resolved: restored when it is prebaked, plainly when cold or when its image failed before. */
export async function startFresh(fn: ResolvedFunction, context: FreshStartContext): Promise<StartedInstance> {
  const { store, criu, instances, marks, observer } = context;
  const name = fn.spec.name;
  const cold = () => startInstance({ ...fn, mode: 'cold' }, store, criu, instances);
  if (fn.mode === 'cold' || !fn.image) return cold();
  if (context.fallback && marks.needsRebuild(fn.image)) return cold();

  const attempted = performance.now();
  try {
    const started = await startInstance(fn, store, criu, instances, context.templates);
    observer.restore?.({ functionName: name, ok: true });
    return started;
  } catch (error) {
    const kind = restoreFailureKind(error);
    if (!kind || !isPrebakeError(error)) throw error;
    observer.restore?.({ functionName: name, ok: false });
    // A sound image that met a full disk or a killed criu is not marked: later invocations try it again.
    if (kind === 'image') marks.mark(fn.image);
    const failure =
      error.code === 'PREBAKE_ERR_RESTORE_FAILED' || error.code === 'PREBAKE_ERR_IMAGE_CORRUPT' || error.code === 'PREBAKE_ERR_CRIU_TIMEOUT'
        ? error
        : new PrebakeError('PREBAKE_ERR_RESTORE_FAILED', `function "${name}": the restored instance failed to resume: ${error.message}`, {
            cause: error,
            functionName: name,
            hint: 'the image may be corrupt or from another kernel or criu: rebuild it',
          });
    const outcome = kind === 'image' ? 'the image is marked for rebuild' : 'a transient failure: the image stays in use';
    context.log.warn(
      {
        fn: name,
        buildId: fn.image.meta.buildId,
        err: { code: failure.code, message: failure.message, details: failure.details },
        fallback: context.fallback,
      },
      context.fallback ? `restore failed; falling back to a plain start; ${outcome}` : `restore failed; ${outcome}`,
    );
    if (!context.fallback) throw failure;
    observer.fallback?.({ functionName: name });
    const started = await cold();
    // The caller waited for the failed restore too.
    return { ...started, startMs: performance.now() - attempted };
  }
}
