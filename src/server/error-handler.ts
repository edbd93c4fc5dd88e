// Every error the HTTP API returns has one shape: { "error": { "code", "message", ... } }, with the status the
// code maps to in src/errors.ts. fastify's own errors (validation, body limits, content types, the router's
// refusals) and Node's (a request that is malformed, too slow or has too many headers) are mapped to prebake
// codes here, once.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type ErrorCode, PrebakeError, toPrebakeError } from '../errors.ts';
import { httpHint } from './hints.ts';

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PREBAKE_ERR_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'PREBAKE_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_MAX_PARAM_LENGTH: 'PREBAKE_ERR_URI_TOO_LONG',
};

// Node's refusals before a request reaches fastify; anything else it refuses (a bad method, garbage) is 400.
const CLIENT_ERROR_CODES: Record<string, ErrorCode> = {
  ERR_HTTP_REQUEST_TIMEOUT: 'PREBAKE_ERR_REQUEST_TIMEOUT',
  HPE_HEADER_OVERFLOW: 'PREBAKE_ERR_HEADERS_TOO_LARGE',
};

/** The PrebakeError that stands for `error`, whatever threw it. */
export function toApiError(error: unknown): PrebakeError {
  if (error instanceof PrebakeError) return error;
  const fastifyError = error as Partial<FastifyError>;
  const mapped = fastifyError.code && FASTIFY_CODES[fastifyError.code];
  if (mapped) return new PrebakeError(mapped, fastifyError.message ?? mapped, { cause: error });
  if (fastifyError.validation) {
    return new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `invalid request: ${fastifyError.message}`, { cause: error });
  }
  // fastify's other client errors: an unparsable JSON body, a bad content length.
  if (fastifyError.statusCode !== undefined && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `invalid request: ${fastifyError.message}`, { cause: error });
  }
  return toPrebakeError(error);
}

export function sendError(request: FastifyRequest, reply: FastifyReply, error: PrebakeError): FastifyReply {
  if (error.code === 'PREBAKE_ERR_OVERLOADED') reply.header('retry-after', String(error.details?.retryAfterSec ?? 1));
  return reply.code(error.httpStatus).send({ error: { ...error.toJSON(httpHint(error)), requestId: request.id } });
}

/** fastify's `frameworkErrors`: the router's refusals (a too long or malformed path) before any hook runs. */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  reply.header('x-request-id', request.id);
  const apiError = toApiError(error);
  request.log.info({ err: { code: apiError.code, message: apiError.message } }, 'request refused');
  return sendError(request, reply, apiError);
}

/**
 * fastify's `clientErrorHandler`, for what Node refuses on a connection before there is a request: answers in the
 * API's format (with a request id of its own) and closes the connection.
 */
export function clientErrorHandler(this: FastifyInstance, error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const code = CLIENT_ERROR_CODES[error.code ?? ''] ?? 'PREBAKE_ERR_INVALID_INPUT';
  const apiError = new PrebakeError(code, `the request was refused: ${error.message}`, { hint: 'see docs/DAEMON.md, "Limits"' });
  const requestId = randomUUID();
  this.log.info({ reqId: requestId, err: { code, message: error.message } }, 'connection refused');
  // Node's own handler checks the same: a response already under way on this socket cannot get another head.
  const responding = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
  if (socket.writable && !responding) {
    const body = JSON.stringify({ error: { ...apiError.toJSON(httpHint(apiError)), requestId } });
    const status = apiError.httpStatus;
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((thrown: unknown, request, reply) => {
    const error = toApiError(thrown);
    const fields = { fn: error.functionName, err: { code: error.code, message: error.message, details: error.details } };
    if (error.code === 'PREBAKE_ERR_INTERNAL') request.log.error({ ...fields, cause: error.cause }, 'request failed: a bug in prebake');
    else if (error.httpStatus >= 500) request.log.warn(fields, 'request failed');
    else request.log.info(fields, 'request refused');
    return sendError(request, reply, error);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(
      request,
      reply,
      new PrebakeError('PREBAKE_ERR_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`, {
        hint: 'see docs/DAEMON.md for the API',
      }),
    ),
  );
}
