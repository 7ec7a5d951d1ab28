import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { IdentityMismatch } from '../errors.js';
import type { Member } from './store.js';

/** The verified client certificate a call came with (mTLS). Its CN was checked against the node name at the edge. */
export interface CallCertificate {
  readonly fingerprint: string;
  /** Serial number, lower-case hex without leading zeros: what a CRL names. */
  readonly serial: string;
  readonly notAfterMs: number;
}

/**
 * Who is asking. Names and public keys are known to every member, so neither proves anything:
 * with mTLS the certificate does (its CN is the node's name), in dev mode the secret the node was
 * given when it joined, and in-process calls (the bootstrap's own node) are trusted.
 */
export interface Identity {
  readonly publicKey: string;
  readonly cert?: CallCertificate;
  /** Dev mode: JoinResponse.node_secret, sent back with every call. */
  readonly secret?: string;
  /** The bootstrap's own node, calling its member table in-process. */
  readonly local?: boolean;
}

/** A fresh per-node secret (dev mode): 256 random bits, URL-safe base64. */
export function newNodeSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** What the member table keeps of a secret: its SHA-256, so a leaked state file does not leak secrets. */
export function hashNodeSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** How many secrets a VerifiedSecrets keeps before it starts again from empty. */
export const VERIFIED_SECRETS_MAX = 65_536;

/**
 * The secret that last matched each kept hash. Every heartbeat proves its node's secret (10,000
 * nodes: 2,000 a second), and hashing each again was a few per cent of an idle bootstrap's CPU: a
 * secret equal to the one that matched before is compared as it is (in constant time), and only a
 * different one is hashed. The process sees every secret in its requests anyway; the state file
 * still keeps only hashes. One per member table, so it dies with its bootstrap and two bootstraps
 * in one process share nothing. Bounded: full (`max` secrets), it is emptied before the next is kept.
 */
export class VerifiedSecrets {
  private readonly byHash = new Map<string, Buffer>();
  /** Secrets hashed to be checked (a secret met before is not): tests read it. */
  hashed = 0;

  constructor(private readonly max = VERIFIED_SECRETS_MAX) {}

  get size(): number {
    return this.byHash.size;
  }

  /** Whether `secret` is the one whose SHA-256 is `hash` (hex). */
  matches(hash: string, secret: string | undefined): boolean {
    if (!secret) return false;
    const given = Buffer.from(secret);
    // Byte lengths: a string of the same length can have more UTF-8 bytes (timingSafeEqual throws
    // on buffers of different lengths; the fuzz test's mutated secrets found it).
    const known = this.byHash.get(hash);
    if (known !== undefined && known.length === given.length && timingSafeEqual(known, given)) return true;
    this.hashed++;
    const digest = createHash('sha256').update(given).digest();
    const kept = Buffer.from(hash, 'hex');
    if (digest.length !== kept.length || !timingSafeEqual(digest, kept)) return false;
    if (this.byHash.size >= this.max) this.byHash.clear();
    this.byHash.set(hash, given);
    return true;
  }
}

/**
 * Throws IdentityMismatch unless `identity` may act for `member`. In dev mode a join may bring a new
 * public key (the same node with a new key); every other call must also name the key the node holds.
 * `secrets`: the member table's secrets that matched before.
 */
export function checkIdentity(member: Member, identity: Identity, call: 'join' | 'call', secrets: VerifiedSecrets): void {
  if (identity.local) return;
  const deny = (why: string) => new IdentityMismatch(member.name, why);
  // The bootstrap's own node has no secret and its name and key are known to every member: only
  // the bootstrap itself, in-process (local, above), acts for it. Before, its key alone let anyone
  // Leave it (and then Join as it, taking its mesh IP) or Update it, as the fuzz test found.
  if (member.isBootstrap) throw deny("this is the bootstrap's own node: only the bootstrap acts for it");
  // mTLS: the edge checked that the CA-verified certificate's CN is this node's name; nothing else counts
  // (a renewed or re-issued certificate is the same node).
  if (identity.cert) return;
  if (member.certFingerprint) throw deny('this node joined with a client certificate; calls for it need a certificate for it (mTLS)');
  if (member.secretHash) {
    if (!secrets.matches(member.secretHash, identity.secret)) {
      throw deny(`node_secret ${identity.secret ? 'does not match' : 'is missing'}: only the node that joined as "${member.name}" may act for it (its secret is in its agent state)`);
    }
  } else if (member.publicKey !== identity.publicKey) {
    // Joined before node secrets existed: its key is all there is, as it was then.
    throw deny('public_key does not match the key this node joined with');
  }
  if (call === 'call' && member.publicKey !== identity.publicKey) throw deny('public_key does not match the key this node joined with');
}
