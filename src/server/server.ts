// buildServer: the daemon's HTTP API as a fastify app, built but not listening (tests inject or listen on port
// 0; `prebake serve` listens). Closing the app ends every instance the daemon started.
import { randomUUID } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { Criu } from '../criu/criu.ts';
import { PrebakeError } from '../errors.ts';
import type { InstanceRegistry } from '../instance/registry.ts';
import { type DaemonConfig, type DaemonConfigInput, resolveDaemonConfig } from '../manager/config.ts';
import { InstanceManager } from '../manager/manager.ts';
import type { ImageStore } from '../store/store.ts';
import { type AuthOptions, installAuth } from './auth.ts';
import { clientErrorHandler, frameworkErrors, installErrorHandlers } from './error-handler.ts';
import { createMetrics } from './metrics.ts';
import { bundleRoutes } from './routes/bundle.ts';
import { functionRoutes } from './routes/functions.ts';
import { healthRoutes } from './routes/health.ts';
import { invokeRoutes } from './routes/invoke.ts';
import { logRoutes } from './routes/logs.ts';

declare module 'fastify' {
  interface FastifyInstance {
    manager: InstanceManager;
  }
}

export interface BuildServerOptions {
  store: ImageStore;
  criu?: Criu;
  /** The daemon's config, as read from a file or flags (validated here), or already resolved. */
  config?: DaemonConfigInput | DaemonConfig;
  /** fastify's logger option: false (tests), true, or pino options. */
  logger?: FastifyServerOptions['logger'];
  /** The registry the daemon's instances are alive in (default: the manager's own). */
  instances?: InstanceRegistry;
  /** The API token every route but /healthz requires (see auth.ts, token.ts). */
  auth: AuthOptions;
}

// How often Node looks for connections past their deadlines (its default, 30 s, would let a 10 s deadline
// stretch to 40 s); a walk over the open connections once a second costs nothing worth measuring.
const DEADLINE_CHECK_INTERVAL_MS = 1_000;

export async function buildServer(options: BuildServerOptions): Promise<FastifyInstance> {
  const config = resolveDaemonConfig(options.config ?? {});
  const app = Fastify({
    logger: options.logger ?? false,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    // Answered by the onRequest hook below instead, in the API's error format.
    return503OnClosing: false,
    ajv: { customOptions: { removeAdditional: false } },
    http: { headersTimeout: config.http.headersTimeoutMs, connectionsCheckingInterval: DEADLINE_CHECK_INTERVAL_MS },
    requestTimeout: config.http.requestTimeoutMs,
    keepAliveTimeout: config.http.keepAliveTimeoutMs,
    clientErrorHandler,
    frameworkErrors,
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Scrapes read the manager's numbers; they come only after it is decorated below.
  const metrics = createMetrics({ store: options.store, stats: () => app.manager.stats });
  const manager = new InstanceManager({
    store: options.store,
    criu: options.criu ?? new Criu(),
    config,
    log: app.log,
    observer: metrics.observer,
    instances: options.instances,
  });
  await manager.start();
  app.decorate('manager', manager);

  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    if (closing)
      throw new PrebakeError('PREBAKE_ERR_SHUTTING_DOWN', 'the daemon is shutting down', { hint: 'retry against another instance' });
  });
  installAuth(app, options.auth);
  // The server's close waits for every connection: one kept alive past its last response would hold it open.
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  // Runs once the server has stopped and in-flight requests are done (or cut short, see closeGracefully).
  app.addHook('onClose', async () => {
    await manager.shutdown();
  });
  installErrorHandlers(app);
  // fastify's own JSON parser refuses an empty body, which curl -X POST -H 'content-type: application/json' sends.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    if (typeof body !== 'string' || body.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(body));
    } catch (error) {
      done(new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `the request body is not valid JSON: ${(error as Error).message}`), undefined);
    }
  });

  await app.register(functionRoutes, { manager });
  await app.register(bundleRoutes, { manager });
  await app.register(invokeRoutes, { manager });
  await app.register(logRoutes, { manager });
  await app.register(healthRoutes, { manager, registry: metrics.registry });
  return app;
}
