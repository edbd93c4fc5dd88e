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
  const candidates = name.includes('/')
    ? [name]
    : (process.env.PATH ?? '')
        .split(path.delimiter)
        .filter(Boolean)
        .map((dir) => path.join(dir, name));
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

/**
 * The oldest release of each runtime that prebake's shim runs on, and what in the shim needs it. Python: run by
 * hand on pyenv's 3.6 to 3.10, a plain start passed on all; fork mode needs 3.7.
 */
export const MINIMUM_VERSIONS: Record<RuntimeName, { version: number[]; needs: string }> = {
  node: { version: [22, 18], needs: 'the shim imports registerHooks from node:module; 22.18 is the oldest Node prebake is tested on' },
  python: { version: [3, 7], needs: 'fork mode uses gc.freeze and PyOS_BeforeFork' },
  java: {
    version: [17],
    needs: 'the shim uses records and pattern matching for instanceof (Java 16), and 17 is the LTS release that has them',
  },
};

/** PREBAKE_ERR_RUNTIME_MISSING when `version` ("22.17.1", "3.6.15", "1.8.0_412") is older than the runtime's minimum. */
export function assertMinimumVersion(
  runtime: RuntimeName,
  fn: Pick<FunctionSpec, 'interpreter' | 'name'> | undefined,
  binary: string,
  version: string,
): void {
  const { version: minimum, needs } = MINIMUM_VERSIONS[runtime];
  // Java before 9 called itself 1.x.
  const parts = version
    .replace(/^1\.(?=\d+\.)/, '')
    .split(/[.+_-]/)
    .map((part) => Number.parseInt(part, 10));
  for (const [i, wanted] of minimum.entries()) {
    const have = Number.isNaN(parts[i]) ? 0 : (parts[i] ?? 0);
    if (have > wanted) return;
    if (have < wanted) {
      throw interpreterMissing(runtime, fn, binary, `is version ${version}; prebake needs ${minimum.join('.')} or later (${needs})`);
    }
  }
}
