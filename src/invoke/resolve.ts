import { PrebakeError } from '../errors.ts';
import { sourceDigest } from '../manifest/digest.ts';
import { loadFunction } from '../manifest/load.ts';
import { FUNCTION_NAME_PATTERN } from '../manifest/schema.ts';
import { ensurePrepared } from '../runtimes/index.ts';
import type { ResolvedFunction } from '../start/start.ts';
import { sourceStatus } from '../store/source-status.ts';
import { deployedSpec, type ImageStore, type StoredImage } from '../store/store.ts';

// A target is a directory only when it says so ("./hello", "functions/hello", "/abs/hello"): a bare word is
// always a name, whatever the working directory happens to hold. The one rule for every command that takes
// either (invoke, bench).
export function looksLikePath(target: string): boolean {
  return target.includes('/') || target === '.' || target === '..';
}

/**
 * Finds what to run for `target`. A name runs the deployed version, the build's own copy of the code, and never
 * reads the source directory. A directory runs its source as it is for a plain start; a prebaked start needs
 * an image built from the directory's current source: a changed source is refused, never restored stale.
 */
export async function resolveFunction(target: string, store: ImageStore, askedMode?: ResolvedFunction['mode']): Promise<ResolvedFunction> {
  if (!looksLikePath(target)) {
    if (!new RegExp(FUNCTION_NAME_PATTERN).test(target)) {
      throw new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `"${target}" is neither a function name nor a directory`);
    }
    return resolveImage(await store.require(target), askedMode ?? 'prebaked');
  }
  const spec = await loadFunction(target);
  const image = await store.get(spec.name);
  const mode = askedMode ?? (image ? 'prebaked' : 'cold');
  if (mode === 'cold') {
    const digest = await sourceDigest(spec.dir);
    return { spec, mode, preparedDir: await ensurePrepared(store, spec, digest), image };
  }
  if (!image) {
    throw new PrebakeError('PREBAKE_ERR_NOT_BUILT', `function "${spec.name}" has no image`, {
      functionName: spec.name,
      hint: 'build it first, or start it plainly (cold)',
      details: { reason: 'no-image', dir: spec.dir },
    });
  }
  await assertFresh(image, spec.dir);
  return resolveImage(image, mode);
}

/** A built function as deployed: its build's copy of the code, run by the interpreter the build ran. */
export function resolveImage(image: StoredImage, mode: ResolvedFunction['mode']): ResolvedFunction {
  if (mode !== 'cold') assertRestorable(image, image.meta.spec.dir);
  return { spec: deployedSpec(image), mode, preparedDir: image.meta.preparedDir, image };
}

/**
 * Why an image is stale, for the surfaces' how-to (details.reason): the host or prebake changed since the build
 * (rebuild it here), or its source did (rebuild it, or run the build as it is by the function's name).
 */
export type StaleReason = 'host-changed' | 'no-digests' | 'source-moved' | 'source-missing' | 'source-changed';

/** PREBAKE_ERR_IMAGE_STALE for an image this host must not restore, whatever its source says. */
function assertRestorable(image: StoredImage, dir: string): void {
  const { meta } = image;
  if (meta.rebuildReason !== undefined) {
    throw new PrebakeError('PREBAKE_ERR_IMAGE_STALE', `function "${meta.name}": its image was ${meta.rebuildReason}`, {
      functionName: meta.name,
      hint: 'rebuild it on this host',
      details: { reason: 'host-changed' satisfies StaleReason, dir },
    });
  }
  // An image without the digests of its files cannot be verified (see store/image-files.ts): rebuild it.
  if (!meta.files) throw staleImage(image, 'no-digests', 'prebake started recording image digests', dir);
}

function staleImage({ meta }: StoredImage, reason: StaleReason, why: string, dir: string): PrebakeError {
  return new PrebakeError('PREBAKE_ERR_IMAGE_STALE', `function "${meta.name}": ${why} since its image was built at ${meta.builtAt}`, {
    functionName: meta.name,
    hint: reason.startsWith('source-') ? 'rebuild it, or invoke the built version by its name' : 'rebuild it',
    details: { reason, dir },
  });
}

async function assertFresh(image: StoredImage, dir: string): Promise<void> {
  const { meta } = image;
  assertRestorable(image, dir);
  if (dir !== meta.spec.dir) throw staleImage(image, 'source-moved', `its source moved from ${meta.spec.dir} to ${dir}`, dir);
  const status = await sourceStatus(meta, dir);
  if (status === 'missing') throw staleImage(image, 'source-missing', `its source directory ${dir} is gone`, dir);
  if (status === 'changed') throw staleImage(image, 'source-changed', 'its source changed', dir);
}
