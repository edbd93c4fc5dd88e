// Every route but GET /healthz, GET /readyz (and GET /metrics with --metrics-public) needs `Authorization: Bearer <token>`:
// registering a function runs its code as root, so no one else on the host may reach the API.
import type { FastifyInstance } from 'fastify';
import { bearerToken, secretChecker } from '../bearer.ts';
import { PrebakeError } from '../errors.ts';

export interface AuthOptions {
  /** The API token (see token.ts). */
  token: string;
  /** Serve GET /metrics without the token (for a scraper that cannot send one). */
  metricsPublic?: boolean;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route checks its own credentials (the Lambda API: SigV4 or the bearer token, after the body is read). */
    ownAuth?: boolean;
  }
}

export function installAuth(app: FastifyInstance, options: AuthOptions): void {
  const matches = secretChecker(options.token);
  const publicRoutes = new Set(['/healthz', '/readyz', ...(options.metricsPublic ? ['/metrics'] : [])]);
  app.addHook('onRequest', async (request, reply) => {
    if ((request.method === 'GET' || request.method === 'HEAD') && publicRoutes.has(request.routeOptions.url ?? '')) return;
    if (request.routeOptions.config?.ownAuth) return;
    const given = bearerToken(request.headers.authorization);
    if (given !== undefined && matches(given)) return;
    reply.header('www-authenticate', 'Bearer realm="prebake"');
    throw new PrebakeError('PREBAKE_ERR_UNAUTHORIZED', given === undefined ? 'the request has no API token' : 'the API token is wrong', {
      hint: 'send Authorization: Bearer <token>; the daemon logs where its token is (by default <home>/api-token)',
    });
  });
}
