// An instance runs as an unprivileged host uid (sandbox-plan.ts): every directory on the way to what its view
// binds (the skeleton root, the function's code, prepared files, all under prebake's home) must let others
// through (o+x). A home made by mkdtemp (0700) would otherwise fail every start with the launcher's bare
// "Permission denied" (exit 126); say which directory instead, once per directory and process.
import { statSync } from 'node:fs';
import path from 'node:path';
import { PrebakeError } from '../errors.ts';

const checked = new Set<string>();

/** Throws PREBAKE_ERR_INVALID_INPUT naming the first directory above `dir` (itself included) that others cannot enter. */
export function assertReachableByInstances(dir: string): void {
  const resolved = path.resolve(dir);
  if (checked.has(resolved)) return;
  for (let at = resolved; ; at = path.dirname(at)) {
    const mode = statSync(at, { throwIfNoEntry: false })?.mode;
    if (mode !== undefined && (mode & 0o001) === 0) {
      throw new PrebakeError(
        'PREBAKE_ERR_INVALID_INPUT',
        `${at} (mode ${(mode & 0o777).toString(8).padStart(4, '0')}) cannot be entered by the unprivileged user that instances run as, and ${resolved} lies under it`,
        {
          hint: `let others through it (chmod o+x ${at}), or put prebake's home elsewhere`,
        },
      );
    }
    if (path.dirname(at) === at) break;
  }
  checked.add(resolved);
}
