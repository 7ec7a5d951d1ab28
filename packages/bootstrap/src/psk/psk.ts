import { createHmac, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../errors.js';

/**
 * Per-pair preshared keys (bootstrap -psk). The bootstrap keeps one random 32-byte secret per
 * mesh; the key of a pair of nodes is HMAC-SHA256(secret, "wgmesh psk v1" | the two public keys
 * sorted). So both ends get the same key without the bootstrap storing N² of them, bootstraps
 * sharing the secret (etcd) answer the same, and a pair's key changes when either end's
 * WireGuard key rotates. The keys go only to the two nodes of a pair, over Mesh.PresharedKeys:
 * never into membership, Watch, logs or state files.
 */

export const PSK_SECRET_BYTES = 32;
const LABEL = 'wgmesh psk v1';

/** Pure: the preshared key (base64 of 32 bytes) of the pair of nodes with these public keys; the order does not matter. */
export function derivePresharedKey(secret: Uint8Array, publicKeyA: string, publicKeyB: string): string {
  if (secret.length !== PSK_SECRET_BYTES) throw new ConfigError(`the preshared-key secret must be ${PSK_SECRET_BYTES} bytes, not ${secret.length}`);
  const [first, second] = [publicKeyA, publicKeyB].sort();
  // NUL-separated: base64 keys never contain one, so no two pairs give the same input.
  return createHmac('sha256', secret).update(`${LABEL}\0${first}\0${second}`).digest('base64');
}

/** A new random secret, base64. */
export function newPskSecret(): string {
  return randomBytes(PSK_SECRET_BYTES).toString('base64');
}

/** Decodes a stored secret; ConfigError (saying where it came from) unless it is base64 of 32 bytes. */
export function decodePskSecret(text: string, where: string): Buffer {
  const trimmed = text.trim();
  const bytes = Buffer.from(trimmed, 'base64');
  if (bytes.length !== PSK_SECRET_BYTES || bytes.toString('base64') !== trimmed) {
    throw new ConfigError(`${where} does not hold a preshared-key secret (base64 of ${PSK_SECRET_BYTES} bytes); restore it from a backup, or remove it to give every pair new keys`);
  }
  return bytes;
}

/** The file next to bootstrap.json that keeps the mesh's secret (file store). */
export function pskSecretFile(bootstrapStateFile: string): string {
  return path.join(path.dirname(bootstrapStateFile), 'psk-secret');
}

/** The secret in `file`, or undefined when there is none (a bad file is refused). */
export async function readPskSecretFile(file: string): Promise<Buffer | undefined> {
  try {
    return decodePskSecret(await readFile(file, 'utf8'), file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Reads the secret from `file`, or makes one and keeps it there (0600); a bad file is refused, never overwritten. */
export async function loadOrCreatePskSecretFile(file: string): Promise<Buffer> {
  try {
    return decodePskSecret(await readFile(file, 'utf8'), file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const secret = newPskSecret();
  // 'wx': a file made meanwhile by someone else is not replaced (then it is read instead).
  try {
    await writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return decodePskSecret(await readFile(file, 'utf8'), file);
  }
  await chmod(file, 0o600);
  return Buffer.from(secret, 'base64');
}

/** Where a bootstrap gets pair keys: the mesh's secret, loaded once. */
export interface PresharedKeySource {
  /** The key of the pair of nodes with these public keys. */
  keyFor(publicKeyA: string, publicKeyB: string): string;
}

export function presharedKeySource(secret: Uint8Array): PresharedKeySource {
  const copy = Buffer.from(secret);
  derivePresharedKey(copy, '', ''); // refuses a secret of the wrong size now, not at the first call
  return { keyFor: (a, b) => derivePresharedKey(copy, a, b) };
}
