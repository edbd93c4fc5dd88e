// A config read for the reconciler: validated whole as at start (resolveDaemonConfig), and every declared
// reference parsed, so that a bad reference refuses the new config rather than one function.
import { PrebakeError } from '../errors.ts';
import { type DaemonConfig, type DaemonConfigInput, resolveDaemonConfig } from '../manager/config.ts';
import { parseReference, type RegistryReference } from '../registry/reference.ts';

export interface DeclaredEntry {
  name: string;
  bundle: string;
  ref: RegistryReference;
}

export interface DeclaredConfig {
  config: DaemonConfig;
  declared: DeclaredEntry[];
}

export function declaredConfig(input: DaemonConfigInput | DaemonConfig, source: string): DeclaredConfig {
  const config = resolveDaemonConfig(input, source);
  const declared = config.declared.map(({ name, bundle }, index) => {
    try {
      return { name, bundle, ref: parseReference(bundle, config.insecureRegistries) };
    } catch (error) {
      throw new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `${source}: field "functions[${index}].bundle": ${(error as Error).message}`, {
        cause: error,
        hint: 'write it as <registry>/<repository>:<tag> or <registry>/<repository>@sha256:<digest>',
      });
    }
  });
  return { config, declared };
}
