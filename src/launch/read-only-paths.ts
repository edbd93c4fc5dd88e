// At build: the host paths a function asks to read (function.json "readOnlyPaths"), which sandboxMounts binds
// read-only at the same path in its view. A path is refused, naming the field, when it could expose what an
// instance must never see (prebake's images, other users' files, the kernel's interfaces, secrets), when the view
// already holds it, or when the instance could not read it anyway.
import { realpath, stat } from 'node:fs/promises';
import { PrebakeError } from '../errors.ts';
import { isInside } from '../files/inside.ts';
import { readableByOthers } from '../files/readable-by-others.ts';
import { MANIFEST_FILE } from '../manifest/load.ts';
import type { FunctionSpec } from '../manifest/schema.ts';
import { isInView, type ViewOp } from './view-ops.ts';
import { VIEW } from './view-places.ts';

// Never bound, nor anything holding them: the kernel's interfaces, root's home, device nodes, password hashes.
const NEVER = ['/proc', '/sys', '/dev', '/root', '/etc/shadow', '/etc/gshadow', '/etc/shadow-', '/etc/gshadow-', '/run'];
// The view's own places: a bind there would hide or be hidden (a path under /tmp, by the instance's own /tmp).
const VIEW_PLACES = [VIEW.code, VIEW.prepared, VIEW.runtime, VIEW.extra, VIEW.tmp, VIEW.proc];

/** Why `host` (its real path `real`) may not be bound into a view, or undefined. */
function refusal(host: string, real: string, home: string): string | undefined {
  const overlaps = (a: string, b: string) => isInside(a, b) || isInside(b, a);
  const forbidden = [...NEVER, home].find((place) => overlaps(host, place) || overlaps(real, place));
  if (forbidden === home) return `is or holds prebake's home (${home}), where every function's images are`;
  if (forbidden) return `is or holds ${forbidden}, which no instance may see`;
  const place = VIEW_PLACES.find((p) => overlaps(host, p));
  if (place)
    return `would sit on the view's own ${place}${place === VIEW.tmp ? " (each instance's private /tmp)" : ''}: use a path outside it`;
  return undefined;
}

/**
 * Throws PREBAKE_ERR_MANIFEST, naming the field and the path, for the first of `fn.readOnlyPaths` that may not or
 * need not be bound into a view whose other entries are `view`. `home` is prebake's home.
 */
export async function checkReadOnlyPaths(fn: FunctionSpec, home: string, view: ViewOp[]): Promise<void> {
  const homeReal = await realpath(home).catch(() => home);
  for (const [i, host] of (fn.readOnlyPaths ?? []).entries()) {
    const fail = (why: string, hint: string) =>
      new PrebakeError('PREBAKE_ERR_MANIFEST', `function "${fn.name}": ${MANIFEST_FILE} field "readOnlyPaths[${i}]": ${host} ${why}`, {
        functionName: fn.name,
        hint,
      });
    const real = await realpath(host).catch(() => undefined);
    if (real === undefined) throw fail('does not exist on this host', 'name an existing file or directory, as an absolute path');
    const why = refusal(host, real, homeReal);
    if (why) throw fail(why, 'name only the files or directories the function reads (docs/SANDBOX.md, "Paths of the host")');
    const info = await stat(real);
    if (!info.isFile() && !info.isDirectory())
      throw fail(
        'is not a file or a directory (a socket, a device, a pipe)',
        'an instance reads files: name the file or directory that holds them',
      );
    if (!readableByOthers(info.mode, info.isDirectory()))
      throw fail(
        `cannot be read by other users (mode ${(info.mode & 0o777).toString(8)}), so not by the instance`,
        'make it readable by others (chmod o+r, and o+x for a directory), or name another path',
      );
    if (isInView(view, host)) throw fail("is in every instance's view already", 'remove it from "readOnlyPaths"');
  }
}
