// The instances one owner (a Host, the daemon's or one CLI command's) has alive: so that it can count them, and
// kill them at once when its process exits. Every Instance joins the registry it is given when it is made and
// leaves it when its end is complete; the owner decides when killNow runs (the CLI's entry point installs it
// as an exit hook, src/cli/main.ts).

/** What the registry needs of an instance (instance.ts's Instance): a synchronous last-resort kill. */
export interface RegisteredInstance {
  killNow(): void;
}

export class InstanceRegistry {
  private readonly live = new Set<RegisteredInstance>();

  /** Instances made and not yet completely ended (their end kills, reaps and drains). */
  get count(): number {
    return this.live.size;
  }

  add(instance: RegisteredInstance): void {
    this.live.add(instance);
  }

  delete(instance: RegisteredInstance): void {
    this.live.delete(instance);
  }

  /** Synchronous last resort, for a process that exits: kills every instance still alive. */
  killNow(): void {
    for (const instance of this.live) instance.killNow();
  }

  /** Calls killNow when this process exits, however it exits; returns a function that stops it. */
  killOnExit(): () => void {
    const hook = () => this.killNow();
    process.once('exit', hook);
    return () => process.off('exit', hook);
  }
}
