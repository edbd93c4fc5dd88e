import path from 'node:path';
import { execa } from 'execa';
import { nodeBinary } from '../../paths.ts';
import type { RuntimeAdapter } from '../runtime.ts';

const SHIM = path.join(import.meta.dirname, 'shim.mjs');

export const nodeRuntime: RuntimeAdapter = {
  name: 'node',
  checkHandler(handler) {
    return /^[\w./-]+\.[A-Za-z_$][\w$]*$/.test(handler) && !handler.includes('..')
      ? undefined
      : 'expected "<file without extension>.<export>", for example "index.handler"';
  },
  handlerFiles(handler) {
    const base = handler.slice(0, handler.lastIndexOf('.'));
    return [base, `${base}.js`, `${base}.mjs`, `${base}.cjs`];
  },
  command(fn) {
    const heapMb = Math.max(16, Math.floor(fn.memoryMb * 0.75));
    return {
      argv: [nodeBinary(), `--max-old-space-size=${heapMb}`, SHIM, fn.dir, fn.handler],
      env: {},
    };
  },
  async version() {
    const { stdout } = await execa(nodeBinary(), ['--version']);
    return `node ${stdout.trim()}`;
  },
};
