// GET /healthz and GET /metrics.
import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { Registry } from 'prom-client';
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

  app.get('/metrics', {
    schema: {
      summary: 'Prometheus metrics, in the text exposition format',
      response: { 200: Type.String(), ...errorResponses(401, 500) },
    },
    handler: async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()),
  });
};
