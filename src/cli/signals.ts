// A signal must still run the exit hook that ends this process's function instances (installed by src/cli/main.ts),
// so every command exits on SIGINT, SIGTERM and SIGHUP, except one that takes the signals over (serve drains).
const EXIT_CODES = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const;
type HandledSignal = keyof typeof EXIT_CODES;

const handlers = new Map<HandledSignal, () => void>();

export function exitOnSignals(): void {
  for (const signal of Object.keys(EXIT_CODES) as HandledSignal[]) {
    const handler = () => process.exit(EXIT_CODES[signal]);
    handlers.set(signal, handler);
    process.once(signal, handler);
  }
}

/** Stops exiting at once on `signals`: the caller handles them. Other listeners (signal-exit's) stay. */
export function takeOverSignals(signals: HandledSignal[]): void {
  for (const signal of signals) {
    const handler = handlers.get(signal);
    if (handler) process.off(signal, handler);
    handlers.delete(signal);
  }
}
