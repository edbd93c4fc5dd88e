// Invocations under way by function, so that a function leaving the daemon can wait for its last answer.
export class InFlight {
  private readonly counts = new Map<string, number>();
  private readonly waiters = new Map<string, (() => void)[]>();

  enter(name: string): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
  }

  leave(name: string): void {
    const left = (this.counts.get(name) ?? 1) - 1;
    if (left > 0) {
      this.counts.set(name, left);
      return;
    }
    this.counts.delete(name);
    for (const wake of this.waiters.get(name) ?? []) wake();
    this.waiters.delete(name);
  }

  count(name: string): number {
    return this.counts.get(name) ?? 0;
  }

  /** Resolves once no invocation of `name` is under way. */
  drained(name: string): Promise<void> {
    if (this.count(name) === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const waiting = this.waiters.get(name) ?? [];
      waiting.push(resolve);
      this.waiters.set(name, waiting);
    });
  }
}
