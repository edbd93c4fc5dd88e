import { createHash } from 'node:crypto';
import { chmod, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { FunctionSpec } from '../manifest/schema.ts';
import type { ImageStore } from '../store/store.ts';
import { runtimeFor } from './index.ts';

/**
 * The directory the function's runtime prepared for this exact source and runtime (compiled classes for Java;
 * empty for Node), made once per source digest and runtime key, and shared by builds and plain starts. Prepared in a temp dir and renamed
 * into place, so a concurrent caller sees all of it or none.
 */
export async function ensurePrepared(store: ImageStore, fn: FunctionSpec, digest: string): Promise<string> {
  const runtime = runtimeFor(fn.runtime);
  const runtimeKey = (await runtime.prepareKey?.(fn)) ?? '';
  const key = createHash('sha256').update(`${digest}\0${fn.runtime}\0${runtimeKey}`).digest('hex');
  const target = store.preparedDir(fn.name, key);
  if (await stat(target).then(() => true, () => false)) return target;
  await store.init();
  const temp = await mkdtemp(path.join(store.home, 'tmp', `prepare-${fn.name}-${process.pid}-`));
  try {
    await runtime.prepare?.(fn, temp);
    // mkdtemp made it 0700; instances, which run as an unprivileged uid, read it (docs/SANDBOX.md).
    await chmod(temp, 0o755);
    await rename(temp, target).catch(async (error: NodeJS.ErrnoException) => {
      // Another process prepared the same source first: theirs is as good as ours.
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
    });
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
  return target;
}
