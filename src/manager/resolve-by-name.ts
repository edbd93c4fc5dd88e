// The daemon knows functions only by name (the store's), never by a path relative to its working directory, and
// runs the deployed version of each: its source directory is not read on the way to an instance.
import { PrebakeError } from '../errors.ts';
import type { ImageStore, StoredImage } from '../store/store.ts';

export function unknownFunction(name: string): PrebakeError {
  return new PrebakeError('PREBAKE_ERR_UNKNOWN_FUNCTION', `no function named "${name}" is registered`, {
    functionName: name,
    hint: 'list functions with GET /functions; register one with POST /functions {"path": "/abs/dir"}',
  });
}

/** The registered function's current build; PREBAKE_ERR_UNKNOWN_FUNCTION when there is none. */
export async function registeredImage(store: ImageStore, name: string): Promise<StoredImage> {
  const image = await store.get(name);
  if (!image) throw unknownFunction(name);
  return image;
}
