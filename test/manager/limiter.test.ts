import { describe, expect, it } from 'vitest';
import { isPrebakeError } from '../../src/errors.ts';
import { ConcurrencyLimiter } from '../../src/manager/limiter.ts';

describe('ConcurrencyLimiter', () => {
  it('grants up to the limit, queues the next ones, and hands a released slot to the oldest waiter', async () => {
    const limiter = new ConcurrencyLimiter({ limit: 2, maxQueued: 2, queueTimeoutMs: 10_000 });
    const first = await limiter.acquire();
    await limiter.acquire();
    const order: number[] = [];
    const third = limiter.acquire().then((release) => {
      order.push(3);
      return release;
    });
    const fourth = limiter.acquire().then((release) => {
      order.push(4);
      return release;
    });
    expect({ running: limiter.running, queued: limiter.queued }).toEqual({ running: 2, queued: 2 });
    first();
    first(); // a second call is harmless
    (await third)();
    await fourth;
    expect(order).toEqual([3, 4]);
    expect({ running: limiter.running, queued: limiter.queued }).toEqual({ running: 2, queued: 0 });
  });

  it('refuses at once when the queue is full, with a retry-after', async () => {
    const limiter = new ConcurrencyLimiter({ limit: 1, maxQueued: 0, queueTimeoutMs: 10_000 });
    await limiter.acquire();
    const error = await limiter.acquire().catch((e: unknown) => e);
    expect(isPrebakeError(error, 'PREBAKE_ERR_OVERLOADED')).toBe(true);
    expect((error as { details: { retryAfterSec: number } }).details.retryAfterSec).toBe(1);
  });

  it('drops a waiter whose signal aborts, and passes the slot to the next one', async () => {
    const limiter = new ConcurrencyLimiter({ limit: 1, maxQueued: 5, queueTimeoutMs: 10_000 });
    const first = await limiter.acquire();
    const gone = new AbortController();
    const abandoned = limiter.acquire(gone.signal);
    const next = limiter.acquire();
    expect(limiter.queued).toBe(2);
    gone.abort();
    await expect(abandoned).rejects.toMatchObject({ code: 'PREBAKE_ERR_CLIENT_GONE' });
    expect(limiter.queued).toBe(1);
    first();
    (await next)();
    expect({ running: limiter.running, queued: limiter.queued }).toEqual({ running: 0, queued: 0 });
    const already = new AbortController();
    already.abort();
    await expect(limiter.acquire(already.signal)).rejects.toMatchObject({ code: 'PREBAKE_ERR_CLIENT_GONE' });
    expect(limiter.running).toBe(0);
  });

  it('gives up on a waiter after queueTimeoutMs', async () => {
    const limiter = new ConcurrencyLimiter({ limit: 1, maxQueued: 5, queueTimeoutMs: 50 });
    await limiter.acquire();
    await expect(limiter.acquire()).rejects.toMatchObject({ code: 'PREBAKE_ERR_OVERLOADED' });
    expect(limiter.queued).toBe(0);
  });

  it('refuses every waiter at shutdown', async () => {
    const limiter = new ConcurrencyLimiter({ limit: 1, maxQueued: 5, queueTimeoutMs: 10_000 });
    await limiter.acquire();
    const waiting = [limiter.acquire(), limiter.acquire()];
    limiter.refuseQueued(new Error('shutting down'));
    for (const waiter of waiting) await expect(waiter).rejects.toThrow('shutting down');
  });
});
