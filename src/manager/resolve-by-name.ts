// The daemon knows functions only by name (the store's), never by a path relative to its working directory.
import { isPrebakeError, PrebakeError } from '../errors.ts';
import { resolveFunction, type ResolvedFunction } from '../invoke/resolve.ts';
import type { ImageStore } from '../store/store.ts';

export function unknownFunction(name: string): PrebakeError {
  return new PrebakeError('PREBAKE_ERR_UNKNOWN_FUNCTION', `no function named "${name}" is registered`, {
    functionName: name,
    hint: 'list functions with GET /functions; register one with POST /functions {"path": "/abs/dir"}',
  });
}

function stale(name: string, why: string, cause?: unknown): PrebakeError {
  return new PrebakeError('PREBAKE_ERR_IMAGE_STALE', `function "${name}": ${why}`, {
    cause,
    functionName: name,
    hint: `rebuild it: POST /functions/${name}/build (or invoke with ?mode=cold to run the source as it is)`,
  });
}

/**
 * Resolves a registered function for a prebaked or plain start. Its source directory is what resolveFunction is
 * given, so that a name is never mistaken for a directory; a source that no longer matches the image (changed,
 * moved, renamed, its manifest broken) is PREBAKE_ERR_IMAGE_STALE with a hint to rebuild.
 */
export async function resolveByName(name: string, store: ImageStore, mode: 'prebaked' | 'cold'): Promise<ResolvedFunction> {
  const image = await store.get(name);
  if (!image) throw unknownFunction(name);
  let fn: ResolvedFunction;
  try {
    fn = await resolveFunction(image.meta.spec.dir, store, mode);
  } catch (error) {
    if (isPrebakeError(error, 'PREBAKE_ERR_IMAGE_STALE')) throw stale(name, error.message.replace(/^function "[^"]*": /, ''), error);
    if (isPrebakeError(error, 'PREBAKE_ERR_MANIFEST')) throw stale(name, `its source no longer loads: ${error.message}`, error);
    if (isPrebakeError(error, 'PREBAKE_ERR_NOT_BUILT')) throw stale(name, `its function.json now names it "${error.functionName}"`, error);
    throw error;
  }
  if (fn.spec.name !== name) throw stale(name, `its function.json now names it "${fn.spec.name}"`);
  return fn;
}
