// Registering, describing, rebuilding and removing functions.
import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import { PrebakeError } from '../../errors.ts';
import type { Reconciler } from '../../fleet/reconciler.ts';
import { ConfigStatusSchema, DeclaredStatusSchema } from '../../fleet/status.ts';
import type { Host } from '../../host/host.ts';
import { type FunctionDescription, FunctionDescriptionSchema } from '../../manager/describe.ts';
import { clientGoneSignal } from '../client-gone.ts';
import { errorResponses, FunctionNameParams } from '../schemas.ts';

// A function declared by reference says which reference and digest it runs (a fleet compares them).
const DescribedFunctionSchema = Type.Object({
  ...FunctionDescriptionSchema.properties,
  declared: Type.Optional(Type.Omit(DeclaredStatusSchema, ['name'])),
});

export const functionRoutes: FastifyPluginAsyncTypebox<{ host: Host; declared: Reconciler }> = async (app, { host, declared }) => {
  const withDeclared = (description: FunctionDescription) => {
    const status = declared.status(description.name);
    if (!status) return description;
    const { name: _, ...rest } = status;
    return { ...description, declared: rest };
  };

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
      response: {
        200: Type.Object({
          functions: Type.Array(DescribedFunctionSchema),
          /** Every declared function, those not (yet) registered included. */
          declared: Type.Array(DeclaredStatusSchema),
          config: ConfigStatusSchema,
        }),
        ...errorResponses(401, 500),
      },
    },
    handler: async () => ({
      functions: (await host.list()).map(withDeclared),
      declared: declared.statuses(),
      config: declared.configStatus(),
    }),
  });

  app.get('/functions/:name', {
    schema: {
      summary: 'describe a function',
      params: FunctionNameParams,
      response: { 200: DescribedFunctionSchema, ...errorResponses(400, 401, 404, 500) },
    },
    handler: async (request) => {
      const { name } = request.params;
      const status = declared.status(name);
      // Declared but never brought in: say why rather than only that it is unknown.
      if (status?.error && !(await host.store.get(name).catch(() => undefined))) {
        throw new PrebakeError('PREBAKE_ERR_UNKNOWN_FUNCTION', `function "${name}" is declared but not here: ${status.error.message}`, {
          functionName: name,
          hint: `${status.bundle}: ${status.error.code}`,
        });
      }
      return withDeclared(await host.describe(name));
    },
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
