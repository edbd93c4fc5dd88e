// buildServer: the daemon's HTTP API as a fastify app, built but not listening (tests inject or listen on port
// 0; `prebake serve` listens). Closing the app ends every instance the daemon started.
import { randomUUID } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { PrebakeError } from '../errors.ts';
import { Reconciler, type ReconcilerOptions } from '../fleet/reconciler.ts';
import { Host, type HostOptions } from '../host/host.ts';
import { LAMBDA_PREFIX, lambdaApi } from '../lambda/api.ts';
import { resolveDaemonConfig } from '../manager/config.ts';
import { type AuthOptions, installAuth } from './auth.ts';
import { clientErrorHandler, frameworkErrors, installErrorHandlers, toApiError } from './error-handler.ts';
import { createMetrics } from './metrics.ts';
import { bundleRoutes } from './routes/bundle.ts';
import { functionRoutes } from './routes/functions.ts';
import { healthRoutes } from './routes/health.ts';
import { invokeRoutes } from './routes/invoke.ts';
import { logRoutes } from './routes/logs.ts';

declare module 'fastify' {
  interface FastifyInstance {
    host: Host;
    /** The functions the config declares by reference, kept as it says (src/fleet). */
    declared: Reconciler;
  }
}

/** The Host's options (its home, criu, config, instances), but its log and observer are the server's. */
export interface BuildServerOptions extends Omit<HostOptions, 'log' | 'observer' | 'keepInstances'> {
  /** fastify's logger option: false (tests), true, or pino options. */
  logger?: FastifyServerOptions['logger'];
  /** The API token every route but /healthz requires (see auth.ts, token.ts). */
  auth: AuthOptions;
  /** Where the config came from, so that it can be read again (a change of the file, SIGHUP): see src/fleet. */
  reload?: Pick<ReconcilerOptions, 'file' | 'load' | 'backoff' | 'debounceMs'>;
}

// How often Node looks for connections past their deadlines (its default, 30 s, would let a 10 s deadline
// stretch to 40 s); a walk over the open connections once a second costs nothing worth measuring.
const DEADLINE_CHECK_INTERVAL_MS = 1_000;

export async function buildServer(options: BuildServerOptions): Promise<FastifyInstance> {
  const { logger, auth, reload, ...hostOptions } = options;
  // The Host's log is fastify's, so made after the app; its config is needed before (the HTTP deadlines).
  const config = resolveDaemonConfig(options.config ?? {});
  const app = Fastify({
    logger: logger ?? false,
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

  // Scrapes read the host's numbers; they come only after it is decorated below.
  const metrics = createMetrics({
    images: () => app.host.store.list(),
    stats: () => app.host.stats,
    declared: () => app.declared.statuses(),
  });
  const host = new Host({ ...hostOptions, config, log: app.log, observer: metrics.observer });
  await host.open();
  app.decorate('host', host);
  const declared = new Reconciler({ ...reload, host, log: app.log, observer: metrics.fleetObserver });
  app.decorate('declared', declared);

  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    if (closing)
      throw new PrebakeError('PREBAKE_ERR_SHUTTING_DOWN', 'the daemon is shutting down', { hint: 'retry against another instance' });
  });
  installAuth(app, auth);
  // The server's close waits for every connection: one kept alive past its last response would hold it open.
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  // Runs once the server has stopped and in-flight requests are done (or cut short, see closeGracefully).
  app.addHook('onClose', async () => {
    await declared.close();
    await host.shutdown();
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

  await app.register(functionRoutes, { host, declared });
  await app.register(bundleRoutes, { host });
  await app.register(invokeRoutes, { host });
  await app.register(logRoutes, { host });
  await app.register(healthRoutes, { host, registry: metrics.registry });
  await app.register(lambdaApi, { prefix: LAMBDA_PREFIX, host, token: auth.token, toApiError, eventDone: metrics.lambdaEventDone });
  declared.start();
  return app;
}
