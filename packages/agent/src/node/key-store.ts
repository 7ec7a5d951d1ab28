import { readFile, rm } from 'node:fs/promises';
import { writeFileAtomic } from '../atomic-file.js';
import { isWgKey } from '../wg/keys.js';
import { KeyFileInvalid } from '../errors.js';
import type { KeyStore } from '../agent.js';

/**
 * The node's key on disk for a rotation: the next key is written (atomically, 0600) to
 * private.key.next before the interface switches to it, and renamed over private.key once the
 * bootstrap took it. A crash in between leaves both: the next start resumes the rotation with the
 * next key (announcing it again is accepted whether or not the bootstrap had it).
 */
export class FileKeyStore implements KeyStore {
  constructor(private readonly file: string) {}

  get pendingFile(): string {
    return `${this.file}.next`;
  }

  async savePending(privateKey: string): Promise<void> {
    await writeFileAtomic(this.pendingFile, privateKey + '\n', 0o600);
  }

  async commit(privateKey: string): Promise<void> {
    await writeFileAtomic(this.file, privateKey + '\n', 0o600);
    await rm(this.pendingFile, { force: true });
  }

  async discardPending(): Promise<void> {
    await rm(this.pendingFile, { force: true });
  }

  /** A rotation a crash interrupted: its next key, or undefined. */
  async pending(): Promise<string | undefined> {
    try {
      const key = (await readFile(this.pendingFile, 'utf8')).trim();
      if (!isWgKey(key)) throw new KeyFileInvalid(this.pendingFile);
      return key;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }
}
