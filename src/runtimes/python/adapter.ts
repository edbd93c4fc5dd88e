import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { execa } from 'execa';
import { PrebakeError } from '../../errors.ts';
import type { RuntimeAdapter } from '../runtime.ts';

const SHIM = path.join(import.meta.dirname, 'shim.py');
const IDENTIFIER = '[A-Za-z_][A-Za-z0-9_]*';
const HANDLER_PATTERN = new RegExp(`^${IDENTIFIER}(\\.${IDENTIFIER})+$`);

/** The python the user asked for: PREBAKE_PYTHON, else python3 on PATH. */
export function pythonBinary(): string {
  return process.env.PREBAKE_PYTHON ?? 'python3';
}

let resolvedPython: { binary: string; executable: string } | undefined;

// `python3` on PATH is often a wrapper script (pyenv's shim costs about 50 ms per start), which would bill the
// wrapper to every cold start prebake is compared with. The interpreter's own path is what an instance runs.
function pythonExecutable(): string {
  const binary = pythonBinary();
  if (resolvedPython?.binary !== binary) {
    let executable = binary;
    try {
      const out = execFileSync(binary, ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8', timeout: 10_000 });
      executable = out.trim() || binary;
    } catch {
      // Not installed or broken: keep the name, so that starting an instance reports the real problem.
    }
    resolvedPython = { binary, executable };
  }
  return resolvedPython.executable;
}

export const pythonRuntime: RuntimeAdapter = {
  name: 'python',
  checkHandler(handler) {
    return HANDLER_PATTERN.test(handler)
      ? undefined
      : 'expected "<module>.<function>", for example "main.handler" (a module in a package: "pkg.mod.handler")';
  },
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
      argv: [pythonExecutable(), '-B', '-u', SHIM, fn.dir, fn.handler],
      env: {},
    };
  },
  async version() {
    const result = await execa(pythonBinary(), ['--version'], { reject: false });
    const match = /Python (\d+\.\d+\.\d+\S*)/.exec(`${result.stdout}\n${result.stderr}`);
    if (result.exitCode !== 0 || !match) {
      throw new PrebakeError('PREBAKE_ERR_RUNTIME_MISSING', `cannot run ${pythonBinary()} --version`, {
        details: { exitCode: result.exitCode, stderr: result.stderr },
        hint: 'install Python 3 (apt-get install python3), or set PREBAKE_PYTHON to the interpreter',
      });
    }
    return `python ${match[1]}`;
  },
};
