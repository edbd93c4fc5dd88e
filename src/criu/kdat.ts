// criu probes the kernel at every start (about 20 ms here) unless it finds its cache at /run/criu.kdat, a
// file it writes only when /run is a tmpfs, so that a reboot into another kernel clears it. On hosts whose
// /run is a plain directory (as on these VMs) prebake produces the cache itself: criu writes it into a tmpfs in
// a private mount namespace (the host's /run is never mounted over), and prebake installs it as
// /run/criu.kdat together with the boot id it belongs to. A cache from another boot is replaced, never used.
import { readFile, rename, statfs, writeFile } from 'node:fs/promises';
import { execa } from 'execa';

const RUN_DIR = '/run';
const CACHE_FILE = `${RUN_DIR}/criu.kdat`;
// Where prebake notes which boot its cache belongs to.
const BOOT_MARK = `${RUN_DIR}/prebake-criu.kdat.boot-id`;
const TMPFS_MAGIC = 0x01021994;
const readBootId = async () => (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();

export type KdatState = 'criu-managed' | 'installed' | 'present' | 'unavailable';

/**
 * The cache as it is, without producing it: `criu-managed` (/run is a tmpfs), `present` (prebake's copy for
 * this boot), or `absent` (prebake produces it at its first dump or restore).
 */
export async function kdatState(): Promise<'criu-managed' | 'present' | 'absent'> {
  if ((await statfs(RUN_DIR)).type === TMPFS_MAGIC) return 'criu-managed';
  const bootId = await readBootId();
  const marked = await readFile(BOOT_MARK, 'utf8').catch(() => '');
  const cached = await readFile(CACHE_FILE).catch(() => undefined);
  return cached && marked.trim() === bootId ? 'present' : 'absent';
}

/**
 * Makes sure criu finds a kernel-probe cache valid for this boot. Never throws: without a cache criu
 * works, only slower.
 */
export async function ensureKdatCache(criuBinary: string): Promise<KdatState> {
  try {
    const state = await kdatState();
    if (state !== 'absent') return state;
    const bootId = await readBootId();

    const probe = await execa(
      'unshare',
      ['--mount', '--propagation', 'private', 'sh', '-c',
        `mount -t tmpfs prebake-kdat ${RUN_DIR} && "$0" check >/dev/null 2>&1; cat ${CACHE_FILE}`, criuBinary],
      { encoding: 'buffer', reject: false },
    );
    const cache = probe.stdout;
    if (!(cache instanceof Uint8Array) || cache.length === 0) return 'unavailable';
    const temp = `${CACHE_FILE}.prebake-${process.pid}`;
    await writeFile(temp, cache, { mode: 0o600 });
    await rename(temp, CACHE_FILE);
    await writeFile(BOOT_MARK, `${bootId}\n`);
    return 'installed';
  } catch {
    return 'unavailable';
  }
}
