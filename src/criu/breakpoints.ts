// criu's compel stops a task leaving its parasite (dump) or restorer (restore) with an x86 hardware breakpoint
// set through ptrace. Some hypervisors accept the debug registers and never deliver the trap: criu then waits
// for ever (issue 23, docs/CRIU.md). native/breakpoint-probe asks the host once per boot; where breakpoints do
// not work, or PREBAKE_CRIU_BREAKPOINTS=0, criu is told to stop on the rt_sigreturn syscall instead
// (environment.ts). The verdict is kept next to criu's kernel-probe cache, keyed by boot and kernel release,
// since /run survives a reboot on hosts where it is no tmpfs.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hostProbePath, runHostProbe } from './host-probe.ts';

export const BREAKPOINT_PROBE = hostProbePath('breakpoint-probe');
/** The lean criu's patch (native/criu/) that makes criu's own kernel probe decide the same, for criu run by hand. */
export const BREAKPOINT_PATCH = '0002-kerndat-probe-hardware-breakpoints';
const CACHE_NAME = 'prebake-breakpoints.json';
// The probe answers in well under a millisecond; this bounds only a host too busy to schedule its child.
const PROBE_DEADLINE_MS = 50;

/** What native/breakpoint-probe found (see there); `no-answer` and `error` decide nothing and are not kept. */
export interface ProbeResult {
  verdict: 'working' | 'ran-past' | 'refused' | 'no-answer' | 'error';
  detail: string;
}

export interface Breakpoints {
  /** Whether criu may rely on hardware breakpoints; false: every criu run stops on syscalls instead. */
  use: boolean;
  /** For doctor and bench: "working", "not working: ...", "off by request (PREBAKE_CRIU_BREAKPOINTS=0)". */
  detail: string;
}

export const OFF_BY_REQUEST = 'off by request (PREBAKE_CRIU_BREAKPOINTS=0)';
const SYSCALLS_INSTEAD = 'criu stops on syscalls instead';

/** The decision from a probe's result (or none when off by request). */
export function decideBreakpoints(probe: ProbeResult | 'off'): Breakpoints {
  if (probe === 'off') return { use: false, detail: OFF_BY_REQUEST };
  switch (probe.verdict) {
    case 'working':
      return { use: true, detail: 'working' };
    case 'ran-past':
      return { use: false, detail: `not working: ${SYSCALLS_INSTEAD} (a traced child ran through a breakpoint set in DR0/DR7)` };
    case 'refused':
      return { use: false, detail: `not working: ${SYSCALLS_INSTEAD} (the kernel refused to set a debug register: ${probe.detail})` };
    default:
      // Undecided: the syscall path works on every host, breakpoints only on some.
      return { use: false, detail: `not known (${probe.detail}): ${SYSCALLS_INSTEAD} to be safe` };
  }
}

/** Runs native/breakpoint-probe. */
export async function runBreakpointProbe(probe = BREAKPOINT_PROBE): Promise<ProbeResult> {
  const { line } = await runHostProbe(probe, [String(PROBE_DEADLINE_MS)], 5_000);
  const [word = '', ...rest] = line.split(' ');
  const detail = rest.join(' ');
  if (word === 'working' || word === 'ran-past') return { verdict: word, detail: word };
  if (word === 'refused') return { verdict: 'refused', detail: `errno ${detail}` };
  if (word === 'no-answer') return { verdict: 'no-answer', detail: `the probe's child did not answer within ${detail} ms` };
  return { verdict: 'error', detail: `the probe failed: ${word === 'error' ? detail : `it said "${line}"`}` };
}

interface Cached extends ProbeResult {
  bootId: string;
  kernel: string;
}

const DECISIVE: ReadonlySet<ProbeResult['verdict']> = new Set(['working', 'ran-past', 'refused']);

/**
 * Whether criu may use hardware breakpoints on this host: PREBAKE_CRIU_BREAKPOINTS=0 says no without a probe;
 * otherwise the verdict kept in `cacheDir` for this boot and kernel, or a fresh probe's (kept when decisive).
 * Never throws.
 */
export async function hostBreakpoints(
  cacheDir: string,
  probe: () => Promise<ProbeResult> = runBreakpointProbe,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Breakpoints> {
  if (env.PREBAKE_CRIU_BREAKPOINTS === '0') return decideBreakpoints('off');
  const key = await hostKey().catch(() => undefined);
  const file = path.join(cacheDir, CACHE_NAME);
  const cached = await readFile(file, 'utf8').then(
    (text) => JSON.parse(text) as Cached,
    () => undefined,
  );
  if (key && cached && cached.bootId === key.bootId && cached.kernel === key.kernel && DECISIVE.has(cached.verdict)) {
    return decideBreakpoints(cached);
  }
  const result = await probe().catch((error: unknown): ProbeResult => ({ verdict: 'error', detail: String(error) }));
  if (key && DECISIVE.has(result.verdict)) await keep(file, { ...key, ...result }).catch(() => undefined);
  return decideBreakpoints(result);
}

async function hostKey(): Promise<{ bootId: string; kernel: string }> {
  const [bootId, kernel] = await Promise.all(
    ['/proc/sys/kernel/random/boot_id', '/proc/sys/kernel/osrelease'].map(async (file) => (await readFile(file, 'utf8')).trim()),
  );
  return { bootId: bootId!, kernel: kernel! };
}

async function keep(file: string, value: Cached): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}`;
  await writeFile(temp, `${JSON.stringify(value)}\n`, { mode: 0o600 });
  await rename(temp, file);
}
