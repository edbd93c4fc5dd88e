// The clone-uniqueness check that `prebake build` runs after the dump: restore two clones of the new image,
// start the function plainly twice, run the same probe event in all four, and name the result fields that
// clones share although plain starts do not (shared-state.ts). prebake reseeds the runtimes' own generators in
// every clone; this catches what it cannot reach: a library's random pool or a generator the function seeded
// at init. The four instances run side by side, so the check costs about one restore plus one plain start.
import { randomUUID } from 'node:crypto';
import type { Criu } from '../criu/criu.ts';
import { isPrebakeError } from '../errors.ts';
import type { InstanceRegistry } from '../instance/registry.ts';
import { runOnce } from '../invoke/invoke.ts';
import type { FunctionSpec } from '../manifest/schema.ts';
import { startCold } from '../start/cold.ts';
import { startPrebaked } from '../start/restore.ts';
import type { StartedInstance } from '../start/started.ts';
import type { CloneCheck, ImageStore, StoredImage } from '../store/store.ts';
import { sharedStatePaths } from './shared-state.ts';

export interface CloneCheckInput {
  fn: FunctionSpec;
  /** The image just dumped (published or not). */
  image: StoredImage;
  /** What the runtime prepared for this source (plain starts run from it). */
  preparedDir: string;
  store: ImageStore;
  criu: Criu;
  instances: InstanceRegistry;
}

/**
 * Runs the check. A clone that cannot be restored fails it (the image is unusable); a probe that fails skips
 * it with a warning (the clones were not verified).
 */
export async function checkClones({ fn, image, preparedDir, store, criu, instances }: CloneCheckInput): Promise<CloneCheck> {
  if (fn.cloneCheck === false) return { sharedPaths: [], off: true };
  const event = JSON.stringify(fn.cloneCheck?.event ?? fn.warmup.event ?? {});
  const probe = async (start: () => Promise<StartedInstance>) =>
    JSON.parse((await runOnce(start, event, { requestId: `clone-check-${randomUUID()}`, timeoutMs: fn.timeoutMs })).result) as unknown;
  const settled = await Promise.allSettled([
    probe(() => startPrebaked(image, store, criu, instances)),
    probe(() => startPrebaked(image, store, criu, instances)),
    probe(() => startCold(fn, preparedDir, store, instances)),
    probe(() => startCold(fn, preparedDir, store, instances)),
  ]);
  const restoreFailure = settled.find(
    (outcome) =>
      outcome.status === 'rejected' &&
      (isPrebakeError(outcome.reason, 'PREBAKE_ERR_RESTORE_FAILED') || isPrebakeError(outcome.reason, 'PREBAKE_ERR_CRIU_TIMEOUT')),
  );
  if (restoreFailure) throw (restoreFailure as PromiseRejectedResult).reason;
  const failure = settled.find((outcome) => outcome.status === 'rejected');
  if (failure) {
    const reason = (failure as PromiseRejectedResult).reason;
    return { sharedPaths: [], skipped: `the probe event failed: ${reason instanceof Error ? reason.message : String(reason)}` };
  }
  const [clone1, clone2, plain1, plain2] = settled.map((outcome) => (outcome as PromiseFulfilledResult<unknown>).value);
  return { sharedPaths: sharedStatePaths([plain1, plain2], [clone1, clone2], { nowMs: Date.now() }) };
}

/** The check's findings as warnings for people (CLI, GET /functions/:name); `--strict` fails on any. */
export function cloneCheckWarnings(check: CloneCheck | undefined): string[] {
  if (check?.skipped) {
    return [
      `the clone-uniqueness check could not run: ${check.skipped}; set "cloneCheck": {"event": ...} in function.json to an event the handler takes`,
    ];
  }
  if (!check || check.sharedPaths.length === 0) return [];
  return [
    `clones share state: ${check.sharedPaths.join(', ')} ${check.sharedPaths.length === 1 ? 'is' : 'are'} the same in every clone ` +
      'but differ between plain starts; a generator or random pool made at init repeats in every clone: ' +
      'reseed it in an afterRestore hook or make it per invocation (README: "Clones never share randomness")',
  ];
}
