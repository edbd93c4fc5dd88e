// A mode a bench could not run for a function, kept in the results (table and JSON) with the error that said so.
import { isPrebakeError } from '../errors.ts';

/** A mode a function was not benched in, and why. */
export interface SkippedMode {
  functionName: string;
  mode: string;
  /** The code of the error that stopped it (a failed build, a fork refused); none for a mode that does not apply (node-snapshot for Python). */
  code?: string;
  reason: string;
  /** What to do about it (the error's hint). */
  hint?: string;
}

export function skippedMode(functionName: string, mode: string, why: unknown): SkippedMode {
  if (typeof why === 'string') return { functionName, mode, reason: why };
  if (isPrebakeError(why)) return { functionName, mode, code: why.code, reason: why.message, ...(why.hint && { hint: why.hint }) };
  return { functionName, mode, reason: why instanceof Error ? why.message : String(why) };
}

/** A skipped mode in one line: why, what to do, the code. */
export function describeSkip(skip: SkippedMode): string {
  return `${skip.reason}${skip.hint ? ` (${skip.hint})` : ''}${skip.code ? ` [${skip.code}]` : ''}`;
}
