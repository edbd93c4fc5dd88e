// criu resumes a restored clone's threads one by one as it detaches from them (PTRACE_DETACH). The main thread
// can answer the resume frame before criu has let go of every other thread; if the clone then exits (a handler
// that calls process.exit), criu fails to detach a thread that is gone ("Unable to detach ...: No such
// process"), tries to kill the tree and hangs on its traced zombies, holding the instance's pipes open: the
// controller saw no end of file and reported a timeout instead of the exit (1 in ~200 restores under load).
// So a prebaked start is complete only once no thread of the clone is traced any more.
import { tracedThreads } from '../launch/proc.ts';

const POLL_MS = 1;
const GIVE_UP_MS = 2_000;

/**
 * Resolves once criu has detached from every thread of the restored root `pid` (at once, in the usual case).
 * Gives up quietly after two seconds: the instance's own timeouts still apply.
 */
export async function criuDetached(pid: number): Promise<void> {
  const deadline = performance.now() + GIVE_UP_MS;
  while ((await tracedThreads(pid)).length > 0 && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
