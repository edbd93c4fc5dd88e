import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The root of the prebake checkout (or installed package). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Where scripts/setup.sh puts criu and node when the host's own are too old. */
export const TOOLS_PREFIX = process.env.PREBAKE_PREFIX ?? '/opt/prebake';

export const NATIVE_BUILD_DIR = path.join(PACKAGE_ROOT, 'native', 'build');

export const DEFAULT_HOME = '/var/lib/prebake';

/** The state directory: --home, else PREBAKE_HOME, else /var/lib/prebake. */
export function resolveHome(explicit?: string): string {
  return path.resolve(explicit ?? process.env.PREBAKE_HOME ?? DEFAULT_HOME);
}

/** The binary for function instances of the node runtime: the node that runs prebake, unless told otherwise. */
export function nodeBinary(): string {
  return process.env.PREBAKE_NODE ?? process.execPath;
}

/** criu: PREBAKE_CRIU, else the one scripts/setup.sh installed, else criu on PATH. */
export function criuBinary(): string {
  if (process.env.PREBAKE_CRIU) return process.env.PREBAKE_CRIU;
  const installed = path.join(TOOLS_PREFIX, 'bin', 'criu');
  return existsSync(installed) ? installed : 'criu';
}
