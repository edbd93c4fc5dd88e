import type { FastifyReply } from 'fastify';

/** Aborts when the client hangs up before its answer was sent: work still waiting for a slot is dropped. */
export function clientGoneSignal(reply: FastifyReply): AbortSignal {
  const clientGone = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) clientGone.abort();
  });
  return clientGone.signal;
}
