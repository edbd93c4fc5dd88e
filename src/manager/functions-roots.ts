// Registering a directory runs its code as root. With functions roots configured (functionsRoots), only
// directories whose real path (every symlink resolved) lies inside one of them are taken, and the function is
// registered under that real path, so that a symlink swapped after the check cannot point the build elsewhere.
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { PrebakeError } from '../errors.ts';
import { isInside } from '../files/inside.ts';

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
    hint: `register a directory under ${roots.join(', ')}, or add its parent to the daemon's functionsRoots`,
  });
}

/**
 * For code a bundle brings (docs/BUNDLES.md): throws unless `dir`, which may not exist yet, lies inside a root.
 * Its nearest existing ancestor's real path decides, so a symlink on the way cannot lead outside.
 */
export async function assertWouldBeInsideRoots(dir: string, roots: readonly string[]): Promise<void> {
  if (roots.length === 0) return;
  let existing = path.resolve(dir);
  let real = await realpath(existing).catch(() => undefined);
  while (real === undefined && existing !== path.dirname(existing)) {
    existing = path.dirname(existing);
    real = await realpath(existing).catch(() => undefined);
  }
  const target = path.join(real ?? existing, path.relative(existing, path.resolve(dir)));
  for (const root of roots) {
    const realRoot = await realpath(root).catch(() => undefined);
    if (realRoot !== undefined && isInside(target, realRoot)) return;
  }
  throw new PrebakeError(
    'PREBAKE_ERR_PATH_NOT_ALLOWED',
    `the bundle's code belongs in ${dir} (really ${target}), not inside a functions root of this daemon`,
    {
      hint: `build the function under ${roots.join(', ')}, or add its parent to the daemon's functionsRoots`,
    },
  );
}
