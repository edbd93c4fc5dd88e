// What each invocation's function printed, kept in memory per function for the last `perFunction` invocations
// (GET /functions/:name/logs). Each entry keeps at most `maxBytes` of logs, the tail: a crash says why last.
import type { StartMode } from '../manifest/schema.ts';

export interface InvocationLogEntry {
  requestId: string;
  at: string;
  start?: StartMode;
  /** "ok", or the error code's tail in lower case ("function_error", "timeout"). */
  outcome: string;
  logs: string;
}

interface StoredEntry extends Omit<InvocationLogEntry, 'logs'> {
  // A one-shot instance's logs are complete only once it has ended, which may be after the response.
  logs: Promise<string>;
}

export class InvocationLogs {
  private readonly perFunction: number;
  private readonly maxBytes: number;
  private readonly byFunction = new Map<string, Map<string, StoredEntry>>();

  constructor(perFunction: number, maxBytes: number) {
    this.perFunction = perFunction;
    this.maxBytes = maxBytes;
  }

  add(functionName: string, entry: Omit<InvocationLogEntry, 'logs'>, logs: Promise<string>): void {
    if (this.perFunction === 0) return;
    let entries = this.byFunction.get(functionName);
    if (!entries) {
      entries = new Map();
      this.byFunction.set(functionName, entries);
    }
    entries.set(entry.requestId, {
      ...entry,
      logs: logs.then(
        (text) => this.tail(text),
        () => '',
      ),
    });
    // A Map iterates in insertion order: the first key is the oldest.
    while (entries.size > this.perFunction) entries.delete(entries.keys().next().value!);
  }

  async get(functionName: string, requestId: string): Promise<InvocationLogEntry | undefined> {
    const entry = this.byFunction.get(functionName)?.get(requestId);
    return entry && { ...entry, logs: await entry.logs };
  }

  /** The last `limit` entries, newest first. */
  async recent(functionName: string, limit: number): Promise<InvocationLogEntry[]> {
    const entries = [...(this.byFunction.get(functionName)?.values() ?? [])].slice(-limit).reverse();
    return Promise.all(entries.map(async (entry) => ({ ...entry, logs: await entry.logs })));
  }

  forget(functionName: string): void {
    this.byFunction.delete(functionName);
  }

  private tail(text: string): string {
    if (Buffer.byteLength(text) <= this.maxBytes) return text;
    const kept = Buffer.from(text).subarray(-this.maxBytes).toString('utf8');
    return `[prebake: earlier logs dropped, last ${this.maxBytes} bytes kept]\n${kept}`;
  }
}
