import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { execa } from 'execa';
import { handlerProblem } from '../../manifest/handler.ts';
import { assertMinimumVersion, findExecutable, interpreterMissing, namedInterpreter } from '../interpreter.ts';
import type { RuntimeAdapter } from '../runtime.ts';

const SHIM = path.join(import.meta.dirname, 'shim.py');

/** The default python, for functions whose function.json names none: PREBAKE_PYTHON, else python3 on PATH. */
export function pythonBinary(): string {
  return process.env.PREBAKE_PYTHON ?? 'python3';
}

// Module-level on purpose: which interpreter a name resolves to is a fact of this host for the life of the
// process (whoever asks: a Host, a test), it holds no resource, and asking again
// costs a python start (~20 ms) on every cold start's command line.
const executables = new Map<string, string>();
const ASK_EXECUTABLE = 'import sys; print(sys.executable); print(sys.version.split()[0])';

// `python3` on PATH is often a wrapper script (pyenv's shim costs about 50 ms per start), which would bill the
// wrapper to every cold start prebake is compared with. The interpreter's own path is what an instance runs.
function pythonExecutable(binary: string): string {
  let executable = executables.get(binary);
  if (executable === undefined) {
    executable = binary;
    try {
      const out = execFileSync(binary, ['-c', ASK_EXECUTABLE], { encoding: 'utf8', timeout: 10_000 });
      executable = out.split('\n')[0]!.trim() || binary;
    } catch {
      // Not installed or broken: keep the name, so that starting an instance reports the real problem.
    }
    executables.set(binary, executable);
  }
  return executable;
}

export const pythonRuntime: RuntimeAdapter = {
  name: 'python',
  checkHandler: (handler) => handlerProblem('python', handler),
  handlerFiles(handler) {
    const module = handler.split('.').slice(0, -1).join('/');
    return [`${module}.py`, path.join(module, '__init__.py')];
  },
  command(fn) {
    return {
      // -B: Python writes no bytecode caches. Next to the sources they would change the function's source
      // digest (the image would look stale). A cache directory elsewhere (PYTHONPYCACHEPREFIX) is no better:
      // Python then ignores the standard library's own caches too, and recompiles it on every start where it
      // cannot write. Caches a function ships in its __pycache__ directories are still read.
      // -u: logs reach the controller as they are written, and nothing sits in a buffer at the snapshot.
      argv: [pythonExecutable(namedInterpreter(fn, pythonBinary())), '-B', '-u', SHIM, fn.dir, fn.handler],
      env: {},
    };
  },
  async interpreter(fn) {
    const binary = namedInterpreter(fn, pythonBinary());
    const found = findExecutable(binary);
    if (!found) throw interpreterMissing('python', fn, binary, 'is not an executable file');
    const result = await execa(found, ['-c', ASK_EXECUTABLE], { reject: false });
    const [executable, version] = result.stdout.split('\n').map((line) => line.trim());
    if (result.exitCode !== 0 || !executable || !/^3\.\d+/.test(version ?? '')) {
      throw interpreterMissing('python', fn, binary, 'does not run as Python 3', { exitCode: result.exitCode, stderr: result.stderr });
    }
    assertMinimumVersion('python', fn, binary, version!);
    return { path: executable, version: `python ${version}` };
  },
};
