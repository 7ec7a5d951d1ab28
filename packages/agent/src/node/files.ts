import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateKeyPair, isWgKey } from '../wg/keys.js';
import { KeyFileInvalid } from '../errors.js';

/** The WireGuard interface of a mesh: wg<MESH>. */
export function interfaceName(mesh: string): string {
  return `wg${mesh}`;
}

/** What a node keeps in <state-dir>/<mesh>/, one place for the names. */
export function nodeFiles(stateDir: string, mesh: string): { dir: string; key: string; bootstrapState: string; agentState: string } {
  const dir = path.join(stateDir, mesh);
  return { dir, key: path.join(dir, 'private.key'), bootstrapState: path.join(dir, 'bootstrap.json'), agentState: path.join(dir, 'agent.json') };
}

/** The node's WireGuard private key, made once and kept (0600) in the state dir; a bad key file is refused (KeyFileInvalid), never overwritten. */
export async function loadOrCreateKey(stateDir: string, mesh: string): Promise<string> {
  const { dir, key: file } = nodeFiles(stateDir, mesh);
  try {
    const key = (await readFile(file, 'utf8')).trim();
    if (!isWgKey(key)) throw new KeyFileInvalid(file);
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPair();
  await writeFile(file, privateKey + '\n', { mode: 0o600 });
  await chmod(file, 0o600);
  return privateKey;
}
