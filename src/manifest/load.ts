import { stat } from 'node:fs/promises';
import path from 'node:path';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { PrebakeError } from '../errors.ts';
import { FileReadError, readRegularFile } from '../files/regular-file.ts';
import { schemaProblem } from '../validate.ts';
import { handlerProblem } from './handler.ts';
import {
  DEFAULT_MAX_PROCESSES,
  DEFAULT_MEMORY_MB,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_TMP_MB,
  FUNCTION_NAME_PATTERN,
  type FunctionSpec,
  type Manifest,
  ManifestSchema,
  poolSettingsProblem,
} from './schema.ts';

export const MANIFEST_FILE = 'function.json';
/** The largest function.json read: a manifest is a few hundred bytes; its env leaves room, within exec's limits. */
export const MAX_MANIFEST_BYTES = 64 * 1024;
const checkManifest = TypeCompiler.Compile(ManifestSchema);

/** Reads and validates `<dir>/function.json`. Every problem names the file and the field. */
export async function loadFunction(dir: string): Promise<FunctionSpec> {
  const absDir = path.resolve(dir);
  const file = path.join(absDir, MANIFEST_FILE);
  const fail = (message: string, cause?: unknown): PrebakeError =>
    new PrebakeError('PREBAKE_ERR_MANIFEST', `${file}: ${message}`, {
      cause,
      hint: 'see "Function format" in the README',
    });

  const dirStat = await stat(absDir).catch(() => undefined);
  if (!dirStat?.isDirectory()) {
    throw new PrebakeError('PREBAKE_ERR_MANIFEST', `${absDir} is not a directory`, {
      hint: 'give the path of a function directory that holds a function.json',
    });
  }
  let text: string;
  try {
    text = (await readRegularFile(file, MAX_MANIFEST_BYTES)).toString('utf8');
  } catch (error) {
    if (error instanceof FileReadError && error.reason !== 'unreadable') throw fail(error.message);
    throw fail('cannot read it (a function directory needs a function.json)', error);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    // Never V8's message: it quotes the text, and function.json may be a link to a file the caller cannot read.
    throw fail(`not valid JSON${jsonErrorPosition(error)}`);
  }
  return specFromManifest(raw, absDir, fail);
}

// The warm-up event is serialised to be sent (JSON.stringify recurses: 20,000 levels overflowed its stack and
// came out as a 500) and parsed by the shims (Python's json recurses too, to about 1,000 levels).
export const MAX_WARMUP_EVENT_DEPTH = 256;

/** Whether `value` nests arrays and objects more than `limit` deep; iterative, so any depth is safe to ask about. */
function nestedDeeperThan(value: unknown, limit: number): boolean {
  const pending: Array<[unknown, number]> = [[value, 0]];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [item, depth] = next;
    if (typeof item !== 'object' || item === null) continue;
    if (depth + 1 > limit) return true;
    for (const child of Object.values(item)) pending.push([child, depth + 1]);
  }
  return false;
}

/** " at line L column C" from a JSON.parse error, when it says; never any of the text. */
function jsonErrorPosition(error: unknown): string {
  const match = /\(line (\d+) column (\d+)\)/.exec(error instanceof Error ? error.message : '');
  return match ? ` (line ${match[1]}, column ${match[2]})` : '';
}

function specFromManifest(raw: unknown, dir: string, fail: (message: string) => PrebakeError): FunctionSpec {
  const problem = schemaProblem(checkManifest, raw, 'the manifest');
  if (problem) throw fail(problem);
  const manifest = raw as Manifest;
  const poolProblem = poolSettingsProblem(manifest.pool, 'pool');
  if (poolProblem) throw fail(poolProblem);
  if (nestedDeeperThan(manifest.warmup?.event, MAX_WARMUP_EVENT_DEPTH)) {
    throw fail(`field "warmup.event": nested deeper than ${MAX_WARMUP_EVENT_DEPTH} levels`);
  }
  const name = manifest.name ?? path.basename(dir);
  if (!new RegExp(FUNCTION_NAME_PATTERN).test(name)) {
    throw fail(
      `the function name "${name}" (from the directory's name) is not valid: use lower-case letters, digits, ".", "_" and "-", not ending in ".lock"; or set "name"`,
    );
  }
  const handlerIssue = handlerProblem(manifest.runtime, manifest.handler);
  if (handlerIssue) throw fail(`field "handler": ${handlerIssue}`);
  if (manifest.startMode === 'fork' && manifest.runtime !== 'python') {
    throw fail(`field "startMode": "fork" is for Python functions only (a fork copies one thread, and ${manifest.runtime} runs several)`);
  }
  return {
    name,
    dir,
    runtime: manifest.runtime,
    handler: manifest.handler,
    warmup: { invocations: manifest.warmup?.invocations ?? 0, event: manifest.warmup?.event ?? {} },
    timeoutMs: manifest.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    memoryMb: manifest.memoryMb ?? DEFAULT_MEMORY_MB,
    maxProcesses: manifest.maxProcesses ?? DEFAULT_MAX_PROCESSES,
    ...(manifest.cpus !== undefined && { cpus: manifest.cpus }),
    env: manifest.env ?? {},
    ...(manifest.cloneCheck !== undefined && { cloneCheck: manifest.cloneCheck }),
    tmpMb: manifest.tmpMb ?? DEFAULT_TMP_MB,
    network: manifest.network ?? 'outbound',
    ...(manifest.allowUserNamespaces && { allowUserNamespaces: true }),
    ...(manifest.readOnlyPaths?.length && { readOnlyPaths: manifest.readOnlyPaths.map((file) => path.normalize(file)) }),
    ...(manifest.interpreter && {
      interpreter: manifest.interpreter.includes('/') ? path.resolve(dir, manifest.interpreter) : manifest.interpreter,
    }),
    ...(manifest.startMode && { startMode: manifest.startMode }),
    ...(manifest.warm && { warm: manifest.warm }),
    ...(manifest.pool && { pool: manifest.pool }),
  };
}
