import { PrebakeError } from '../errors.ts';
import type { StartMode } from '../manifest/schema.ts';
import { sourceDigest, sourceFingerprint } from '../manifest/digest.ts';
import { loadFunction } from '../manifest/load.ts';
import { FUNCTION_NAME_PATTERN, type FunctionSpec } from '../manifest/schema.ts';
import { ensurePrepared } from '../runtimes/prepare.ts';
import { META_FORMAT, type ImageStore, type StoredImage } from '../store/store.ts';

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
 * Finds what to run for `target` (a function name from the store, or a function directory). A prebaked start
 * needs an image built from the function's current source: a changed source is refused, never restored stale.
 */
export async function resolveFunction(
  target: string,
  store: ImageStore,
  askedMode?: Exclude<StartMode, 'warm'>,
): Promise<ResolvedFunction> {
  const isDir = looksLikePath(target);
  let spec: FunctionSpec;
  let image: StoredImage | undefined;
  if (isDir) {
    spec = await loadFunction(target);
    image = await store.get(spec.name);
  } else {
    if (!new RegExp(FUNCTION_NAME_PATTERN).test(target)) {
      throw new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `"${target}" is neither a function name nor a directory`);
    }
    image = await store.get(target);
    if (!image) {
      throw new PrebakeError('PREBAKE_ERR_UNKNOWN_FUNCTION', `no function named "${target}" has been built`, {
        functionName: target,
        hint: 'list built functions with `prebake ls`, or build one with `prebake build <dir>`',
      });
    }
    spec = askedMode === 'cold' ? await loadFunction(image.meta.spec.dir) : image.meta.spec;
  }
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
  return { spec: image.meta.spec, mode, preparedDir: image.meta.preparedDir, image };
}

async function assertFresh(image: StoredImage, dir: string): Promise<void> {
  const { meta } = image;
  const stale = (why: string) =>
    new PrebakeError('PREBAKE_ERR_IMAGE_STALE', `function "${meta.name}": ${why} since its image was built at ${meta.builtAt}`, {
      functionName: meta.name,
      hint: `rebuild it: prebake build ${dir}`,
    });
  if (meta.format !== META_FORMAT) throw stale('prebake changed how instances run (image format)');
  if (meta.rebuildReason !== undefined) {
    throw new PrebakeError('PREBAKE_ERR_IMAGE_STALE', `function "${meta.name}": its image was ${meta.rebuildReason}`, {
      functionName: meta.name,
      hint: `rebuild it here: prebake build ${dir}`,
    });
  }
  if (dir !== meta.spec.dir) throw stale(`its source moved from ${meta.spec.dir} to ${dir}`);
  // An image without the digests of its files cannot be verified (see store/image-files.ts): rebuild it.
  if (!meta.files) throw stale('prebake started recording image digests');
  const fingerprint = await sourceFingerprint(dir).catch(() => undefined);
  if (fingerprint === undefined) throw stale(`its source directory ${dir} is gone`);
  if (fingerprint === meta.sourceFingerprint) return;
  // Touched but maybe not changed: the content decides.
  if ((await sourceDigest(dir)) !== meta.sourceDigest) throw stale('its source changed');
}
