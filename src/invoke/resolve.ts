import { PrebakeError } from '../errors.ts';
import type { StartMode } from '../manifest/schema.ts';
import { sourceDigest } from '../manifest/digest.ts';
import { loadFunction } from '../manifest/load.ts';
import { FUNCTION_NAME_PATTERN, type FunctionSpec } from '../manifest/schema.ts';
import { ensurePrepared } from '../runtimes/prepare.ts';
import { sourceStatus } from '../store/source-status.ts';
import { deployedSpec, type ImageStore, type StoredImage } from '../store/store.ts';

export interface ResolvedFunction {
  spec: FunctionSpec;
  /** How to start it: as asked, else prebaked when it has an image, else cold. */
  mode: Exclude<StartMode, 'warm'>;
  preparedDir: string;
  /** The current image, when there is one and it matches the source. */
  image?: StoredImage;
}

// A target is a directory only when it says so ("./hello", "functions/hello", "/abs/hello"): a bare word is
// always a name, whatever the working directory happens to hold.
function looksLikePath(target: string): boolean {
  return target.includes('/') || target === '.' || target === '..';
}

/**
 * Finds what to run for `target`. A name runs the deployed version, the build's own copy of the code, and never
 * reads the source directory. A directory runs its source as it is for a plain start; a prebaked start needs
 * an image built from the directory's current source: a changed source is refused, never restored stale.
 */
export async function resolveFunction(
  target: string,
  store: ImageStore,
  askedMode?: Exclude<StartMode, 'warm'>,
): Promise<ResolvedFunction> {
  if (!looksLikePath(target)) {
    if (!new RegExp(FUNCTION_NAME_PATTERN).test(target)) {
      throw new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `"${target}" is neither a function name nor a directory`);
    }
    const image = await store.get(target);
    if (!image) {
      throw new PrebakeError('PREBAKE_ERR_UNKNOWN_FUNCTION', `no function named "${target}" has been built`, {
        functionName: target,
        hint: 'list built functions with `prebake ls`, or build one with `prebake build <dir>`',
      });
    }
    return resolveImage(image, askedMode ?? 'prebaked');
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
      hint: `build it first (prebake build ${spec.dir}), or use --mode cold`,
    });
  }
  await assertFresh(image, spec.dir);
  return resolveImage(image, mode);
}

/** A built function as deployed: its build's copy of the code, run by the interpreter the build ran. */
export function resolveImage(image: StoredImage, mode: Exclude<StartMode, 'warm'>): ResolvedFunction {
  if (mode !== 'cold') assertRestorable(image, image.meta.spec.dir);
  return { spec: deployedSpec(image), mode, preparedDir: image.meta.preparedDir, image };
}

/** PREBAKE_ERR_IMAGE_STALE for an image this host must not restore, whatever its source says. */
function assertRestorable(image: StoredImage, dir: string): void {
  const { meta } = image;
  if (meta.rebuildReason !== undefined) {
    throw new PrebakeError('PREBAKE_ERR_IMAGE_STALE', `function "${meta.name}": its image was ${meta.rebuildReason}`, {
      functionName: meta.name,
      hint: `rebuild it here: prebake build ${dir}`,
    });
  }
  // An image without the digests of its files cannot be verified (see store/image-files.ts): rebuild it.
  if (!meta.files) throw staleImage(image, 'prebake started recording image digests', `prebake build ${dir}`);
}

function staleImage({ meta }: StoredImage, why: string, rebuild: string, alternative = ''): PrebakeError {
  return new PrebakeError('PREBAKE_ERR_IMAGE_STALE', `function "${meta.name}": ${why} since its image was built at ${meta.builtAt}`, {
    functionName: meta.name,
    hint: `rebuild it (${rebuild})${alternative}`,
  });
}

async function assertFresh(image: StoredImage, dir: string): Promise<void> {
  const { meta } = image;
  const stale = (why: string) => staleImage(image, why, `prebake build ${dir}`, `, or invoke the built version by its name (prebake invoke ${meta.name})`);
  assertRestorable(image, dir);
  if (dir !== meta.spec.dir) throw stale(`its source moved from ${meta.spec.dir} to ${dir}`);
  const status = await sourceStatus(meta, dir);
  if (status === 'missing') throw stale(`its source directory ${dir} is gone`);
  if (status === 'changed') throw stale('its source changed');
}
