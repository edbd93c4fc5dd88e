// Every error prebake reports is declared here once: a stable code, what it means for the CLI (exit code) and
// for HTTP (status). Users and tests match on `code`, never on the wording. Retired codes are never reused.
// docs/ERRORS.md lists them.

export const ERROR_CODES = {
  PREBAKE_ERR_MANIFEST: { exit: 2, status: 400, summary: 'function.json is missing or invalid' },
  PREBAKE_ERR_INVALID_INPUT: { exit: 2, status: 400, summary: 'a command argument or request is invalid' },
  PREBAKE_ERR_OUTSIDE_VIEW: {
    exit: 2,
    status: 400,
    summary: "a path the function names (a symbolic link, an env setting) is outside its instances' view",
  },
  PREBAKE_ERR_INVALID_EVENT: { exit: 2, status: 400, summary: 'the event is not valid JSON' },
  PREBAKE_ERR_PAYLOAD_TOO_LARGE: { exit: 2, status: 413, summary: 'the event is over the size limit' },
  PREBAKE_ERR_URI_TOO_LONG: { exit: 2, status: 414, summary: 'a path segment of the request is too long' },
  PREBAKE_ERR_HEADERS_TOO_LARGE: { exit: 2, status: 431, summary: "the request's headers are over Node's size limit" },
  PREBAKE_ERR_REQUEST_TIMEOUT: { exit: 2, status: 408, summary: 'the client did not send its headers or its whole request in time' },
  PREBAKE_ERR_UNSUPPORTED_MEDIA_TYPE: { exit: 2, status: 415, summary: 'the request body has a content type the route does not take' },
  PREBAKE_ERR_UNAUTHORIZED: { exit: 2, status: 401, summary: 'the request has no valid API token (Authorization: Bearer <token>)' },
  PREBAKE_ERR_PATH_NOT_ALLOWED: {
    exit: 2,
    status: 403,
    summary: "the function's directory lies outside every functions root the daemon accepts",
  },
  PREBAKE_ERR_NOT_FOUND: { exit: 3, status: 404, summary: 'no such route, or no such record (for example logs of a request)' },
  PREBAKE_ERR_UNKNOWN_FUNCTION: { exit: 3, status: 404, summary: 'no function by that name' },
  PREBAKE_ERR_NOT_BUILT: { exit: 3, status: 409, summary: 'the function has no image yet' },
  PREBAKE_ERR_IMAGE_STALE: {
    exit: 3,
    status: 409,
    summary: "invoked by its directory, the function's source changed since its image was built (by name, the build runs)",
  },
  PREBAKE_ERR_IMAGE_CORRUPT: {
    exit: 3,
    status: 502,
    summary: "the function's image is not as built (a file changed, missing or added): never restored",
  },
  PREBAKE_ERR_FORK_UNSUPPORTED: {
    exit: 2,
    status: 400,
    summary: 'fork mode was asked for a function that cannot be forked: not Python, or more than one thread at the snapshot',
  },
  PREBAKE_ERR_NAME_TAKEN: { exit: 4, status: 409, summary: 'another directory is registered under that function name' },
  PREBAKE_ERR_LOCKED: { exit: 4, status: 409, summary: 'another build or removal of the function is under way' },
  PREBAKE_ERR_BUNDLE_CORRUPT: { exit: 2, status: 400, summary: 'a bundle is damaged, truncated or not a prebake bundle' },
  PREBAKE_ERR_ZIP_REFUSED: {
    exit: 2,
    status: 400,
    summary: 'a deployment package (zip) is damaged, too big, or holds what a function may not',
  },
  PREBAKE_ERR_BUNDLE_INCOMPATIBLE: {
    exit: 3,
    status: 409,
    summary: 'a bundle was made on a host this one cannot restore (criu, kernel, CPU or runtime differ)',
  },
  PREBAKE_ERR_REGISTRY: { exit: 9, status: 502, summary: 'an OCI registry refused a request or could not be reached' },
  PREBAKE_ERR_INIT_FAILED: { exit: 5, status: 422, summary: "the function's init threw or the runtime exited" },
  PREBAKE_ERR_INIT_TIMEOUT: { exit: 5, status: 422, summary: "the function's init did not finish in time" },
  PREBAKE_ERR_WARMUP_FAILED: { exit: 5, status: 422, summary: 'a warm-up invocation failed' },
  PREBAKE_ERR_CLONE_CHECK: {
    exit: 5,
    status: 422,
    summary: "the build's clone-uniqueness check found state that clones share, or could not run (build --strict)",
  },
  PREBAKE_ERR_HOOK_FAILED: { exit: 5, status: 500, summary: 'a before-checkpoint or after-restore hook threw' },
  PREBAKE_ERR_FUNCTION_ERROR: { exit: 6, status: 500, summary: 'the handler threw' },
  PREBAKE_ERR_FUNCTION_EXITED: { exit: 6, status: 502, summary: 'the function process exited during an invocation' },
  PREBAKE_ERR_RESULT_TOO_LARGE: { exit: 6, status: 502, summary: "the handler's result is over the size limit" },
  PREBAKE_ERR_OUT_OF_MEMORY: { exit: 6, status: 502, summary: 'the instance went over memoryMb and the kernel ended it' },
  PREBAKE_ERR_TIMEOUT: { exit: 7, status: 504, summary: 'the invocation did not finish in time' },
  PREBAKE_ERR_OVERLOADED: { exit: 8, status: 429, summary: 'too many invocations or builds in flight' },
  PREBAKE_ERR_CRIU_MISSING: { exit: 9, status: 500, summary: 'no usable criu (>= 4.1) was found' },
  PREBAKE_ERR_DUMP_FAILED: { exit: 9, status: 422, summary: 'criu dump failed' },
  PREBAKE_ERR_RESTORE_FAILED: { exit: 9, status: 502, summary: 'criu restore failed' },
  PREBAKE_ERR_CRIU_TIMEOUT: {
    exit: 9,
    status: 500,
    summary: 'criu (check, dump or restore) did not finish within its deadline and was killed',
  },
  PREBAKE_ERR_DUMP_INTERRUPTED: {
    exit: 9,
    status: 500,
    summary: "criu dump was killed by a signal, or the host ran out of disk or memory: not the function's fault",
  },
  PREBAKE_ERR_RUNTIME_MISSING: { exit: 9, status: 500, summary: "the function's runtime is not installed" },
  PREBAKE_ERR_CGROUP: { exit: 9, status: 500, summary: "the instance's cgroup could not be set up or ended" },
  PREBAKE_ERR_NETWORK: {
    exit: 9,
    status: 500,
    summary: 'the "outbound" network could not be attached to an instance (slirp4netns missing or failing)',
  },
  PREBAKE_ERR_PIPE: { exit: 9, status: 500, summary: 'the kernel refused a pipe for an instance (out of file descriptors?)' },
  PREBAKE_ERR_SPAWN: { exit: 9, status: 500, summary: 'a process (launcher, criu) could not be started' },
  PREBAKE_ERR_RESEED: { exit: 9, status: 500, summary: "a restored Node clone could not reseed OpenSSL's generator" },
  PREBAKE_ERR_PROTOCOL: { exit: 9, status: 502, summary: 'the instance broke the wire protocol' },
  PREBAKE_ERR_CLIENT_GONE: { exit: 10, status: 499, summary: 'the client went away while its request waited for a slot' },
  PREBAKE_ERR_SHUTTING_DOWN: { exit: 10, status: 503, summary: 'the daemon is shutting down' },
  PREBAKE_ERR_NOT_READY: { exit: 10, status: 503, summary: 'the daemon has not yet brought in the functions its config declares' },
  PREBAKE_ERR_INTERNAL: { exit: 1, status: 500, summary: 'a bug in prebake' },
} as const satisfies Record<string, { exit: number; status: number; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** What a function reported when it threw: its error class name, message and stack. */
export interface FunctionErrorInfo {
  type: string;
  message: string;
  stack?: string;
}

export interface PrebakeErrorOptions {
  /** What the user can do about it. */
  hint?: string;
  cause?: unknown;
  /** The function the error is about. */
  functionName?: string;
  /** The function's own error, for errors that come from the function. */
  functionError?: FunctionErrorInfo;
  /** Extra facts for logs and API responses: a criu command, its exit code, the tail of its log. */
  details?: Record<string, unknown>;
}

export class PrebakeError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  readonly functionName?: string;
  readonly functionError?: FunctionErrorInfo;
  readonly details?: Record<string, unknown>;
  /** What the function printed before the failure, where there was a function to print. */
  logs?: string;

  constructor(code: ErrorCode, message: string, options: PrebakeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PrebakeError';
    this.code = code;
    this.hint = options.hint;
    this.functionName = options.functionName;
    this.functionError = options.functionError;
    this.details = options.details;
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exit;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].status;
  }

  /** The error as the HTTP API shows it, with `hint` (by default the core's) in place of the core's hint. */
  toJSON(hint = this.hint): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(hint && { hint }),
      ...(this.functionName && { function: this.functionName }),
      ...(this.functionError && { functionError: this.functionError }),
    };
  }
}

/**
 * Wraps anything thrown into a PrebakeError, keeping a PrebakeError as it is. The native addons (native/*.c)
 * throw plain errors whose `code` is one declared here: they keep it.
 */
export function toPrebakeError(error: unknown): PrebakeError {
  if (error instanceof PrebakeError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && code !== 'PREBAKE_ERR_INTERNAL' && Object.hasOwn(ERROR_CODES, code)) {
    return new PrebakeError(code as ErrorCode, message, { cause: error });
  }
  return new PrebakeError('PREBAKE_ERR_INTERNAL', `unexpected error: ${message}`, {
    cause: error,
    hint: 'this is a bug in prebake; please report it with the command you ran',
  });
}

/**
 * A surface's how-to (the CLI's commands, the HTTP API's routes), by code: the core's errors say what happened
 * in words no surface owns, and each surface says what to do in its own. An entry returns undefined to keep the
 * core's hint.
 */
export type SurfaceHints = Partial<Record<ErrorCode, (error: PrebakeError) => string | undefined>>;

/** The hint `error` gets on the surface whose table is `hints`. */
export function surfaceHint(error: PrebakeError, hints: SurfaceHints): string | undefined {
  return hints[error.code]?.(error) ?? error.hint;
}

export function isPrebakeError(error: unknown, code?: ErrorCode): error is PrebakeError {
  return error instanceof PrebakeError && (code === undefined || error.code === code);
}
