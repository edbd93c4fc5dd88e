// At build: paths a function names that its instance could not see. Inside the sandbox they would fail later
// and obscurely (a module not found, a NODE_OPTIONS --require of a missing file), so they fail here, named.
import { readlink } from 'node:fs/promises';
import path from 'node:path';
import { PrebakeError } from '../errors.ts';
import type { FunctionSpec } from '../manifest/schema.ts';
import { runtimeFor } from '../runtimes/index.ts';
import { isInView, type ViewOp } from './view-ops.ts';
import { VIEW } from './view-places.ts';

// Absolute paths in an environment value: alone, in a `:` or `,` list, or after `=` (--require=/x.js). URLs
// (http://host/path) are addresses, not paths.
const PATH_TOKEN = /(?:^|[\s:,=])(\/[^\s:,=]*)/g;
const URL = /[A-Za-z][A-Za-z0-9+.-]*:\/\/\S*/g;

function outside(fn: FunctionSpec, what: string, where: string): PrebakeError {
  return new PrebakeError(
    'PREBAKE_ERR_OUTSIDE_VIEW',
    `function "${fn.name}": ${what} points to ${where}, outside what its instances can see`,
    {
      functionName: fn.name,
      hint: `an instance sees its code at ${VIEW.code} (read-only), its own ${VIEW.tmp}, the runtime and /usr: keep what the function uses in its directory and name it by ${VIEW.code}/... (docs/SANDBOX.md)`,
    },
  );
}

/**
 * Throws PREBAKE_ERR_OUTSIDE_VIEW for the first path outside the view that the function names: an absolute path
 * in an `env` value, or a symbolic link on the way to its handler's code (other links, such as
 * node_modules/.bin, are the function's business: nothing of prebake's follows them).
 */
export async function checkView(fn: FunctionSpec, view: ViewOp[]): Promise<void> {
  for (const [name, value] of Object.entries(fn.env)) {
    for (const match of value.replace(URL, ' ').matchAll(PATH_TOKEN)) {
      const named = match[1]!;
      if (!isInView(view, path.normalize(named))) throw outside(fn, `env ${name}`, named);
    }
  }
  for (const file of runtimeFor(fn.runtime).handlerFiles?.(fn.handler) ?? []) {
    const parts = file.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const relative = parts.slice(0, i).join('/');
      const target = await readlink(path.join(fn.dir, relative)).catch(() => undefined);
      if (target === undefined) continue;
      // Where the link leads as the instance resolves it: from its place under /var/task.
      const resolved = path.resolve(path.dirname(path.join(VIEW.code, relative)), target);
      if (!isInView(view, resolved)) throw outside(fn, `the handler's ${relative} (a symbolic link)`, target);
    }
  }
}
