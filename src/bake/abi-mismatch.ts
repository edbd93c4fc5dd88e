// A native addon built by another node (`npm install` run with the machine's own, older node) fails the
// function's init with Node's own message, which names both ABI versions; that message stays as it is. What
// it cannot say is which node runs the function here, and how to install with it.
import { isPrebakeError, PrebakeError } from '../errors.ts';

const MISMATCH = /NODE_MODULE_VERSION (\d+)\. This version of Node\.js requires\s+NODE_MODULE_VERSION (\d+)/;

/** `error` with a hint to install with the function's node, when it is an init failure over an addon's ABI. */
export function withAbiMismatchHint(error: unknown, fn: { dir: string }, interpreter: string): unknown {
  if (!isPrebakeError(error, 'PREBAKE_ERR_INIT_FAILED')) return error;
  const found = MISMATCH.exec(error.functionError?.message ?? error.message);
  if (!found) return error;
  const hinted = new PrebakeError(error.code, error.message, {
    functionName: error.functionName,
    functionError: error.functionError,
    details: error.details,
    cause: error,
    hint:
      `a native addon was built for NODE_MODULE_VERSION ${found[1]}, and the node that runs the function (${interpreter}) needs ${found[2]}: ` +
      `install the function's dependencies with that node (in prebake's checkout, \`. scripts/env.sh\` puts it first on PATH), ` +
      `e.g. \`npm rebuild\` in ${fn.dir}, then build again`,
  });
  hinted.logs = error.logs;
  return hinted;
}
