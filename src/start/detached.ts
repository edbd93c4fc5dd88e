// criu resumes a restored clone's threads one by one as it detaches from them (PTRACE_DETACH). The main thread
// can answer the resume frame before criu has let go of every other thread; if the clone then exits (a handler
// that calls process.exit), criu fails to detach a thread that is gone ("Unable to detach ...: No such
// process"), tries to kill the tree and hangs on its traced zombies, holding the instance's pipes open: the
// controller saw no end of file and reported a timeout instead of the exit (1 in ~200 restores under load).
// So a prebaked start is complete only once no thread of the clone is traced any more.
import { readdir, readFile } from 'node:fs/promises';

const POLL_MS = 1;
const GIVE_UP_MS = 2_000;

/** Whether any thread of process `pid` is still traced (by criu); false once the process is gone. */
async function anyThreadTraced(pid: number): Promise<boolean> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => []);
  for (const tid of tasks) {
    const status = await readFile(`/proc/${pid}/task/${tid}/status`, 'utf8').catch(() => '');
    const tracer = /^TracerPid:\s*(\d+)/m.exec(status)?.[1];
    if (tracer !== undefined && tracer !== '0') return true;
  }
  return false;
}

/**
 * Resolves once criu has detached from every thread of the restored root `pid` (at once, in the usual case).
 * Gives up quietly after two seconds: the instance's own timeouts still apply.
 */
export async function criuDetached(pid: number): Promise<void> {
  const deadline = performance.now() + GIVE_UP_MS;
  while ((await anyThreadTraced(pid)) && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
