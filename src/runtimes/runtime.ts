import type { FunctionSpec, RuntimeName } from '../manifest/schema.ts';
import type { Interpreter } from './interpreter.ts';

export type { Interpreter } from './interpreter.ts';

/**
 * The heap limit of a garbage-collected runtime (Node's --max-old-space-size, Java's -Xmx) in an instance of
 * `memoryMb`: three quarters of it, so that the runtime's own memory (code, threads, buffers) fits beside a full
 * heap and a heap that grows meets its runtime's error, not the cgroup's kill; at least 16 MB.
 */
export function heapLimitMb(memoryMb: number): number {
  return Math.max(16, Math.floor(memoryMb * 0.75));
}

/** The command line that starts a function instance (program first). */
export interface RuntimeCommand {
  argv: string[];
  env: Record<string, string>;
  /** Host paths besides the runtime, the function and prebake's shims that the command reads (read-only in the view). */
  readOnlyPaths?: string[];
}

/**
 * What prebake needs to know about one language. Each runtime's shim lives next to its adapter in
 * src/runtimes/<language>/ and speaks the protocol in docs/PROTOCOL.md.
 */
export interface RuntimeAdapter {
  readonly name: RuntimeName;
  /** Why `handler` is not a valid handler for this runtime, or undefined when it is. */
  checkHandler(handler: string): string | undefined;
  /** The files, relative to the function's directory, where the runtime may find `handler`'s code. */
  handlerFiles?(handler: string): string[];
  /**
   * Makes the function runnable (for example compiles Java sources) into `workDir`, a directory owned by
   * the image store that outlives the build, since restored instances may still read files from it.
   */
  prepare?(fn: FunctionSpec, workDir: string): Promise<void>;
  /**
   * What, besides the function's source, a prepared directory depends on (the shim's own sources, say):
   * a change makes prebake prepare again rather than reuse an old directory.
   */
  prepareKey?(fn: FunctionSpec): Promise<string>;
  /**
   * The runtime's command line, with `fn.interpreter` (else the runtime's default) as its program; `workDir`
   * is the one `prepare` filled.
   */
  command(fn: FunctionSpec, workDir: string): RuntimeCommand;
  /**
   * The interpreter `fn` names (else the runtime's default), resolved to a path, and its version: what a build
   * records and `prebake doctor` shows. Throws PREBAKE_ERR_RUNTIME_MISSING when it does not run.
   */
  interpreter(fn?: Pick<FunctionSpec, 'interpreter' | 'name'>): Promise<Interpreter>;
}
