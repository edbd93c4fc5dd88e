import type { Instance } from '../instance/instance.ts';
import type { StartMode } from '../manifest/schema.ts';
import type { StartPhase } from './phases.ts';

/** An instance that is ready to run its handler, and how it got there. */
export interface StartedInstance {
  instance: Instance;
  kind: StartMode;
  /** From the request to start until the instance could take an event: spawn + init, or restore + resume. */
  startMs: number;
  /** Where `startMs` went, phase by phase, where the start measured it (a prebaked start: phases.ts). */
  phases?: StartPhase[];
  /** Work dirs to remove once the instance has ended. */
  cleanup: () => Promise<void>;
}
