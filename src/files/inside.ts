// Path containment, one rule for every place that asks (function roots, bundles, the sandbox's view).
import path from 'node:path';

/** Whether `child` is `parent` or lies below it (both absolute; no symlinks resolved). */
export function isInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative === '' || (relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative));
}
