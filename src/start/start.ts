// Starting an instance the way a resolved function says: a restore of its image (prebaked) or a plain start.
import type { Criu } from '../criu/criu.ts';
import type { InstanceRegistry } from '../instance/registry.ts';
import type { FunctionSpec, StartMode } from '../manifest/schema.ts';
import type { ImageStore, StoredImage } from '../store/store.ts';
import { startCold } from './cold.ts';
import { type ForkTemplates, startForked } from './fork.ts';
import { startPrebaked } from './restore.ts';
import type { StartedInstance } from './started.ts';

/** A function resolved to what to run (invoke/resolve.ts finds it): what a start needs to know of it. */
export interface ResolvedFunction {
  spec: FunctionSpec;
  /** How to start it: as asked, else prebaked when it has an image, else cold. */
  mode: Exclude<StartMode, 'warm' | 'pooled'>;
  preparedDir: string;
  /** The current image, when there is one and it matches the source. */
  image?: StoredImage;
}

/** Starts an instance of `fn` the way `fn.mode` says; prebaked and fork need the image, fork its templates. */
export async function startInstance(
  fn: ResolvedFunction,
  store: ImageStore,
  criu: Criu,
  instances: InstanceRegistry,
  templates?: ForkTemplates,
): Promise<StartedInstance> {
  if (fn.mode === 'prebaked' && fn.image) return startPrebaked(fn.image, store, criu, instances);
  if (fn.mode === 'fork') {
    if (!fn.image || !templates) throw new Error('a fork start needs the image and the fork templates');
    return startForked(fn.spec, fn.image, templates);
  }
  return startCold(fn.spec, fn.preparedDir, store, instances);
}
