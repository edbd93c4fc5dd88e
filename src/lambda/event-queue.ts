// Lambda's asynchronous invocations (X-Amz-Invocation-Type: Event): accepted at once (202), then run in the
// background a few at a time. The queue is bounded: a full one refuses (429), so a flood of events costs memory
// in proportion to the limit, not to the flood. A failure is the function's: logged and counted, not retried.
import { PrebakeError } from '../errors.ts';

export interface EventJob {
  functionName: string;
  requestId: string;
  run: () => Promise<unknown>;
}

export interface EventQueueOptions {
  maxQueued: number;
  maxConcurrent: number;
  /** Told of each job's end: undefined on success, else what it threw. */
  done: (job: EventJob, error: unknown) => void;
}

export class EventQueue {
  private readonly waiting: EventJob[] = [];
  private running = 0;
  private readonly idle = new Set<() => void>();

  private readonly options: EventQueueOptions;

  constructor(options: EventQueueOptions) {
    this.options = options;
  }

  get queued(): number {
    return this.waiting.length;
  }

  get active(): number {
    return this.running;
  }

  /** Queues `job`, or throws PREBAKE_ERR_OVERLOADED when the queue is full. */
  push(job: EventJob): void {
    if (this.waiting.length >= this.options.maxQueued && this.running >= this.options.maxConcurrent) {
      throw new PrebakeError('PREBAKE_ERR_OVERLOADED', `the queue of Event invocations is full (${this.options.maxQueued} waiting)`, {
        functionName: job.functionName,
        hint: 'retry later, or raise lambda.eventQueue.maxQueued in the daemon config',
        details: { retryAfterSec: 1 },
      });
    }
    this.waiting.push(job);
    this.next();
  }

  /** Resolves once nothing is queued or running (a shutdown waits for it before ending instances). */
  drained(): Promise<void> {
    if (this.running === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.add(resolve));
  }

  private next(): void {
    while (this.running < this.options.maxConcurrent && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      this.running += 1;
      job.run().then(
        () => this.finish(job, undefined),
        (error: unknown) => this.finish(job, error),
      );
    }
  }

  private finish(job: EventJob, error: unknown): void {
    this.running -= 1;
    this.options.done(job, error);
    this.next();
    if (this.running === 0 && this.waiting.length === 0) {
      for (const resolve of this.idle) resolve();
      this.idle.clear();
    }
  }
}
