// Every route but GET /healthz (and GET /metrics with --metrics-public) needs `Authorization: Bearer <token>`:
// registering a function runs its code as root, so no one else on the host may reach the API.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { PrebakeError } from '../errors.ts';

export interface AuthOptions {
  /** The API token (see token.ts). */
  token: string;
  /** Serve GET /metrics without the token (for a scraper that cannot send one). */
  metricsPublic?: boolean;
}

// Digests of equal length, so the comparison takes the same time whatever the given token's length or content.
const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

export function installAuth(app: FastifyInstance, options: AuthOptions): void {
  const expected = digest(options.token);
  const publicRoutes = new Set(['/healthz', ...(options.metricsPublic ? ['/metrics'] : [])]);
  app.addHook('onRequest', async (request, reply) => {
    if ((request.method === 'GET' || request.method === 'HEAD') && publicRoutes.has(request.routeOptions.url ?? '')) return;
    const given = /^Bearer +(\S+) *$/i.exec(request.headers.authorization ?? '')?.[1];
    if (given !== undefined && timingSafeEqual(digest(given), expected)) return;
    reply.header('www-authenticate', 'Bearer realm="prebake"');
    throw new PrebakeError('PREBAKE_ERR_UNAUTHORIZED', given === undefined ? 'the request has no API token' : 'the API token is wrong', {
      hint: 'send Authorization: Bearer <token>; the daemon logs where its token is (by default <home>/api-token)',
    });
  });
}
