import { readFile } from 'node:fs/promises';
import { PrebakeError } from '../errors.ts';
import type { DaemonConfigInput } from './config.ts';

/** The daemon's config file as JSON, not yet validated (resolveDaemonConfig does that). */
export async function readConfigFile(file: string): Promise<DaemonConfigInput> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as DaemonConfigInput;
  } catch (error) {
    throw new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `cannot read the config file ${file}: ${(error as Error).message}`, {
      cause: error,
      hint: 'see "Configuration" in docs/DAEMON.md',
    });
  }
}
