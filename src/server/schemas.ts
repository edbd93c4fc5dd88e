// Schemas shared by the routes: they validate requests and document responses (docs/DAEMON.md).
import { Type } from '@sinclair/typebox';
import { ERROR_CODES } from '../errors.ts';
import { FUNCTION_NAME_PATTERN } from '../manifest/schema.ts';

export const FunctionNameParams = Type.Object({
  name: Type.String({ pattern: FUNCTION_NAME_PATTERN, description: "the function's name" }),
});

export const ErrorResponse = Type.Object({
  error: Type.Object({
    code: Type.Union(
      Object.keys(ERROR_CODES).map((code) => Type.Literal(code)),
      { description: 'stable: match on it' },
    ),
    message: Type.String(),
    hint: Type.Optional(Type.String()),
    function: Type.Optional(Type.String()),
    functionError: Type.Optional(Type.Object({ type: Type.String(), message: Type.String(), stack: Type.Optional(Type.String()) })),
    requestId: Type.String(),
  }),
});

/** The error responses a route can give, by status, for its schema. */
export function errorResponses(...statuses: number[]): Record<number, typeof ErrorResponse> {
  return Object.fromEntries(statuses.map((status) => [status, ErrorResponse]));
}
