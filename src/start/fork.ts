// A fork start: a child of the function's fork template (fork-template.ts), the template restored on first use
// and kept. ForkTemplates holds one template per function: for the image's current build, replaced when it
// died, ended when its function goes or at shutdown.
import type { Criu } from '../criu/criu.ts';
import { PrebakeError } from '../errors.ts';
import type { InstanceRegistry } from '../instance/registry.ts';
import type { FunctionSpec } from '../manifest/schema.ts';
import type { ImageStore, StoredImage } from '../store/store.ts';
import { assertForkable, ForkTemplate } from './fork-template.ts';
import type { StartedInstance } from './started.ts';

export class ForkTemplates {
  private readonly store: ImageStore;
  private readonly criu: Criu;
  private readonly instances: InstanceRegistry;
  private readonly templates = new Map<string, Promise<ForkTemplate>>();
  /** Templates being ended: endAll waits for them too. */
  private readonly ending = new Set<Promise<void>>();
  private closed = false;

  /** `instances`: the registry templates and their children are alive in (their owner's). */
  constructor(store: ImageStore, criu: Criu, instances: InstanceRegistry) {
    this.store = store;
    this.criu = criu;
    this.instances = instances;
  }

  /** How many templates are alive or being restored (metrics, tests). */
  get size(): number {
    return this.templates.size;
  }

  /** The template of `image`'s build, restored when there is none (or it died, or is of an older build). */
  async forImage(image: StoredImage): Promise<ForkTemplate> {
    const name = image.meta.name;
    const existing = this.templates.get(name);
    if (existing) {
      const template = await existing.catch(() => undefined);
      if (template?.alive && template.buildId === image.meta.buildId) return template;
      // Another caller may have replaced it while this one waited.
      if (this.templates.get(name) !== existing) return this.forImage(image);
      this.retire(name);
    }
    if (this.closed) throw new PrebakeError('PREBAKE_ERR_SHUTTING_DOWN', 'fork templates are shutting down');
    const restoring = ForkTemplate.restore(image, this.store, this.criu, this.instances);
    this.templates.set(name, restoring);
    restoring.then(
      (template) =>
        template.onEnd(() => {
          this.forget(name, restoring);
          this.track(template.end());
        }),
      () => this.forget(name, restoring),
    );
    return restoring;
  }

  /** Ends the function's template (children it forked end with it: they live in its PID namespace). */
  retire(name: string): void {
    const template = this.templates.get(name);
    if (!template) return;
    this.templates.delete(name);
    this.track(
      template.then(
        (t) => t.end(),
        () => {},
      ),
    );
  }

  /** Ends every template and refuses new ones. */
  async endAll(): Promise<void> {
    this.closed = true;
    for (const name of [...this.templates.keys()]) this.retire(name);
    while (this.ending.size > 0) await Promise.all([...this.ending]);
  }

  private track(end: Promise<void>): void {
    const ending: Promise<void> = end
      .catch((error: unknown) => process.emitWarning(error as Error))
      .finally(() => this.ending.delete(ending));
    this.ending.add(ending);
  }

  private forget(name: string, template: Promise<ForkTemplate>): void {
    if (this.templates.get(name) === template) this.templates.delete(name);
  }
}

/** A child of `image`'s template; startMs includes restoring the template when this start had to. */
export async function startForked(spec: FunctionSpec, image: StoredImage, templates: ForkTemplates): Promise<StartedInstance> {
  const asked = performance.now();
  assertForkable(spec);
  const template = await templates.forImage(image);
  let child: StartedInstance;
  try {
    child = await template.fork(spec);
  } catch (error) {
    // The template died under this fork (killed while it forked): once more from a new one.
    if (template.alive) throw error;
    child = await (await templates.forImage(image)).fork(spec);
  }
  return { ...child, startMs: performance.now() - asked };
}
