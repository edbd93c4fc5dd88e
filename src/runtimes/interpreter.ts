// Which interpreter runs a function: the one its function.json names ("interpreter"), else the runtime's
// default (PREBAKE_PYTHON, PREBAKE_JAVA, PREBAKE_NODE or the runtime's command on PATH). A build resolves it to a
// path and records it with the image; every later start of that build runs the recorded one, whatever the
// environment of the caller says then.
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { PrebakeError } from '../errors.ts';
import type { FunctionSpec, RuntimeName } from '../manifest/schema.ts';

/** An interpreter as recorded with an image and shown by `prebake doctor` and `prebake ls`. */
export interface Interpreter {
  /** Absolute path of the binary an instance runs. */
  path: string;
  /** As the runtime reports it: "python 3.11.2", "node v24.9.0", "java 17.0.13 (javac 17.0.13)". */
  version: string;
}

/** The function's interpreter as named (function.json, else `fallback`), not yet resolved. */
export function namedInterpreter(fn: Pick<FunctionSpec, 'interpreter'> | undefined, fallback: string): string {
  return fn?.interpreter ?? fallback;
}

/** `name` as a path: itself when it has a slash, else the first executable of that name on PATH. */
export function findExecutable(name: string): string | undefined {
  const candidates = name.includes('/') ? [name] : (process.env.PATH ?? '').split(path.delimiter).filter(Boolean).map((dir) => path.join(dir, name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return path.resolve(candidate);
    } catch {
      // not this one
    }
  }
  return undefined;
}

/** PREBAKE_ERR_RUNTIME_MISSING for an interpreter that does not run, saying where it came from. */
export function interpreterMissing(
  runtime: RuntimeName,
  fn: Pick<FunctionSpec, 'interpreter' | 'name'> | undefined,
  binary: string,
  why: string,
  details?: Record<string, unknown>,
): PrebakeError {
  const subject = fn?.name ? `function "${fn.name}": ` : '';
  const source = fn?.interpreter ? 'named by "interpreter" in function.json' : `the ${runtime} runtime's default`;
  return new PrebakeError('PREBAKE_ERR_RUNTIME_MISSING', `${subject}the ${runtime} interpreter ${binary} (${source}) ${why}`, {
    functionName: fn?.name,
    details,
    hint: `install it, or set "interpreter" in function.json to the path of another ${RUNTIME_COMMANDS[runtime]}`,
  });
}

/** The command each runtime's interpreter is known by. */
export const RUNTIME_COMMANDS: Record<RuntimeName, string> = { node: 'node', python: 'python3', java: 'java' };
