// At build: paths a function names that its instance could not see. Inside the sandbox they would fail later
// and obscurely (a module not found, a NODE_OPTIONS --require of a missing file), so they fail here, named.
import { readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { PrebakeError } from '../errors.ts';
import type { FunctionSpec } from '../manifest/schema.ts';
import { isInView, VIEW, type SandboxMount } from './sandbox-plan.ts';

// Absolute paths in an environment value: alone, in a `:` or `,` list, or after `=` (--require=/x.js).
const PATH_TOKEN = /(?:^|[\s:,=])(\/[^\s:,=]*)/g;

function outside(fn: FunctionSpec, what: string, where: string): PrebakeError {
  return new PrebakeError('PREBAKE_ERR_OUTSIDE_VIEW', `function "${fn.name}": ${what} points to ${where}, outside what its instances can see`, {
    functionName: fn.name,
    hint: `an instance sees its code at ${VIEW.code} (read-only), its own ${VIEW.tmp}, the runtime and /usr: keep what the function uses in its directory and name it by ${VIEW.code}/... (docs/SANDBOX.md)`,
  });
}

/** Throws PREBAKE_ERR_OUTSIDE_VIEW for the first symlink in the function's directory or `env` path outside the view. */
export async function checkView(fn: FunctionSpec, mounts: SandboxMount[]): Promise<void> {
  for (const [name, value] of Object.entries(fn.env)) {
    for (const match of value.matchAll(PATH_TOKEN)) {
      const named = match[1]!;
      if (!isInView(mounts, path.normalize(named))) throw outside(fn, `env ${name}`, named);
    }
  }
  const entries = await readdir(fn.dir, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isSymbolicLink()) continue;
    const hostLink = path.join(entry.parentPath, entry.name);
    const relative = path.relative(fn.dir, hostLink);
    const target = await readlink(hostLink);
    // Where the link leads as the instance resolves it: from its place under /var/task.
    const resolved = path.resolve(path.dirname(path.join(VIEW.code, relative)), target);
    if (!isInView(mounts, resolved)) throw outside(fn, `${relative} (a symbolic link)`, target);
  }
}
