// POST /functions/:name/invoke: the request body is the event, the response body the handler's result, both
// JSON text passed through verbatim.
import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { Host } from '../../host/host.ts';
import { StartModeSchema } from '../../manifest/schema.ts';
import { clientGoneSignal } from '../client-gone.ts';
import { errorResponses, FunctionNameParams } from '../schemas.ts';

export const invokeRoutes: FastifyPluginAsyncTypebox<{ host: Host }> = async (app, { host }) => {
  const bodyLimit = host.config.bodyLimitBytes;
  // Any content type (curl -d sends form encoding): the body is taken as JSON text and checked once, below.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit }, (_request, body, done) => done(null, body));

  app.post('/functions/:name/invoke', {
    bodyLimit,
    schema: {
      summary: 'invoke a function: the body is the event; the response body is the result',
      params: FunctionNameParams,
      querystring: Type.Object({ mode: Type.Optional(StartModeSchema) }, { additionalProperties: false }),
      body: Type.Unknown({ description: 'the event: any JSON text; an empty body is {}' }),
      response: {
        200: Type.Unknown({ description: "the handler's result, as it returned it" }),
        ...errorResponses(400, 401, 404, 409, 413, 429, 500, 502, 503, 504),
      },
    },
    handler: async (request, reply) => {
      const text = typeof request.body === 'string' && request.body.trim() !== '' ? request.body : '{}';
      // The client hung up: an invocation still waiting for a slot is dropped (one already running finishes).
      const outcome = await host.invoke({
        signal: clientGoneSignal(reply),
        target: request.params.name,
        event: text,
        requestId: request.id,
        mode: request.query.mode,
        log: request.log,
      });
      request.log.info(
        { fn: outcome.functionName, start: outcome.start, startMs: round(outcome.startMs), runMs: round(outcome.runMs) },
        'invocation done',
      );
      return reply
        .header('x-prebake-start', outcome.start)
        .header('x-prebake-start-ms', round(outcome.startMs).toString())
        .header('x-prebake-run-ms', round(outcome.runMs).toString())
        .type('application/json; charset=utf-8')
        .send(outcome.result);
    },
  });
};

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
