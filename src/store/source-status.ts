// Whether a built function's source directory still holds what its build deployed. Invoking a built function
// by name never asks (it runs the build's copy); `prebake ls`, the daemon's GET /functions and an invocation by
// directory do.
import { sourceDigest, sourceFingerprint } from '../manifest/digest.ts';
import type { ImageMeta } from './store.ts';

/** `unchanged`: the source is what was built; `changed`: edited since; `missing`: the directory is gone. */
export type SourceStatus = 'unchanged' | 'changed' | 'missing';
export const SOURCE_STATUSES = ['unchanged', 'changed', 'missing'] as const satisfies readonly SourceStatus[];

/** Compares `dir` (default: the directory the build was made from) with what the build recorded. */
export async function sourceStatus(meta: ImageMeta, dir = meta.spec.dir): Promise<SourceStatus> {
  const fingerprint = await sourceFingerprint(dir).catch(() => undefined);
  if (fingerprint === undefined) return 'missing';
  if (fingerprint === meta.sourceFingerprint) return 'unchanged';
  // Touched but maybe not changed: the content decides.
  const digest = await sourceDigest(dir).catch(() => undefined);
  if (digest === undefined) return 'missing';
  return digest === meta.sourceDigest ? 'unchanged' : 'changed';
}

/**
 * The daemon's view of every build's source status, computed off the invocation path and kept for `maxAgeMs`
 * (a walk of a big node_modules takes most of a second). A caller within that time gets the last answer, or
 * waits for the walk under way; builds are keyed by id, so a rebuild is never answered from the old build.
 */
export class SourceStatusCache {
  private readonly entries = new Map<string, { buildId: string; checkedAt: number; status: Promise<SourceStatus> }>();

  private readonly maxAgeMs: number;

  constructor(maxAgeMs = 2_000) {
    this.maxAgeMs = maxAgeMs;
  }

  get(meta: ImageMeta): Promise<SourceStatus> {
    const entry = this.entries.get(meta.name);
    if (entry?.buildId === meta.buildId && performance.now() - entry.checkedAt < this.maxAgeMs) return entry.status;
    const status = sourceStatus(meta);
    this.entries.set(meta.name, { buildId: meta.buildId, checkedAt: performance.now(), status });
    return status;
  }

  forget(name: string): void {
    this.entries.delete(name);
  }
}
