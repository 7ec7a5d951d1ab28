import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';

// DER prefix of a PKCS#8 X25519 private key; the 32 raw key bytes follow it.
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

export interface WgKeyPair {
  readonly privateKey: string;
  readonly publicKey: string;
}

/** A WireGuard key pair (X25519), base64 as `wg genkey` / `wg pubkey` print them. */
export function generateKeyPair(): WgKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const d = privateKey.export({ format: 'jwk' }).d!;
  const x = publicKey.export({ format: 'jwk' }).x!;
  return { privateKey: Buffer.from(d, 'base64url').toString('base64'), publicKey: Buffer.from(x, 'base64url').toString('base64') };
}

export function publicKeyFromPrivate(privateKeyBase64: string): string {
  const raw = Buffer.from(privateKeyBase64, 'base64');
  if (raw.length !== 32) throw new Error('a WireGuard private key is base64 of 32 bytes');
  const key = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
  return Buffer.from(createPublicKey(key).export({ format: 'jwk' }).x!, 'base64url').toString('base64');
}

/** True for base64 (standard alphabet, padded, canonical: as wireguard-tools accepts it) of exactly 32 bytes. */
export function isWgKey(value: string): boolean {
  if (!/^[A-Za-z0-9+/]{43}=$/.test(value)) return false;
  // The 43rd character carries 2 bits past the 32nd byte; `wg` refuses keys where they are not zero.
  return Buffer.from(value, 'base64').toString('base64') === value;
}
