// GET and PUT /functions/:name/bundle: a function's snapshot as a tar stream (docs/BUNDLES.md), both ways
// streamed, so the daemon's memory stays flat whatever the image's size.

import type { Readable } from 'node:stream';
import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import { BUNDLE_MEDIA_TYPE } from '../../bundle/format.ts';
import type { Host } from '../../host/host.ts';
import { FunctionDescriptionSchema } from '../../manager/describe.ts';
import { errorResponses, FunctionNameParams } from '../schemas.ts';

export const bundleRoutes: FastifyPluginAsyncTypebox<{ host: Host }> = async (app, { host }) => {
  // The body stays a stream for the route to read: fastify's body limit does not apply to it.
  app.addContentTypeParser([BUNDLE_MEDIA_TYPE, 'application/octet-stream'], (_request, payload, done) => done(null, payload));

  app.get('/functions/:name/bundle', {
    schema: {
      summary: "the function's image, code and environment fingerprint as one tar stream",
      params: FunctionNameParams,
      // A stream is sent as it is: fastify serializes only objects.
      response: {
        200: Type.Unsafe<Readable>({ description: 'the bundle (application/x-tar)' }),
        ...errorResponses(400, 401, 404, 409, 500, 503),
      },
    },
    handler: async (request, reply) => {
      const bundle = await host.exportBundle(request.params.name);
      return reply
        .type(BUNDLE_MEDIA_TYPE)
        .header('content-disposition', `attachment; filename="${request.params.name}.prebake.tar"`)
        .send(bundle);
    },
  });

  app.put('/functions/:name/bundle', {
    schema: {
      summary: "import a bundle (verified while it streams) as the function's image",
      params: FunctionNameParams,
      querystring: Type.Object({ force: Type.Boolean({ default: false }) }, { additionalProperties: false }),
      response: { 200: FunctionDescriptionSchema, ...errorResponses(400, 401, 403, 404, 409, 415, 500, 503) },
    },
    handler: async (request, reply) => {
      try {
        const imported = await host.importBundle(request.body as Readable, {
          expectedName: request.params.name,
          force: request.query.force,
        });
        return imported.description;
      } catch (error) {
        // A refusal can come before the whole body was read: the connection closes rather than read the rest.
        reply.header('connection', 'close');
        throw error;
      }
    },
  });
};
