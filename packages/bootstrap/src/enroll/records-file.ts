import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '@wgmesh/agent/atomic-file';
import { StateFileError } from '../errors.js';

/**
 * A list of records in one JSON file of the bootstrap's state dir, `{"version": 1, "<field>": [...]}`
 * (0600): every change is a read-modify-write, one at a time, written atomically. Tokens and issued
 * certificates are kept this way with the file store.
 */
export class RecordsFile<T> {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly file: string, private readonly field: string, private readonly what: string) {}

  /** Runs `change` on the records as they are on disk; what it returns as `write` replaces them. */
  change<R>(change: (records: T[]) => { write?: readonly T[]; result: R }): Promise<R> {
    const run = this.queue.then(async () => {
      const { write, result } = change(await this.read());
      if (write) await writeFileAtomic(this.file, JSON.stringify({ version: 1, [this.field]: write }, null, 1) + '\n', 0o600);
      return result;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async read(): Promise<T[]> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    let parsed: { version?: unknown } & Record<string, unknown>;
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      throw new StateFileError(this.file, 'it is not JSON');
    }
    const records = parsed?.[this.field];
    if (parsed?.version !== 1 || !Array.isArray(records)) throw new StateFileError(this.file, `it is not a ${this.what} (version 1)`);
    return records as T[];
  }
}
