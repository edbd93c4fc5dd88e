// The build queue's logic, with builds that finish when the test says so.
import { describe, expect, it } from 'vitest';
import { BuildQueue } from '../../src/manager/build-queue.ts';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('BuildQueue', () => {
  it('runs builds of one name one after another, and of other names side by side up to the limit', async () => {
    const queue = new BuildQueue({ maxConcurrent: 2, maxQueued: 10, queueTimeoutMs: 60_000 });
    const running = new Set<string>();
    const overlaps: string[] = [];
    const gates = new Map<string, ReturnType<typeof deferred>>();
    const build = (name: string, id: string) =>
      queue.run(name, async () => {
        if ([...running].some((other) => other.startsWith(`${name}:`))) overlaps.push(id);
        running.add(`${name}:${id}`);
        const gate = deferred();
        gates.set(id, gate);
        await gate.promise;
        running.delete(`${name}:${id}`);
        return id;
      });
    const results = [build('a', 'a1'), build('a', 'a2'), build('b', 'b1')];
    await tick();
    // a1 runs; a2 holds the second slot but waits for a1; b1 waits for a slot.
    expect([...running].sort()).toEqual(['a:a1']);
    expect(queue.queued).toBe(1);
    gates.get('a1')!.resolve();
    await tick();
    await tick();
    expect([...running].sort()).toEqual(['a:a2', 'b:b1']);
    gates.get('a2')!.resolve();
    gates.get('b1')!.resolve();
    expect(await Promise.all(results)).toEqual(['a1', 'a2', 'b1']);
    expect(overlaps).toEqual([]);
  });

  it('refuses past its queue with PREBAKE_ERR_OVERLOADED, and drops a waiter whose caller left', async () => {
    const queue = new BuildQueue({ maxConcurrent: 1, maxQueued: 1, queueTimeoutMs: 60_000 });
    const gate = deferred();
    const first = queue.run('a', () => gate.promise);
    const left = new AbortController();
    const waiting = queue.run('b', async () => 'ran', left.signal);
    await expect(queue.run('c', async () => 'ran')).rejects.toMatchObject({
      code: 'PREBAKE_ERR_OVERLOADED',
      message: expect.stringContaining('builds'),
    });
    left.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'PREBAKE_ERR_CLIENT_GONE' });
    gate.resolve();
    await first;
    expect(await queue.run('d', async () => 'ran')).toBe('ran');
  });

  it('lets a failed build free its name and slot', async () => {
    const queue = new BuildQueue({ maxConcurrent: 1, maxQueued: 1, queueTimeoutMs: 60_000 });
    await expect(queue.run('a', async () => Promise.reject(new Error('init threw')))).rejects.toThrow('init threw');
    expect(await queue.run('a', async () => 'again')).toBe('again');
    expect(queue.running).toBe(0);
  });
});
