// Registering, describing, rebuilding and removing functions.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { FunctionDescriptionSchema } from '../../manager/describe.ts';
import type { InstanceManager } from '../../manager/manager.ts';
import { errorResponses, FunctionNameParams } from '../schemas.ts';

export const functionRoutes: FastifyPluginAsyncTypebox<{ manager: InstanceManager }> = async (app, { manager }) => {
  app.post('/functions', {
    schema: {
      summary: 'register a function by building it (again, if it exists)',
      body: Type.Object(
        { path: Type.String({ pattern: '^/', description: "the function's directory, an absolute path" }) },
        { additionalProperties: false },
      ),
      response: { 201: FunctionDescriptionSchema, ...errorResponses(400, 409, 422, 500, 503) },
    },
    handler: async (request, reply) => reply.code(201).send(await manager.register(request.body.path)),
  });

  app.get('/functions', {
    schema: {
      summary: 'list registered functions',
      response: { 200: Type.Object({ functions: Type.Array(FunctionDescriptionSchema) }), ...errorResponses(500) },
    },
    handler: async () => ({ functions: await manager.list() }),
  });

  app.get('/functions/:name', {
    schema: {
      summary: 'describe a function',
      params: FunctionNameParams,
      response: { 200: FunctionDescriptionSchema, ...errorResponses(400, 404, 500) },
    },
    handler: async (request) => manager.describe(request.params.name),
  });

  app.post('/functions/:name/build', {
    schema: {
      summary: "rebuild a function from its source directory",
      params: FunctionNameParams,
      response: { 200: FunctionDescriptionSchema, ...errorResponses(400, 404, 409, 422, 500, 503) },
    },
    handler: async (request) => manager.rebuild(request.params.name),
  });

  app.delete('/functions/:name', {
    schema: {
      summary: "remove a function's image and registration; its instances end",
      params: FunctionNameParams,
      response: { 204: Type.Null(), ...errorResponses(400, 404, 409, 500, 503) },
    },
    handler: async (request, reply) => {
      await manager.remove(request.params.name);
      return reply.code(204).send(null);
    },
  });
};
