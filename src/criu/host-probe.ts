// Runs one of the host probes native/build.sh builds (breakpoint-probe, page-fault-probe).
import { access } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { NATIVE_BUILD_DIR } from '../paths.ts';

export const hostProbePath = (name: string) => path.join(NATIVE_BUILD_DIR, name);

/** The probe's output line and exit code; throws when the probe is not built or did not end in `timeoutMs`. */
export async function runHostProbe(file: string, args: string[], timeoutMs: number): Promise<{ line: string; exitCode: number }> {
  await access(file).catch(() => {
    throw new Error(`${file} is not built: run bash native/build.sh`);
  });
  const result = await execa(file, args, { reject: false, timeout: timeoutMs });
  if (result.timedOut || result.exitCode === undefined) throw new Error(`${file} did not end within ${timeoutMs} ms`);
  return { line: (result.stdout ?? '').trim(), exitCode: result.exitCode };
}
