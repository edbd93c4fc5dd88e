// Lambda's function management: CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions,
// DeleteFunction, UpdateFunctionCode and UpdateFunctionConfiguration, over LambdaFunctions.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { PrebakeError } from '../errors.ts';
import type { Host } from '../host/host.ts';
import { LambdaFunctions } from './functions.ts';
import { parseFunctionRef } from './names.ts';

/** A 50 MB package is about 67 MB as base64 in a JSON body. */
const PACKAGE_BODY_LIMIT = 70 * 1024 * 1024;
const JSON_BODY_LIMIT = 1024 * 1024;

/** The request's JSON body (the Lambda routes read bodies as bytes), or InvalidRequestContentException. */
function jsonBody<T>(request: FastifyRequest): T {
  const body = Buffer.isBuffer(request.body) ? request.body.toString('utf8') : '';
  try {
    const parsed: unknown = body.trim() === '' ? {} : JSON.parse(body);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as T;
  } catch {
    // answered below
  }
  throw new PrebakeError('PREBAKE_ERR_INVALID_INPUT', 'Could not parse request body into json: expected one JSON object', {
    details: { lambdaType: 'InvalidRequestContentException' },
  });
}

export function functionRoutes(app: FastifyInstance, { host }: { host: Host }): LambdaFunctions {
  const functions = new LambdaFunctions(host);
  const region = (request: FastifyRequest) => request.lambdaRegion ?? host.config.lambda.region;
  const own = { config: { ownAuth: true } };
  type Named = { Params: { name: string } };

  app.post('/functions', { ...own, bodyLimit: PACKAGE_BODY_LIMIT }, async (request, reply) =>
    reply.code(201).send(await functions.create(jsonBody(request), region(request))),
  );
  const list = async (request: FastifyRequest<{ Querystring: { MaxItems?: string; Marker?: string } }>) => {
    const maxItems = request.query.MaxItems === undefined ? 50 : Number(request.query.MaxItems);
    if (!Number.isInteger(maxItems) || maxItems < 1 || maxItems > 10_000) {
      throw new PrebakeError('PREBAKE_ERR_INVALID_INPUT', 'MaxItems must be an integer from 1 to 10000', {
        details: { lambdaType: 'InvalidParameterValueException' },
      });
    }
    return functions.list(region(request), maxItems, request.query.Marker);
  };
  app.get('/functions', own, list);
  app.get('/functions/', own, list);
  app.get<Named>('/functions/:name', own, async (request) => ({
    Configuration: await functions.configuration(parseFunctionRef(request.params.name).name, region(request)),
    Code: { RepositoryType: 'S3', Location: '' },
  }));
  app.get<Named>('/functions/:name/configuration', own, async (request) =>
    functions.configuration(parseFunctionRef(request.params.name).name, region(request)),
  );
  app.delete<Named>('/functions/:name', own, async (request, reply) => {
    await functions.delete(parseFunctionRef(request.params.name).name);
    return reply.code(204).send();
  });
  app.put<Named>('/functions/:name/code', { ...own, bodyLimit: PACKAGE_BODY_LIMIT }, async (request) =>
    functions.updateCode(parseFunctionRef(request.params.name).name, jsonBody(request), region(request)),
  );
  app.put<Named>('/functions/:name/configuration', { ...own, bodyLimit: JSON_BODY_LIMIT }, async (request) =>
    functions.updateConfiguration(parseFunctionRef(request.params.name).name, jsonBody(request), region(request)),
  );
  app.addHook('onClose', () => functions.settled());
  return functions;
}
