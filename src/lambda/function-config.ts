// Lambda's function fields (CreateFunction, UpdateFunctionConfiguration) as a prebake manifest: the runtime
// family, the handler (Lambda's conventions are prebake's), memory, timeout and environment. What prebake does not
// run is refused here, naming the field, before anything is unpacked or built.
import { PrebakeError } from '../errors.ts';
import { isFunctionName, type Manifest, type RuntimeName } from '../manifest/schema.ts';

/** The Lambda runtime identifiers prebake runs, by family; the host's interpreter runs them (see the README). */
const RUNTIME_FAMILIES: { pattern: RegExp; runtime: RuntimeName }[] = [
  { pattern: /^nodejs(18|20|22|24)\.x$/, runtime: 'node' },
  { pattern: /^python3\.(9|1[0-4])$/, runtime: 'python' },
  { pattern: /^java(17|21|25)$/, runtime: 'java' },
];
export const SUPPORTED_RUNTIMES = 'nodejs18.x to nodejs24.x, python3.9 to python3.14, java17, java21, java25';

/** Lambda's own bounds: 128 MB to 10,240 MB of memory, 1 s to 900 s. */
const MEMORY_MB = { min: 128, max: 10_240 };
const TIMEOUT_S = { min: 1, max: 900 };
/** Lambda's default timeout is 3 s and memory 128 MB; a prebake function's cold start is bounded by the same. */
export const LAMBDA_DEFAULTS = { timeoutS: 3, memoryMb: 128 };

/** The configuration fields CreateFunction and UpdateFunctionConfiguration share. */
export interface LambdaConfigInput {
  Runtime?: unknown;
  Handler?: unknown;
  MemorySize?: unknown;
  Timeout?: unknown;
  Environment?: unknown;
  Description?: unknown;
}

/** Lambda's fields as given, kept beside the function (prebake's manifest has no room for Runtime's version). */
export interface LambdaConfig {
  runtime: string;
  handler: string;
  memoryMb: number;
  timeoutS: number;
  environment: Record<string, string>;
  description: string;
}

/** Lambda's InvalidParameterValueException: a field prebake cannot take, named in `message`. */
export function invalidParameter(message: string): PrebakeError {
  return new PrebakeError('PREBAKE_ERR_INVALID_INPUT', message, {
    details: { lambdaType: 'InvalidParameterValueException' },
    hint: 'see "Use it as a Lambda endpoint" in the README for the fields prebake takes',
  });
}

/** A Lambda FunctionName as a prebake name: Lambda allows upper case, prebake's names are lower-case. */
export function prebakeName(functionName: unknown): string {
  if (typeof functionName !== 'string' || !isFunctionName(functionName)) {
    throw invalidParameter(
      `FunctionName ${JSON.stringify(functionName)} is not a name prebake takes: 1 to 63 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit`,
    );
  }
  return functionName;
}

/** The runtime family of a Lambda runtime identifier, or InvalidParameterValueException naming the ones taken. */
export function runtimeOf(runtime: unknown): RuntimeName {
  const family = typeof runtime === 'string' ? RUNTIME_FAMILIES.find(({ pattern }) => pattern.test(runtime)) : undefined;
  if (!family) throw invalidParameter(`Runtime ${JSON.stringify(runtime)} is not one prebake runs (${SUPPORTED_RUNTIMES})`);
  return family.runtime;
}

/** Lambda's fields, checked, over `previous` (UpdateFunctionConfiguration changes only what it names). */
export function lambdaConfig(input: LambdaConfigInput, previous?: LambdaConfig): LambdaConfig {
  const runtime = input.Runtime ?? previous?.runtime;
  runtimeOf(runtime);
  const handler = input.Handler ?? previous?.handler;
  if (typeof handler !== 'string' || handler.length === 0 || handler.length > 128) {
    throw invalidParameter('Handler must be 1 to 128 characters: "file.function" for Node and Python, "package.Class::method" for Java');
  }
  return {
    runtime: runtime as string,
    handler,
    memoryMb: bounded('MemorySize', input.MemorySize, previous?.memoryMb ?? LAMBDA_DEFAULTS.memoryMb, MEMORY_MB),
    timeoutS: bounded('Timeout', input.Timeout, previous?.timeoutS ?? LAMBDA_DEFAULTS.timeoutS, TIMEOUT_S),
    environment: environmentOf(input.Environment, previous?.environment ?? {}),
    description: descriptionOf(input.Description, previous?.description ?? ''),
  };
}

/** The function.json prebake builds from Lambda's fields. */
export function manifestOf(name: string, config: LambdaConfig): Manifest {
  return {
    name,
    runtime: runtimeOf(config.runtime),
    handler: config.handler,
    memoryMb: config.memoryMb,
    timeoutMs: config.timeoutS * 1000,
    env: config.environment,
  };
}

function bounded(field: string, value: unknown, fallback: number, range: { min: number; max: number }): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < range.min || value > range.max) {
    throw invalidParameter(`${field} must be an integer from ${range.min} to ${range.max}, not ${JSON.stringify(value)}`);
  }
  return value;
}

function environmentOf(value: unknown, fallback: Record<string, string>): Record<string, string> {
  if (value === undefined) return fallback;
  const variables = (value as { Variables?: unknown } | null)?.Variables ?? {};
  if (typeof variables !== 'object' || variables === null || Array.isArray(variables)) {
    throw invalidParameter('Environment.Variables must be an object of strings');
  }
  const environment: Record<string, string> = {};
  for (const [key, text] of Object.entries(variables)) {
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(key))
      throw invalidParameter(`Environment.Variables has the name ${JSON.stringify(key)}: letters, digits and _ only`);
    if (typeof text !== 'string') throw invalidParameter(`Environment.Variables.${key} must be a string`);
    environment[key] = text;
  }
  return environment;
}

function descriptionOf(value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value.length > 256) throw invalidParameter('Description must be a string of at most 256 characters');
  return value;
}
