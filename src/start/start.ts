// Starting an instance the way a resolved function says: a restore of its image (prebaked) or a plain start.
import type { Criu } from '../criu/criu.ts';
import type { InstanceRegistry } from '../instance/registry.ts';
import type { FunctionSpec, StartMode } from '../manifest/schema.ts';
import type { ImageStore, StoredImage } from '../store/store.ts';
import { startCold } from './cold.ts';
import { startPrebaked } from './restore.ts';
import type { StartedInstance } from './started.ts';

/** What a start needs to know of a function (invoke/resolve.ts's ResolvedFunction is one). */
export interface StartTarget {
  spec: FunctionSpec;
  mode: Exclude<StartMode, 'warm' | 'pooled'>;
  preparedDir: string;
  image?: StoredImage;
}

/** Starts an instance of `fn` the way `fn.mode` says; prebaked needs the image. */
export async function startInstance(fn: StartTarget, store: ImageStore, criu: Criu, instances: InstanceRegistry): Promise<StartedInstance> {
  if (fn.mode === 'prebaked' && fn.image) return startPrebaked(fn.image, store, criu, instances);
  return startCold(fn.spec, fn.preparedDir, store, instances);
}
