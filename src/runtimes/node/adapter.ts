import path from 'node:path';
import { execa } from 'execa';
import { handlerProblem } from '../../manifest/handler.ts';
import { nodeBinary } from '../../paths.ts';
import { assertMinimumVersion, findExecutable, interpreterMissing, namedInterpreter } from '../interpreter.ts';
import { heapLimitMb, type RuntimeAdapter } from '../runtime.ts';

const SHIM = path.join(import.meta.dirname, 'shim.mjs');

export const nodeRuntime: RuntimeAdapter = {
  name: 'node',
  checkHandler: (handler) => handlerProblem('node', handler),
  handlerFiles(handler) {
    const base = handler.slice(0, handler.lastIndexOf('.'));
    return [base, `${base}.js`, `${base}.mjs`, `${base}.cjs`];
  },
  command(fn) {
    return {
      argv: [namedInterpreter(fn, nodeBinary()), `--max-old-space-size=${heapLimitMb(fn.memoryMb)}`, SHIM, fn.dir, fn.handler],
      env: {},
    };
  },
  async interpreter(fn) {
    const binary = namedInterpreter(fn, nodeBinary());
    const found = findExecutable(binary);
    if (!found) throw interpreterMissing('node', fn, binary, 'is not an executable file');
    const result = await execa(found, ['--version'], { reject: false });
    if (result.exitCode !== 0 || !/^v\d+/.test(result.stdout.trim())) {
      throw interpreterMissing('node', fn, binary, 'does not run as Node.js', { exitCode: result.exitCode, stderr: result.stderr });
    }
    assertMinimumVersion('node', fn, binary, result.stdout.trim().slice(1));
    return { path: found, version: `node ${result.stdout.trim()}` };
  },
};
