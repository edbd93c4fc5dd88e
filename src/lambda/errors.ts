// How a prebake failure answers on the Lambda API. Two kinds, as Lambda has them:
// - a function error: the service worked, the function did not (it threw, exited, ran out of time or memory).
//   Lambda answers 200 with X-Amz-Function-Error: Unhandled and {"errorMessage","errorType","stackTrace"};
// - a service error: the call itself failed (no such function, too many requests, a bad request, a start that
//   could not happen). Lambda answers its status with x-amzn-ErrorType and {"Type","message"}.
// The table is exhaustive over prebake's codes: a new code does not compile until it is given a Lambda shape.
import type { ErrorCode, PrebakeError } from '../errors.ts';

export interface LambdaServiceError {
  kind: 'service';
  status: number;
  /** Lambda's exception name, as x-amzn-ErrorType and the body's Type carry it. */
  type: string;
}

export interface LambdaFunctionError {
  kind: 'function';
  /** The errorType Lambda reports for a failure the function did not throw itself. */
  errorType: string;
}

type LambdaShape = LambdaServiceError | LambdaFunctionError;

const service = (status: number, type: string): LambdaServiceError => ({ kind: 'service', status, type });
const fn = (errorType: string): LambdaFunctionError => ({ kind: 'function', errorType });
const BAD_REQUEST = service(400, 'InvalidRequestContentException');
const INVALID_PARAMETER = service(400, 'InvalidParameterValueException');
const CONFLICT = service(409, 'ResourceConflictException');
const SERVICE = service(500, 'ServiceException');
// A function that cannot start: Lambda's name for an execution environment that did not come up.
const CANNOT_START = service(502, 'ResourceNotReadyException');

const SHAPES: Record<ErrorCode, LambdaShape> = {
  PREBAKE_ERR_MANIFEST: INVALID_PARAMETER,
  PREBAKE_ERR_INVALID_INPUT: INVALID_PARAMETER,
  PREBAKE_ERR_OUTSIDE_VIEW: INVALID_PARAMETER,
  PREBAKE_ERR_INVALID_EVENT: BAD_REQUEST,
  PREBAKE_ERR_PAYLOAD_TOO_LARGE: service(413, 'RequestTooLargeException'),
  PREBAKE_ERR_URI_TOO_LONG: BAD_REQUEST,
  PREBAKE_ERR_HEADERS_TOO_LARGE: BAD_REQUEST,
  PREBAKE_ERR_REQUEST_TIMEOUT: BAD_REQUEST,
  PREBAKE_ERR_UNSUPPORTED_MEDIA_TYPE: service(415, 'UnsupportedMediaTypeException'),
  PREBAKE_ERR_UNAUTHORIZED: service(403, 'UnrecognizedClientException'),
  PREBAKE_ERR_PATH_NOT_ALLOWED: service(403, 'AccessDeniedException'),
  PREBAKE_ERR_NOT_FOUND: service(404, 'ResourceNotFoundException'),
  PREBAKE_ERR_UNKNOWN_FUNCTION: service(404, 'ResourceNotFoundException'),
  // Created, not built yet: Lambda's answer for a function in state Pending.
  PREBAKE_ERR_NOT_BUILT: CONFLICT,
  PREBAKE_ERR_IMAGE_STALE: CONFLICT,
  PREBAKE_ERR_IMAGE_CORRUPT: CANNOT_START,
  PREBAKE_ERR_FORK_UNSUPPORTED: INVALID_PARAMETER,
  PREBAKE_ERR_NAME_TAKEN: CONFLICT,
  PREBAKE_ERR_LOCKED: CONFLICT,
  PREBAKE_ERR_BUNDLE_CORRUPT: INVALID_PARAMETER,
  PREBAKE_ERR_ZIP_REFUSED: INVALID_PARAMETER,
  PREBAKE_ERR_BUNDLE_INCOMPATIBLE: INVALID_PARAMETER,
  PREBAKE_ERR_REGISTRY: SERVICE,
  // An init that fails at an invocation's plain start is the function's, as Lambda reports its init errors.
  PREBAKE_ERR_INIT_FAILED: fn('Runtime.InitError'),
  PREBAKE_ERR_INIT_TIMEOUT: fn('Sandbox.Timedout'),
  PREBAKE_ERR_WARMUP_FAILED: INVALID_PARAMETER,
  PREBAKE_ERR_CLONE_CHECK: INVALID_PARAMETER,
  // Lambda's SnapStart names for a restore hook that threw, and a restore that outlasted its limit.
  PREBAKE_ERR_HOOK_FAILED: service(400, 'SnapStartException'),
  PREBAKE_ERR_FUNCTION_ERROR: fn('Error'),
  PREBAKE_ERR_FUNCTION_EXITED: fn('Runtime.ExitError'),
  PREBAKE_ERR_RESULT_TOO_LARGE: fn('Function.ResponseSizeTooLarge'),
  PREBAKE_ERR_OUT_OF_MEMORY: fn('Runtime.OutOfMemory'),
  PREBAKE_ERR_TIMEOUT: fn('Sandbox.Timedout'),
  PREBAKE_ERR_OVERLOADED: service(429, 'TooManyRequestsException'),
  PREBAKE_ERR_CRIU_MISSING: SERVICE,
  PREBAKE_ERR_DUMP_FAILED: SERVICE,
  PREBAKE_ERR_RESTORE_FAILED: CANNOT_START,
  PREBAKE_ERR_CRIU_TIMEOUT: service(408, 'SnapStartTimeoutException'),
  PREBAKE_ERR_DUMP_INTERRUPTED: SERVICE,
  PREBAKE_ERR_RUNTIME_MISSING: service(502, 'InvalidRuntimeException'),
  PREBAKE_ERR_CGROUP: CANNOT_START,
  PREBAKE_ERR_NETWORK: CANNOT_START,
  PREBAKE_ERR_PIPE: CANNOT_START,
  PREBAKE_ERR_SPAWN: CANNOT_START,
  PREBAKE_ERR_RESEED: service(400, 'SnapStartException'),
  PREBAKE_ERR_PROTOCOL: fn('Runtime.InvalidResponse'),
  PREBAKE_ERR_CLIENT_GONE: BAD_REQUEST,
  PREBAKE_ERR_SHUTTING_DOWN: service(503, 'ServiceException'),
  PREBAKE_ERR_NOT_READY: service(503, 'ServiceException'),
  PREBAKE_ERR_INTERNAL: SERVICE,
};

/** Lambda's shape for `error`; a mapping's own `lambdaType` detail (set where the error is made) wins. */
export function lambdaShape(error: PrebakeError): LambdaShape {
  const shape = SHAPES[error.code];
  const named = error.details?.lambdaType;
  return typeof named === 'string' && shape.kind === 'service' ? { ...shape, type: named } : shape;
}

/** Lambda's body for a function error: the function's own error when it threw, else prebake's description. */
export function functionErrorBody(
  error: PrebakeError,
  shape: LambdaFunctionError,
): { errorMessage: string; errorType: string; stackTrace: string[] } {
  const thrown = error.functionError;
  if (thrown) {
    return { errorMessage: thrown.message, errorType: thrown.type, stackTrace: thrown.stack ? thrown.stack.split('\n') : [] };
  }
  return { errorMessage: error.message, errorType: shape.errorType, stackTrace: [] };
}
