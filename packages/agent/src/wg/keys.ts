import { createHmac, createPrivateKey, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';

// DER prefix of a PKCS#8 X25519 private key; the 32 raw key bytes follow it.
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

export interface WgKeyPair {
  readonly privateKey: string;
  readonly publicKey: string;
}

/**
 * A WireGuard key pair (X25519), base64 as `wg genkey` / `wg pubkey` print them: 32 random bytes,
 * clamped as `wg genkey` clamps them, and their public key. Not crypto.generateKeyPairSync: Node
 * 20 deadlocks when a garbage collection runs while a key it generated is exported (the export
 * holds the key's lock while it allocates; the collection then finalizes the generating job,
 * whose destructor waits for the same lock; gdb of a hung test showed it, and 20,000 keys with a
 * 1 MB young generation hang every time).
 */
export function generateKeyPair(): WgKeyPair {
  const raw = randomBytes(32);
  raw[0] = raw[0]! & 248;
  raw[31] = (raw[31]! & 127) | 64;
  const privateKey = raw.toString('base64');
  return { privateKey, publicKey: derivePublicKey(privateKey) };
}

/**
 * The last key derived: a node reads its device back (`get=1` carries the private key) every few
 * seconds at rest, and deriving costs an OpenSSL key object and a JWK export each time (12 % of a
 * resting node's JavaScript time in a profile). One entry: a node has one key at a time.
 */
let lastDerived: { readonly privateKey: string; readonly publicKey: string } | undefined;

export function publicKeyFromPrivate(privateKeyBase64: string): string {
  if (lastDerived?.privateKey === privateKeyBase64) return lastDerived.publicKey;
  const publicKey = derivePublicKey(privateKeyBase64);
  lastDerived = { privateKey: privateKeyBase64, publicKey };
  return publicKey;
}

function derivePublicKey(privateKeyBase64: string): string {
  const raw = Buffer.from(privateKeyBase64, 'base64');
  if (raw.length !== 32) throw new Error('a WireGuard private key is base64 of 32 bytes');
  // Imported as a JWK, which hands OpenSSL the raw key: ~0.07 ms here against ~0.6 for the same
  // key as PKCS#8 DER (OpenSSL 3 sets up a decoder for every DER import). Node 20 reads only `d`
  // of a private OKP key but insists on `x` being a string; the DER import stays as the fallback
  // should a later Node check `x`.
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: raw.toString('base64url'), x: '' }, format: 'jwk' });
  } catch {
    key = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
  }
  return Buffer.from(createPublicKey(key).export({ format: 'jwk' }).x!, 'base64url').toString('base64');
}

/** True for base64 (standard alphabet, padded, canonical: as wireguard-tools accepts it) of exactly 32 bytes. */
export function isWgKey(value: string): boolean {
  if (!/^[A-Za-z0-9+/]{43}=$/.test(value)) return false;
  // The 43rd character carries 2 bits past the 32nd byte; `wg` refuses keys where they are not zero.
  return Buffer.from(value, 'base64').toString('base64') === value;
}

/**
 * X25519 points of small order (and their non-canonical encodings, as libsodium lists them): a
 * "public key" among these makes every Diffie-Hellman result one of a handful of values, so a
 * tunnel to it has no secret. The top bit is ignored by X25519, so it is masked before comparing.
 */
export const LOW_ORDER_POINTS: readonly string[] = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];

/** True for a base64 key that is a low-order X25519 point (all-zero among them). */
export function isLowOrderKey(value: string): boolean {
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length !== 32) return false;
  bytes[31] = bytes[31]! & 0x7f;
  return LOW_ORDER_POINTS.includes(bytes.toString('hex'));
}

/**
 * The secret a node proves itself with in dev mode (see JoinRequest.node_secret): derived from its
 * WireGuard private key, so it exists before the first join and survives a lost agent.json, and
 * nobody who knows only the public key can make it. Changing the key changes the secret.
 */
export function nodeSecretFromPrivate(privateKeyBase64: string): string {
  return createHmac('sha256', Buffer.from(privateKeyBase64, 'base64')).update('wgmesh node secret v1').digest('base64url');
}
