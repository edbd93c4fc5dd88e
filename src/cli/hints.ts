// What to do about an error, said in the CLI's words (its commands and flags): the core says what happened and
// carries the facts (code, function, details.dir, details.reason); this table turns them into commands to run.
// The HTTP API has its own (src/server/hints.ts).
import { type PrebakeError, type SurfaceHints, surfaceHint } from '../errors.ts';

// The function's directory as the error knows it, else a placeholder a reader fills in.
const dirOf = (error: PrebakeError): string => (typeof error.details?.dir === 'string' ? error.details.dir : '<its directory>');
const rebuild = (error: PrebakeError): string => `rebuild it: prebake build ${dirOf(error)}`;

const CLI_HINTS: SurfaceHints = {
  PREBAKE_ERR_UNKNOWN_FUNCTION: () => 'list built functions with `prebake ls`, or build one with `prebake build <dir>`',
  PREBAKE_ERR_NOT_BUILT: (error) =>
    error.details?.reason === 'no-image' ? `build it first (prebake build ${dirOf(error)}), or use --mode cold` : rebuild(error),
  PREBAKE_ERR_IMAGE_STALE: (error) =>
    String(error.details?.reason).startsWith('source-') && error.functionName
      ? `${rebuild(error)}, or invoke the built version by its name (prebake invoke ${error.functionName})`
      : rebuild(error),
  PREBAKE_ERR_IMAGE_CORRUPT: rebuild,
  // A host's failure (a full disk, criu killed) is not the image's: the core's hint says what to free.
  PREBAKE_ERR_RESTORE_FAILED: (error) =>
    error.details?.transient ? undefined : `${error.hint ?? 'the image may be at fault'}; ${rebuild(error)}`,
  PREBAKE_ERR_DUMP_FAILED: (error) =>
    error.hint ?? "run with --verbose for the end of criu's log; `prebake doctor` checks criu and the kernel",
  PREBAKE_ERR_NAME_TAKEN: () =>
    'give the function another "name" in its function.json, or replace the registered one with prebake build --replace',
  PREBAKE_ERR_CLONE_CHECK: () => 'or build without --strict to publish the image with a warning',
  PREBAKE_ERR_BUNDLE_INCOMPATIBLE: () => 'build the function on this host instead, or import with --force to keep it marked for rebuild',
  PREBAKE_ERR_BUNDLE_CORRUPT: () => 'export it again (prebake export), and check that nothing cut or rewrote it on the way',
  PREBAKE_ERR_REGISTRY: (error) =>
    error.details?.login === 'missing'
      ? `${error.hint}: pass it with --credentials FILE, or log in with \`docker login ${error.details.registry}\` (prebake reads docker's config.json)`
      : undefined,
  PREBAKE_ERR_CGROUP: (error) => `${error.hint ?? 'cgroups are how prebake limits and ends instances'}; \`prebake doctor\` checks them`,
};

/** The hint the CLI prints for `error`. */
export function cliHint(error: PrebakeError): string | undefined {
  return surfaceHint(error, CLI_HINTS);
}
