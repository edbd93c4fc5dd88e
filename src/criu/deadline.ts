// No criu run without a deadline: a criu that waits forever (for a hardware breakpoint a hypervisor never
// delivers, issue 23; or stopped by someone) would hold a build, a start or the daemon's slot with it.
import { execa, type Options, type Result } from 'execa';
import { PrebakeError } from '../errors.ts';
import { processTree } from '../launch/proc.ts';

export type CriuPhase = 'check' | 'dump' | 'restore';

export interface CriuDeadlines {
  /** `criu check`, `--version`, `check --feature`, the kernel probe: about 1 s here. */
  checkMs: number;
  /** `criu dump`, image written: 0.2 s for hello-node, seconds for a big JVM on a slow disk. */
  dumpMs: number;
  /** `criu restore` until the detached tree runs and criu has let go of it (RunningRestore.restored). */
  restoreMs: number;
}

// Generous: a 1 GB image written to a slow disk on a loaded host stays well inside, and a hang still ends.
export const DEFAULT_CRIU_DEADLINES: Readonly<CriuDeadlines> = Object.freeze({ checkMs: 30_000, dumpMs: 120_000, restoreMs: 30_000 });
export const DEADLINE_ENV = 'PREBAKE_CRIU_DEADLINE_S';
const MAX_DEADLINE_S = 24 * 3600;

/** The defaults, or `PREBAKE_CRIU_DEADLINE_S` (one number of seconds for every phase) when it is set. */
export function criuDeadlinesFromEnv(env: NodeJS.ProcessEnv = process.env): CriuDeadlines {
  const text = env[DEADLINE_ENV]?.trim();
  if (!text) return { ...DEFAULT_CRIU_DEADLINES };
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_DEADLINE_S) {
    throw new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `${DEADLINE_ENV} is "${text}": not a number of seconds in (0, ${MAX_DEADLINE_S}]`, {
      hint: `unset it for the defaults (dump 120 s, restore 30 s, check 30 s), or set one number such as ${DEADLINE_ENV}=300`,
    });
  }
  const ms = Math.round(seconds * 1000);
  return { checkMs: ms, dumpMs: ms, restoreMs: ms };
}

export interface TimeoutFacts {
  phase: CriuPhase;
  deadlineMs: number;
  /** What criu worked on (`function "hello"`), or the host for a check. */
  label: string;
  logTail: string;
  command: string;
}

/** PREBAKE_ERR_CRIU_TIMEOUT for a criu (already killed) that ran past its deadline. */
export function criuTimeout(facts: TimeoutFacts): PrebakeError {
  const lastLine = facts.logTail.split('\n').at(-1)?.trim();
  return new PrebakeError(
    'PREBAKE_ERR_CRIU_TIMEOUT',
    `${facts.label}: criu ${facts.phase} did not finish within ${facts.deadlineMs / 1000} s and was killed` +
      (lastLine ? `; its log ends with: ${lastLine}` : '; its log is empty'),
    {
      hint: `run \`prebake doctor\`: criu hangs on hosts where it cannot work (issue 23); a big image on a slow host may need a longer deadline (${DEADLINE_ENV}, or criuDeadlines in the daemon config)`,
      details: { phase: facts.phase, deadlineMs: facts.deadlineMs, command: facts.command, logTail: facts.logTail },
    },
  );
}

/**
 * SIGKILLs `pid` and every process below it. Stopped first, so that it forks nothing while its tree is read;
 * the tree is read before the kill, because the children of a dead criu move to another parent.
 */
export async function killTree(pid: number): Promise<void> {
  const send = (target: number, signal: NodeJS.Signals) => {
    try {
      process.kill(target, signal);
    } catch {
      // Gone already.
    }
  };
  send(pid, 'SIGSTOP');
  const tree = await processTree(pid);
  for (const member of tree.length > 0 ? tree : [pid]) send(member, 'SIGKILL');
}

export type TimedResult = { result: Result<{ reject: false; all: true }>; timedOut: boolean };

/** Runs `binary args` (execa, never rejecting); past `deadlineMs` it is killed with its tree and `timedOut` is set. */
export async function runWithin(binary: string, args: string[], deadlineMs: number, options: Options = {}): Promise<TimedResult> {
  const child = execa(binary, args, { ...options, reject: false, all: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    if (child.pid !== undefined) void killTree(child.pid);
  }, deadlineMs);
  try {
    const result = (await child) as TimedResult['result'];
    return { result, timedOut };
  } finally {
    clearTimeout(timer);
  }
}

/** What `promise` resolves with, or 'timeout' after `ms` (the timer cleared either way). */
export async function withinMs<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
