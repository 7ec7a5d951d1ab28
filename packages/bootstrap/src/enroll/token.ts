import { createHash, randomBytes } from 'node:crypto';
import { TokenInvalid } from '../errors.js';

/**
 * Enrollment tokens: `wgm1.` + base64url(JSON). What a new node needs and nothing it must keep
 * secret from itself: the bootstrap addresses, the mesh, the CA's SHA-256 fingerprint (pinned on
 * the first TLS connection), the node name it may take, and the secret. The bootstrap keeps only
 * the secret's SHA-256 (see TokenStore); the token itself is shown once.
 */
export const TOKEN_PREFIX = 'wgm1.';
/** A token longer than this is refused before it is decoded. */
export const TOKEN_MAX_CHARS = 2048;
const ADDRS_MAX = 8;
const SECRET_BYTES = 32;

export interface EnrollmentToken {
  readonly mesh: string;
  /** HOST:PORT of bootstraps that enroll with it. */
  readonly addrs: readonly string[];
  /** SHA-256 of the CA certificate (DER), lower-case hex without colons. */
  readonly caFingerprint: string;
  /** base64url of 32 random bytes. */
  readonly secret: string;
  /** The node name it enrolls; absent: the node's own host name. */
  readonly name?: string;
}

interface Wire {
  m: string;
  a: string[];
  f: string;
  s: string;
  n?: string;
}

export function newTokenSecret(): string {
  return randomBytes(SECRET_BYTES).toString('base64url');
}

/** What the bootstrap stores of a token: SHA-256 of its secret, hex. */
export function tokenHash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** A token's public handle (in `token list` and `token revoke`): the first 12 hex digits of its hash. */
export function tokenId(hash: string): string {
  return hash.slice(0, 12);
}

/** "AB:CD:…" (X509Certificate.fingerprint256) or hex, as lower-case hex. */
export function normalizeFingerprint(fp: string): string {
  return fp.replace(/:/g, '').toLowerCase();
}

export function encodeToken(token: EnrollmentToken): string {
  const wire: Wire = { m: token.mesh, a: [...token.addrs], f: normalizeFingerprint(token.caFingerprint), s: token.secret, ...(token.name ? { n: token.name } : {}) };
  const text = TOKEN_PREFIX + Buffer.from(JSON.stringify(wire)).toString('base64url');
  if (text.length > TOKEN_MAX_CHARS) throw new TokenInvalid(`the token would be ${text.length} characters, more than ${TOKEN_MAX_CHARS}: give fewer or shorter addresses`);
  return text;
}

/** Reads a token; anything but a well-formed wgm1 token is TokenInvalid, saying what is wrong. */
export function decodeToken(text: string): EnrollmentToken {
  const trimmed = text.trim();
  if (trimmed.length > TOKEN_MAX_CHARS) throw new TokenInvalid(`the token is ${trimmed.length} characters, more than ${TOKEN_MAX_CHARS}: not a wgmesh token`);
  if (!trimmed.startsWith(TOKEN_PREFIX)) {
    throw new TokenInvalid(/^wgm\d+\./.test(trimmed) ? `token version "${trimmed.split('.')[0]}" is not supported (this wgmesh reads ${TOKEN_PREFIX.slice(0, -1)})` : `not a wgmesh token (it starts with ${TOKEN_PREFIX})`);
  }
  const body = trimmed.slice(TOKEN_PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(body)) throw new TokenInvalid('the token holds characters other than base64url: was it cut or wrapped when copied?');
  let wire: unknown;
  try {
    wire = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    throw new TokenInvalid('the token does not decode: was it cut short when copied?');
  }
  const w = wire as Partial<Record<keyof Wire, unknown>>;
  if (typeof wire !== 'object' || wire === null || Array.isArray(wire)) throw new TokenInvalid('the token does not decode to an object');
  if (typeof w.m !== 'string' || !/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?$/.test(w.m)) throw new TokenInvalid('the token names no valid mesh');
  if (!Array.isArray(w.a) || w.a.length === 0 || w.a.length > ADDRS_MAX || !w.a.every((a) => typeof a === 'string' && a.length > 0 && a.length <= 261)) {
    throw new TokenInvalid(`the token carries no usable bootstrap addresses (1-${ADDRS_MAX} HOST:PORT)`);
  }
  if (typeof w.f !== 'string' || !/^[0-9a-f]{64}$/.test(w.f)) throw new TokenInvalid('the token\'s CA fingerprint is not a SHA-256 (64 hex digits)');
  if (typeof w.s !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(w.s)) throw new TokenInvalid('the token\'s secret is not 32 bytes of base64url');
  if (w.n !== undefined && (typeof w.n !== 'string' || !/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(w.n))) throw new TokenInvalid('the token\'s node name is not a DNS label');
  return { mesh: w.m, addrs: w.a as string[], caFingerprint: w.f, secret: w.s, ...(w.n ? { name: w.n as string } : {}) };
}
