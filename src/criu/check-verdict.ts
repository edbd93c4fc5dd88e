// `criu check` tests everything criu can do, prebake needs less. In a container (Docker's default /proc/sys is
// read-only, there is no /dev/net/tun) it says "Does not look good" although dumps and restores work.
// This sorts its complaints into those prebake can live with and the rest.

export interface CheckComplaint {
  /** criu's own words, without its log prefix (`Error (criu/tun.c:85): `). */
  what: string;
  /** Why prebake does not need what the line is about; absent when it does. */
  harmless?: string;
}

const HARMLESS: { pattern: RegExp; why: string; needs?: 'clone3_set_tid' }[] = [
  { pattern: /tun: Unable to create tun/, why: 'prebake never checkpoints tun devices' },
  {
    pattern: /ns_last_pid sysctl is inaccessible/,
    why: 'criu sets PIDs with clone3(set_tid) instead',
    needs: 'clone3_set_tid',
  },
];

/** criu's error lines from a `criu check` output, each marked harmless or not. */
export function sortComplaints(output: string, features: { clone3SetTid: boolean }): CheckComplaint[] {
  return output
    .split('\n')
    .filter((line) => /\bError \(/.test(line))
    .map((line) => {
      const what = line.replace(/^.*?\bError \([^)]*\): /, '').trim();
      const known = HARMLESS.find((h) => h.pattern.test(what) && (h.needs !== 'clone3_set_tid' || features.clone3SetTid));
      return known ? { what, harmless: known.why } : { what };
    });
}
