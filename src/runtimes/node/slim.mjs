// Slims the snapshot: run once, last thing before the dump. A full GC frees what init and the warm-ups left
// behind, but the freed memory stays committed (V8's pages and glibc's heap keep it), so criu would still
// write it into the image and copy it into every clone. malloc_trim(0) hands glibc's free pages back to the
// kernel; criu skips them. heavy-node: 73 -> 54 MB (docs/BENCHMARKS.md, "Slim images").
import { createRequire } from 'node:module';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';

const require = createRequire(import.meta.url);

export async function slimForSnapshot() {
  // gc() without --expose-gc on the command line: the flag set now exposes it in a fresh context only, so the
  // function's own global scope never sees a `gc`.
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  gc();
  // V8 frees dead ArrayBuffers' memory from a task of its own after the collection: without this turn of the
  // event loop, malloc_trim sometimes came too early and released nothing.
  await new Promise((resolve) => setTimeout(resolve, 0));
  gc();
  const { trim } = require(path.join(import.meta.dirname, '..', '..', '..', 'native', 'build', 'trim.node'));
  trim();
}
