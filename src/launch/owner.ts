// The process prebake waits on for an instance: its exit means the instance is gone. Launching makes it
// (unshare, or criu restoring in the foreground); the instance only watches and ends it.

/** An execa subprocess, or a SpawnedProcess (spawn.ts). */
export interface OwnerProcess extends PromiseLike<{ exitCode?: number; signal?: string }> {
  readonly pid?: number;
  readonly exitCode: number | null;
  readonly spawnargs: string[];
  kill(signal?: NodeJS.Signals): boolean;
}
