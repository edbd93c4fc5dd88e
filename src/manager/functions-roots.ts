// Registering a directory runs its code as root. With functions roots configured (`--functions-root`), only
// directories whose real path (every symlink resolved) lies inside one of them are taken, and the function is
// registered under that real path, so that a symlink swapped after the check cannot point the build elsewhere.
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { PrebakeError } from '../errors.ts';

/** The directory to load: `dir` itself without roots, else its real path once it is inside a root. */
export async function directoryInsideRoots(dir: string, roots: readonly string[]): Promise<string> {
  if (roots.length === 0) return dir;
  // A path that does not resolve is left for loadFunction to report as "not a directory".
  const real = await realpath(dir).catch(() => undefined);
  if (real === undefined) return dir;
  for (const root of roots) {
    const realRoot = await realpath(root).catch(() => undefined);
    if (realRoot !== undefined && isInside(real, realRoot)) return real;
  }
  throw new PrebakeError('PREBAKE_ERR_PATH_NOT_ALLOWED', `${dir} (really ${real}) is not inside a functions root of this daemon`, {
    hint: `register a directory under ${roots.join(', ')}, or start the daemon with --functions-root for its parent`,
  });
}

function isInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative === '' || (relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative));
}
