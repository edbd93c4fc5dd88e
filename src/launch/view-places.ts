/** Where things are inside every instance's view. The host directories behind them move; these never do. */
export const VIEW = {
  /** The function's code, read-only (as Lambda's /var/task). */
  code: '/var/task',
  /** What the runtime prepared for it (compiled classes), read-only. */
  prepared: '/var/prepared',
  /** prebake's shims and native helpers, read-only. */
  runtime: '/var/runtime',
  /** Other files a command reads (RuntimeCommand.readOnlyPaths), read-only. */
  extra: '/var/extra',
  tmp: '/tmp',
  proc: '/proc',
} as const;
