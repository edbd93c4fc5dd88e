// Registering, describing, rebuilding and removing functions.
import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { Host } from '../../host/host.ts';
import { FunctionDescriptionSchema } from '../../manager/describe.ts';
import { clientGoneSignal } from '../client-gone.ts';
import { errorResponses, FunctionNameParams } from '../schemas.ts';

export const functionRoutes: FastifyPluginAsyncTypebox<{ host: Host }> = async (app, { host }) => {
  app.post('/functions', {
    schema: {
      summary: 'register a function by building it (again, if it exists)',
      body: Type.Object(
        { path: Type.String({ pattern: '^/', maxLength: 4096, description: "the function's directory, an absolute path" }) },
        { additionalProperties: false },
      ),
      querystring: Type.Object(
        { replace: Type.Boolean({ default: false, description: 'take the name even when another directory holds it' }) },
        { additionalProperties: false },
      ),
      response: { 201: FunctionDescriptionSchema, ...errorResponses(400, 401, 403, 409, 422, 429, 500, 503) },
    },
    handler: async (request, reply) => {
      const registered = await host.register(request.body.path, { replace: request.query.replace, signal: clientGoneSignal(reply) });
      return reply.code(201).send(registered.description);
    },
  });

  app.get('/functions', {
    schema: {
      summary: 'list registered functions',
      response: { 200: Type.Object({ functions: Type.Array(FunctionDescriptionSchema) }), ...errorResponses(401, 500) },
    },
    handler: async () => ({ functions: await host.list() }),
  });

  app.get('/functions/:name', {
    schema: {
      summary: 'describe a function',
      params: FunctionNameParams,
      response: { 200: FunctionDescriptionSchema, ...errorResponses(400, 401, 404, 500) },
    },
    handler: async (request) => host.describe(request.params.name),
  });

  app.post('/functions/:name/build', {
    schema: {
      summary: 'rebuild a function from its source directory',
      params: FunctionNameParams,
      response: { 200: FunctionDescriptionSchema, ...errorResponses(400, 401, 403, 404, 409, 422, 429, 500, 503) },
    },
    handler: async (request, reply) => (await host.rebuild(request.params.name, { signal: clientGoneSignal(reply) })).description,
  });

  app.delete('/functions/:name', {
    schema: {
      summary: "remove a function's image and registration; its instances end",
      params: FunctionNameParams,
      response: { 204: Type.Null(), ...errorResponses(400, 401, 404, 409, 500, 503) },
    },
    handler: async (request, reply) => {
      await host.remove(request.params.name);
      return reply.code(204).send(null);
    },
  });
};
