// The functions the reconciler put in the home, with the reference and digest each runs: kept in a file so that
// a restarted daemon knows which names are its own to update or remove (never one registered over the API)
// and does not pull an unchanged digest again.
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface OwnedFunction {
  bundle: string;
  digest: string;
}

export class OwnedFunctions {
  private readonly file: string;
  private readonly entries = new Map<string, OwnedFunction>();
  private loaded = false;

  constructor(home: string) {
    this.file = path.join(home, 'declared.json');
  }

  async load(): Promise<void> {
    if (this.loaded) return;
    const text = await readFile(this.file, 'utf8').catch(() => '{}');
    let parsed: { functions?: Record<string, OwnedFunction> } = {};
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      // A torn file (a crash mid-write cannot make one: writes are renamed into place) owns nothing.
    }
    for (const [name, entry] of Object.entries(parsed.functions ?? {})) {
      if (typeof entry?.digest === 'string' && typeof entry.bundle === 'string') this.entries.set(name, entry);
    }
    this.loaded = true;
  }

  get(name: string): OwnedFunction | undefined {
    return this.entries.get(name);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  async set(name: string, entry: OwnedFunction): Promise<void> {
    this.entries.set(name, entry);
    await this.save();
  }

  async delete(name: string): Promise<void> {
    if (this.entries.delete(name)) await this.save();
  }

  private async save(): Promise<void> {
    const temp = `${this.file}.${process.pid}.tmp`;
    await writeFile(temp, `${JSON.stringify({ functions: Object.fromEntries(this.entries) }, null, 2)}\n`, { mode: 0o600 });
    await rename(temp, this.file);
  }
}
