// GET /functions/:name/logs: what recent invocations' functions printed, by request id.
import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import { PrebakeError } from '../../errors.ts';
import type { Host } from '../../host/host.ts';
import { START_MODES } from '../../manifest/schema.ts';
import { errorResponses, FunctionNameParams } from '../schemas.ts';

const LogEntry = Type.Object({
  requestId: Type.String(),
  at: Type.String({ format: 'date-time' }),
  start: Type.Optional(Type.Union(START_MODES.map((m) => Type.Literal(m)))),
  outcome: Type.String({ description: 'ok, or the error code in lower case without PREBAKE_ERR_' }),
  logs: Type.String(),
});

export const logRoutes: FastifyPluginAsyncTypebox<{ host: Host }> = async (app, { host }) => {
  app.get('/functions/:name/logs', {
    schema: {
      summary: 'function logs of one invocation (requestId), or of the latest ones',
      params: FunctionNameParams,
      querystring: Type.Object(
        {
          requestId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
          limit: Type.Integer({ minimum: 1, maximum: 1000, default: 20 }),
        },
        { additionalProperties: false },
      ),
      response: { 200: Type.Object({ entries: Type.Array(LogEntry) }), ...errorResponses(400, 401, 404, 500) },
    },
    handler: async (request) => {
      const { name } = request.params;
      await host.assertRegistered(name);
      const { requestId, limit } = request.query;
      if (requestId === undefined) return { entries: await host.invocationLogs.recent(name, limit) };
      const entry = await host.invocationLogs.get(name, requestId);
      if (!entry) {
        throw new PrebakeError('PREBAKE_ERR_NOT_FOUND', `no logs of request ${requestId} of function "${name}"`, {
          functionName: name,
          hint: `only the last ${host.config.logs.perFunction} invocations of each function are kept`,
        });
      }
      return { entries: [entry] };
    },
  });
};
