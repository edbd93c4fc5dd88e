// The mount table, as /proc/PID/mountinfo gives it (proc_pid_mountinfo(5)): the one format that says which part
// of a filesystem a mount shows, and the one parser of it (cgroup set-up, skeleton sweep, bench, tests).
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/** One line of a mountinfo file. */
export interface MountEntry {
  /** The filesystem's device, major:minor. */
  device: string;
  /** The path inside that filesystem that the mount shows. */
  root: string;
  mountPoint: string;
  /** The mount's own options (rw, nosuid, relatime). */
  mountOptions: string[];
  /** Propagation tags (shared:N, master:N, ...); often none. */
  optionalFields: string[];
  fsType: string;
  source: string;
  /** The filesystem's options (rw, nsdelegate, favordynmods). */
  superOptions: string[];
}

// The kernel escapes space, tab, newline and backslash in paths as octal (\040).
const unescapeOctal = (text: string) => text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));

const options = (text: string | undefined) => (text ? text.split(',') : []);

/** The mounts of `text` (a /proc/PID/mountinfo). */
export function parseMountinfo(text: string): MountEntry[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const fields = line.split(' ');
      // Optional fields run from the 7th up to a lone "-".
      const separator = fields.indexOf('-', 6);
      const [fsType, source, superOptions] = fields.slice(separator + 1);
      return {
        device: fields[2]!,
        root: unescapeOctal(fields[3]!),
        mountPoint: unescapeOctal(fields[4]!),
        mountOptions: options(fields[5]),
        optionalFields: fields.slice(6, separator),
        fsType: fsType!,
        source: unescapeOctal(source!),
        superOptions: options(superOptions),
      };
    });
}

/**
 * Every option of `mount` as /proc/self/mounts lists them: the mount's, then its filesystem's but their first
 * (rw or ro, which the mount's already says).
 */
export function allOptions(mount: MountEntry): string[] {
  return [...mount.mountOptions, ...mount.superOptions.slice(1)];
}

/** The mounts of this process's own mount namespace. */
export function ownMounts(): MountEntry[] {
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
}

/** The mounts process `pid` sees; undefined when it is gone. */
export async function mountsOf(pid: number | 'self'): Promise<MountEntry[] | undefined> {
  const text = await readFile(`/proc/${pid}/mountinfo`, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : parseMountinfo(text);
}
