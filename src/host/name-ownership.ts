// A function name belongs to the directory that registered it: another directory's build is refused unless
// it asks to replace the registered one (the CLI's --replace, the daemon's ?replace=true).
import { realpath } from 'node:fs/promises';
import { PrebakeError } from '../errors.ts';
import type { FunctionSpec } from '../manifest/schema.ts';
import type { ImageStore } from '../store/store.ts';

/** Throws PREBAKE_ERR_NAME_TAKEN when `store` holds `spec.name` from another directory. */
export async function assertNameFree(store: ImageStore, spec: FunctionSpec): Promise<void> {
  // An image whose metadata is unreadable belongs to no one: a build may replace it.
  const existing = await store.get(spec.name).catch(() => undefined);
  if (!existing) return;
  const [ownerDir, newDir] = await Promise.all([existing.meta.spec.dir, spec.dir].map((dir) => realpath(dir).catch(() => dir)));
  if (ownerDir === newDir) return;
  throw new PrebakeError(
    'PREBAKE_ERR_NAME_TAKEN',
    `the function name "${spec.name}" belongs to ${existing.meta.spec.dir}, not ${spec.dir}`,
    {
      functionName: spec.name,
      hint: 'give the function another "name" in its function.json, or replace the registered one',
    },
  );
}
