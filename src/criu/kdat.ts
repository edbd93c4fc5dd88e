// criu probes the kernel at every start (about 20 ms here) unless it finds its cache (/run/criu.kdat for a
// packaged criu, /run/prebake-criu/criu.kdat for the lean one: see build-info.ts), a file it writes only when
// /run is a tmpfs, so that a reboot into another kernel clears it. On hosts whose
// /run is a plain directory (as on these VMs) prebake produces the cache itself: criu writes it into a tmpfs in
// a private mount namespace (the host's /run is never mounted over), and prebake installs it where that criu
// looks, together with the boot id it belongs to. A cache from another boot is replaced, never used.
import { mkdir, readFile, rename, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_CRIU_DEADLINES, runWithin } from './deadline.ts';

const RUN_DIR = '/run';
// Where prebake notes which boot a cache belongs to: /run/prebake-criu.kdat.boot-id for /run/criu.kdat.
const bootMark = (cacheFile: string) => path.join(path.dirname(cacheFile), `prebake-${path.basename(cacheFile)}.boot-id`);
const TMPFS_MAGIC = 0x01021994;
const readBootId = async () => (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();

export type KdatState = 'criu-managed' | 'installed' | 'present' | 'unavailable';

/**
 * The cache as it is, without producing it: `criu-managed` (/run is a tmpfs), `present` (prebake's copy for
 * this boot), or `absent` (prebake produces it at its first dump or restore).
 */
export async function kdatState(cacheFile: string): Promise<'criu-managed' | 'present' | 'absent'> {
  if ((await statfs(RUN_DIR)).type === TMPFS_MAGIC) return 'criu-managed';
  const bootId = await readBootId();
  const marked = await readFile(bootMark(cacheFile), 'utf8').catch(() => '');
  const cached = await readFile(cacheFile).catch(() => undefined);
  return cached && marked.trim() === bootId ? 'present' : 'absent';
}

/**
 * Makes sure criu finds a kernel-probe cache valid for this boot. Never throws: without a cache criu
 * works, only slower. `env`: what criu runs with beyond the controller's environment (environment.ts).
 */
export async function ensureKdatCache(
  criuBinary: string,
  cacheFile: string,
  env: Record<string, string> = {},
  deadlineMs = DEFAULT_CRIU_DEADLINES.checkMs,
): Promise<KdatState> {
  try {
    const dir = path.dirname(cacheFile);
    const state = await kdatState(cacheFile);
    // criu writes its cache only into a directory that exists (the lean criu's is prebake's own).
    if (state === 'criu-managed') await mkdir(dir, { recursive: true, mode: 0o700 });
    if (state !== 'absent') return state;
    const bootId = await readBootId();

    // A probe that hangs past the check deadline is killed: criu then runs without a cache.
    const { result: probe, timedOut } = await runWithin(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        `mount -t tmpfs prebake-kdat ${RUN_DIR} && mkdir -p "$1" && "$0" check >/dev/null 2>&1; cat "$2"`,
        criuBinary,
        dir,
        cacheFile,
      ],
      deadlineMs,
      { encoding: 'buffer', env },
    );
    const cache: unknown = probe.stdout;
    if (timedOut || !(cache instanceof Uint8Array) || cache.length === 0) return 'unavailable';
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const temp = `${cacheFile}.prebake-${process.pid}`;
    await writeFile(temp, cache, { mode: 0o600 });
    await rename(temp, cacheFile);
    await writeFile(bootMark(cacheFile), `${bootId}\n`);
    return 'installed';
  } catch {
    return 'unavailable';
  }
}
