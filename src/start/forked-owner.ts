// The process prebake waits on for a forked child (src/start/fork-template.ts): the waiter the template forked,
// which reports the exit status of the child's function process on a pipe of its own and exits. prebake is not
// its parent (the template is), so the pipe is how the status reaches the controller.

import net from 'node:net';
import { constants } from 'node:os';
import type { OwnerProcess } from '../launch/owner.ts';

type Exit = { exitCode?: number; signal?: string };

const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, number]) => [number, name]));

/** "exit N" or "signal N", as the waiter writes it; nothing at all when the waiter was killed with its cgroup. */
export function parseChildStatus(text: string): Exit {
  const match = /^(exit|signal) (\d+)$/.exec(text.trim());
  if (!match) return { signal: 'SIGKILL' };
  const number = Number(match[2]);
  return match[1] === 'exit' ? { exitCode: number } : { signal: SIGNAL_NAMES.get(number) ?? `signal ${number}` };
}

export class ForkedOwner implements OwnerProcess {
  readonly pid: number;
  readonly spawnargs: string[];
  exitCode: number | null = null;
  private readonly exited: Promise<Exit>;

  /** `statusFd`: the controller's end of the status pipe (owned from here on); `pid`: the waiter's host pid. */
  constructor(statusFd: number, pid: number, templatePid: number) {
    this.pid = pid;
    this.spawnargs = [`fork of ${templatePid}`];
    const socket = new net.Socket({ fd: statusFd, readable: true, writable: false });
    let text = '';
    this.exited = new Promise((resolve) => {
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      socket.on('error', () => socket.destroy());
      socket.once('close', () => {
        const exit = parseChildStatus(text);
        this.exitCode = exit.exitCode ?? null;
        resolve(exit);
      });
    });
  }

  // biome-ignore lint/suspicious/noThenProperty: awaitable by design, as execa's child is
  then<T1 = Exit, T2 = never>(
    onFulfilled?: ((value: Exit) => T1 | PromiseLike<T1>) | null,
    onRejected?: ((reason: unknown) => T2 | PromiseLike<T2>) | null,
  ): PromiseLike<T1 | T2> {
    return this.exited.then(onFulfilled, onRejected);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}
