// Deploying a function's code: a build copies its directory (node_modules, vendored packages and jars included)
// into the build's store entry, and every instance of that build runs from the copy. So an invocation by name
// never reads the source directory, a later edit of the source cannot change a deployed version, and the source
// may be read-only (criu's parasite needs a writable cwd in the task's mount namespace; see CRIU-NOTES.md).
import { copyFile, mkdir, readdir, readlink, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { isInside } from '../files/inside.ts';

// Version control is not code: a .git directory can be larger than the function.
const NOT_DEPLOYED = new Set(['.git']);

// Files copied at once: enough to keep the disk busy, few enough to stay under the open-file limit.
const PARALLEL_COPIES = 32;

/**
 * Copies `source` into `target` (which must not exist yet). Symbolic links are copied as links, but for a
 * relative one that leads out of `source` to a file (`lib/x.jar -> ../../shared/x.jar`): the file is copied in
 * its place. Modes are kept (an executable stays executable).
 */
export async function copyFunctionCode(source: string, target: string): Promise<void> {
  const files: [string, string][] = [];
  const walk = async (relative: string): Promise<void> => {
    await mkdir(path.join(target, relative), { recursive: relative === '' });
    for (const entry of await readdir(path.join(source, relative), { withFileTypes: true })) {
      if (NOT_DEPLOYED.has(entry.name)) continue;
      const from = path.join(source, relative, entry.name);
      const to = path.join(target, relative, entry.name);
      if (entry.isDirectory()) await walk(path.join(relative, entry.name));
      else if (entry.isSymbolicLink()) await copyLink(source, from, to, files);
      else if (entry.isFile()) files.push([from, to]);
      // Sockets, fifos and devices are not code.
    }
  };
  await walk('');
  for (let i = 0; i < files.length; i += PARALLEL_COPIES) {
    await Promise.all(files.slice(i, i + PARALLEL_COPIES).map(([from, to]) => copyFile(from, to)));
  }
}

// A link stays a link when it stays inside the function's directory, or is absolute (/usr/share/java/x.jar:
// the instance's view has /usr). A relative one that leads out of the directory is replaced by a copy of what it
// points to, as a zip for Lambda would hold it: outside the directory, nothing is in the instance's view.
async function copyLink(root: string, link: string, to: string, files: [string, string][]): Promise<void> {
  const target = await readlink(link);
  const resolved = path.resolve(path.dirname(link), target);
  if (path.isAbsolute(target) || isInside(resolved, root)) {
    await symlink(target, to);
    return;
  }
  const info = await stat(link).catch(() => undefined);
  if (info?.isFile()) files.push([link, to]);
  else await symlink(resolved, to); // a directory or a broken link: kept as a link, made absolute
}
