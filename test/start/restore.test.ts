// A prebaked start hands over a clone that criu has let go of entirely: a handler that exits at once must be
// seen to exit (not left behind a criu that hangs on threads it could not detach; see native/prebake-restore.c).
import { describe, expect, it } from 'vitest';
import { tracedThreads } from '../../src/launch/proc.ts';
import { startPrebaked } from '../../src/start/restore.ts';
import { sandboxForFile, settled } from '../helpers.ts';

const sandboxOfFile = sandboxForFile('faulty-node');

describe('a prebaked start', () => {
  it('returns only once criu has detached from every thread, so an exit right away is an exit', async () => {
    const sandbox = sandboxOfFile();
    const image = (await sandbox.store.get('faulty-node'))!;
    for (let round = 0; round < 3; round++) {
      const clones = await Promise.all([1, 2, 3, 4].map(() => startPrebaked(image, sandbox.store, sandbox.criu, sandbox.instances)));
      try {
        for (const clone of clones) expect(await tracedThreads(await clone.instance.initPid())).toEqual([]);
        const outcomes = await Promise.all(
          clones.map((clone, i) =>
            clone.instance.invoke('{"exit":3}', { requestId: `r${round}-${i}`, timeoutMs: 10_000 }).then(
              () => 'answered',
              (error: { code?: string }) => error.code,
            ),
          ),
        );
        expect(outcomes).toEqual(clones.map(() => 'PREBAKE_ERR_FUNCTION_EXITED'));
      } finally {
        for (const clone of clones) {
          await clone.instance.end();
          await clone.cleanup();
        }
      }
    }
    expect(await settled(() => sandbox.processes())).toEqual([]);
  });
});
