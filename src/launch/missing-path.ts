// After an init failed on a missing file: whether the file (or a symbolic link on its way) leads outside the
// instance's view, found by walking the path component by component as the instance would, reading each link on
// the host. Such a failure is the sandbox's doing, not the interpreter's, and "readOnlyPaths" is the way out.
import { execFile } from 'node:child_process';
import { lstat, readlink, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { isInside } from '../files/inside.ts';
import { isInView, type ViewEntry, type ViewOp } from './view-ops.ts';

const run = promisify(execFile);

/** A path the instance failed to open that the host has, outside the view. */
export interface OutsideView {
  /** The path as the error named it (a view path, or the host path of a library named by its soname). */
  named: string;
  /** The symbolic link on its way that leads outside, and where it points, when one does. */
  link?: { path: string; target: string };
  /** The host path to add to "readOnlyPaths". */
  add: string;
}

// Absolute paths as runtimes quote them: '/x/y' (Python, Node), /x/y (Java's "(No such file or directory)").
const ABSOLUTE = /(?:^|[\s'"`(=:])(\/[^\s'"`():,;]+)/g;
// glibc's loader names a library by its soname: "libblas.so.3: cannot open shared object file".
const SONAME = /([\w.+-]+\.so(?:\.[\w.]+)?): cannot open shared object file/g;
const MISSING =
  /No such file or directory|cannot open shared object file|ENOENT|Cannot find module|ERR_MODULE_NOT_FOUND|FileNotFoundException|NoSuchFileException/;
const MAX_LINKS = 40;

/** The first path named in `text` (an init failure's message, stack and stderr) that leads outside the view. */
export async function outsideView(view: ViewOp[], text: string): Promise<OutsideView | undefined> {
  if (!MISSING.test(text)) return undefined;
  const named = [...text.matchAll(ABSOLUTE)].map((match) => match[1]!.replace(/[.]+$/, ''));
  for (const soname of new Set([...text.matchAll(SONAME)].map((match) => match[1]!))) {
    if (!soname.includes('/')) named.push(...(await hostLibraries(soname)));
  }
  for (const file of new Set(named)) {
    const found = await walk(view, path.normalize(file));
    if (found) return { named: file, ...found };
  }
  return undefined;
}

// Where the host's loader finds `soname` (its cache, as ldconfig -p prints it).
async function hostLibraries(soname: string): Promise<string[]> {
  const listed = await run('ldconfig', ['-p'], { env: { PATH: '/usr/sbin:/sbin:/usr/bin:/bin' } }).then(
    (r) => r.stdout,
    () => '',
  );
  return listed
    .split('\n')
    .filter((line) => line.trim().startsWith(`${soname} `))
    .map((line) => line.slice(line.lastIndexOf(' => ') + 4).trim())
    .filter(Boolean);
}

const exists = (file: string) =>
  stat(file).then(
    () => true,
    () => false,
  );

/** The host path behind `viewPath`: through the bind or copy that holds it, else the same path (the skeleton's own). */
function hostPathOf(view: ViewOp[], viewPath: string): string {
  let best: ViewEntry | undefined;
  for (const entry of view)
    if ('source' in entry && isInside(viewPath, entry.target) && (!best || entry.target.length > best.target.length)) best = entry;
  return best ? path.join(best.source, path.relative(best.target, viewPath)) : viewPath;
}

// Resolves `viewPath` one component at a time. Undefined when it stays in the view, or leads out to something the
// host does not have either (then the file is missing everywhere: not the sandbox's doing).
async function walk(view: ViewOp[], viewPath: string): Promise<Omit<OutsideView, 'named'> | undefined> {
  const pending = viewPath.split('/').filter(Boolean);
  let current = '/';
  let link: OutsideView['link'];
  for (let links = 0; pending.length > 0; ) {
    const name = pending.shift()!;
    if (name === '.') continue;
    if (name === '..') {
      current = path.dirname(current);
      continue;
    }
    const next = path.join(current, name);
    // A directory of the skeleton that holds mount points (/etc, /var): there, whatever the host has at its path.
    if (!isInView(view, next) && view.some((entry) => isInside(entry.target, next))) {
      current = next;
      continue;
    }
    if (!isInView(view, next)) {
      const outside = path.join(next, ...pending);
      if (!(await exists(outside))) return undefined;
      // What to add: where the last link led (a directory, often), else the path itself.
      const linked = link && path.resolve(path.dirname(link.path), link.target);
      return linked && !isInView(view, linked) ? { link, add: linked } : { add: outside };
    }
    const info = await lstat(hostPathOf(view, next)).catch(() => undefined);
    if (!info) return undefined;
    if (info.isSymbolicLink()) {
      if (++links > MAX_LINKS) return undefined;
      const target = await readlink(hostPathOf(view, next));
      link = { path: next, target };
      pending.unshift(...target.split('/').filter(Boolean));
      if (target.startsWith('/')) current = '/';
      continue;
    }
    current = next;
  }
  return undefined;
}
