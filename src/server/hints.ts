// What to do about an error, said in the HTTP API's words (its routes and parameters): the core says what
// happened and carries the facts (code, function, details.reason); this table turns them into requests to send.
// The CLI has its own (src/cli/hints.ts).
import { type PrebakeError, type SurfaceHints, surfaceHint } from '../errors.ts';

const nameOf = (error: PrebakeError): string => error.functionName ?? ':name';
const rebuild = (error: PrebakeError): string => `rebuild it: POST /functions/${nameOf(error)}/build`;
// An image whose metadata cannot be read cannot be rebuilt from it: the function is registered again.
const register = (error: PrebakeError): string =>
  `register it again: POST /functions {"path": ${JSON.stringify(typeof error.details?.dir === 'string' ? error.details.dir : '/abs/dir')}}`;

const HTTP_HINTS: SurfaceHints = {
  PREBAKE_ERR_UNKNOWN_FUNCTION: () => 'list functions with GET /functions; register one with POST /functions {"path": "/abs/dir"}',
  PREBAKE_ERR_NOT_BUILT: register,
  PREBAKE_ERR_IMAGE_STALE: rebuild,
  PREBAKE_ERR_IMAGE_CORRUPT: rebuild,
  // A host's failure (a full disk, criu killed) is not the image's: the core's hint says what to free.
  PREBAKE_ERR_RESTORE_FAILED: (error) =>
    error.details?.transient ? undefined : `${error.hint ?? 'the image may be at fault'}; ${rebuild(error)}`,
  PREBAKE_ERR_DUMP_FAILED: (error) => error.hint ?? "the end of criu's log is in the daemon's log",
  PREBAKE_ERR_INVALID_EVENT: () => `send the event as JSON, for example curl -d '{"name":"x"}'`,
  PREBAKE_ERR_NAME_TAKEN: () =>
    'give the function another "name" in its function.json, or replace the registered one with POST /functions?replace=true',
  PREBAKE_ERR_MANIFEST: (error) =>
    error.details?.reason === 'renamed' && error.functionName
      ? `register it under its new name (POST /functions), then remove "${error.functionName}" (DELETE /functions/${error.functionName})`
      : undefined,
  PREBAKE_ERR_BUNDLE_INCOMPATIBLE: () =>
    'build the function on this host instead, or import it with ?force=true to keep it marked for rebuild',
  PREBAKE_ERR_BUNDLE_CORRUPT: (error) =>
    `export it again (GET /functions/${nameOf(error)}/bundle), and check that nothing cut or rewrote it on the way`,
};

/** The hint the HTTP API returns for `error`. */
export function httpHint(error: PrebakeError): string | undefined {
  return surfaceHint(error, HTTP_HINTS);
}
