import { closeSync, fchownSync, fstatSync } from 'node:fs';
import { loadNativeAddon } from './native.ts';

interface PipeAddon {
  pipe(): [number, number];
}

function loadAddon(): PipeAddon {
  return loadNativeAddon<PipeAddon>('pipe');
}

export interface Pipe {
  read: number;
  write: number;
}

/** The four pipes between the controller and one instance (docs/PROTOCOL.md). */
export interface InstancePipes {
  controlIn: Pipe;
  controlOut: Pipe;
  stdout: Pipe;
  stderr: Pipe;
}

/** Pipe inodes as recorded in an image: restore plugs a fresh pipe in for each. */
export type PipeInodes = Record<keyof InstancePipes, number>;

export const PIPE_NAMES = ['controlIn', 'controlOut', 'stdout', 'stderr'] as const satisfies readonly (keyof InstancePipes)[];

export function createPipe(): Pipe {
  const [read, write] = loadAddon().pipe();
  return { read, write };
}

/** The four pipes of an instance that runs as host uid and gid `hostId` (sandbox-plan.ts instanceHostId). */
export function createInstancePipes(hostId: number): InstancePipes {
  const made: Pipe[] = [];
  try {
    for (let i = 0; i < PIPE_NAMES.length; i++) made.push(createPipe());
  } catch (error) {
    for (const pipe of made) closePipe(pipe);
    throw error;
  }
  // The instance's own: a runtime that reopens one by its /proc/self/fd link (the Java shim, /dev/stdout)
  // passes the permission check only as the pipe's owner.
  for (const pipe of made) fchownSync(pipe.read, hostId, hostId);
  const [controlIn, controlOut, stdout, stderr] = made as [Pipe, Pipe, Pipe, Pipe];
  return { controlIn, controlOut, stdout, stderr };
}

/** The ends the instance holds, in the order of its fds 3, 4, 1, 2 (as criu's fds 3..6 at restore). */
export function instanceEnds(pipes: InstancePipes): Record<keyof InstancePipes, number> {
  return {
    controlIn: pipes.controlIn.read,
    controlOut: pipes.controlOut.write,
    stdout: pipes.stdout.write,
    stderr: pipes.stderr.write,
  };
}

/** Closes the controller's copies of the instance's ends, once a child holds them. */
export function closeInstanceEnds(pipes: InstancePipes): void {
  for (const fd of Object.values(instanceEnds(pipes))) closeQuietly(fd);
}

/** Closes the controller's ends, when no instance came to own them (a start that failed). */
export function closeControllerEnds(pipes: InstancePipes): void {
  for (const fd of [pipes.controlIn.write, pipes.controlOut.read, pipes.stdout.read, pipes.stderr.read]) closeQuietly(fd);
}

export function pipeInodes(pipes: InstancePipes): PipeInodes {
  return {
    controlIn: fstatSync(pipes.controlIn.write).ino,
    controlOut: fstatSync(pipes.controlOut.read).ino,
    stdout: fstatSync(pipes.stdout.read).ino,
    stderr: fstatSync(pipes.stderr.read).ino,
  };
}

export function closePipe(pipe: Pipe): void {
  closeQuietly(pipe.read);
  closeQuietly(pipe.write);
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
