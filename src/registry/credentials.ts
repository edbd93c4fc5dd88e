// JOIN(regauth): placeholder with the interface of branch regauth's credentials.ts; that branch's file replaces
// this one whole at the merge (RegistryClient then logs in with these).
import { readFile } from 'node:fs/promises';
import { PrebakeError } from '../errors.ts';

/** The login for a registry (host[:port]), or undefined to ask anonymously. */
export type RegistryCredentials = (registry: string) => { username: string; password: string } | undefined;

/** Reads a docker config.json. */
export async function loadDockerConfig(file: string): Promise<RegistryCredentials> {
  try {
    JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `cannot read the registry credentials ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return () => undefined;
}
