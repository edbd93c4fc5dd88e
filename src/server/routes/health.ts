// GET /healthz and GET /metrics.
import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { Registry } from 'prom-client';
import { PrebakeError } from '../../errors.ts';
import type { Host } from '../../host/host.ts';
import { errorResponses } from '../schemas.ts';

export const healthRoutes: FastifyPluginAsyncTypebox<{ host: Host; registry: Registry }> = async (app, { host, registry }) => {
  app.get('/healthz', {
    schema: {
      summary: 'liveness: 200 while the daemon takes invocations, 503 once it is shutting down',
      response: {
        200: Type.Object({ status: Type.Literal('ok'), running: Type.Integer(), queued: Type.Integer() }),
        ...errorResponses(503),
      },
    },
    handler: async () => {
      const { running, queued } = host.stats;
      return { status: 'ok' as const, running, queued };
    },
  });

  app.get('/readyz', {
    schema: {
      summary:
        'readiness: 200 once every function the config declares was pulled (or failed to be, and is reported), 503 before and once shutting down',
      response: {
        200: Type.Object({ status: Type.Literal('ready'), declared: Type.Integer() }),
        ...errorResponses(503),
      },
    },
    handler: async () => {
      if (!app.declared.ready) {
        throw new PrebakeError('PREBAKE_ERR_NOT_READY', 'the daemon is still bringing in the functions its config declares', {
          hint: 'GET /functions says where each one is',
        });
      }
      return { status: 'ready' as const, declared: app.declared.statuses().length };
    },
  });

  app.get('/metrics', {
    schema: {
      summary: 'Prometheus metrics, in the text exposition format',
      response: { 200: Type.String(), ...errorResponses(401, 500) },
    },
    handler: async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()),
  });
};
