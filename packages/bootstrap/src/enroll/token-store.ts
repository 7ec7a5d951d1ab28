import { RecordsFile } from './records-file.js';
import { TokenExpired, TokenNotFound, TokenRevoked, TokenUnknown, TokenUsed } from '../errors.js';

/** A token as the bootstrap keeps it: the hash of its secret, never the secret. */
export interface TokenRecord {
  /** SHA-256 of the secret, hex. */
  readonly hash: string;
  /** tokenId(hash). */
  readonly id: string;
  /** The node name the certificate gets; absent: the node's own. */
  readonly name?: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly createdMs: number;
  readonly expiresMs: number;
  readonly uses: number;
  readonly used: number;
  /** The names enrolled with it, in order. */
  readonly usedBy: readonly string[];
  readonly revokedMs?: number;
}

/**
 * Where tokens are kept. consume() is the one write on the enrollment path: it checks the token
 * and counts one use in a single step, so two nodes racing with a one-use token cannot both win.
 */
export interface TokenStore {
  add(record: TokenRecord): Promise<void>;
  get(hash: string): Promise<TokenRecord | undefined>;
  list(): Promise<TokenRecord[]>;
  /** Counts one use by `by`; TokenUnknown / TokenExpired / TokenUsed / TokenRevoked when it cannot be used. */
  consume(hash: string, nowMs: number, by: string): Promise<TokenRecord>;
  /** Marks the token with this id (or hash prefix) revoked; TokenNotFound when none has it. */
  revoke(id: string, nowMs: number): Promise<TokenRecord>;
}

/** Why a token cannot be used now, or undefined when it can: the same verdict for every store. */
export function tokenRefusal(record: TokenRecord | undefined, nowMs: number): Error | undefined {
  if (!record) return new TokenUnknown();
  if (record.revokedMs !== undefined) return new TokenRevoked(record.id, record.revokedMs);
  if (record.used >= record.uses) return new TokenUsed(record.id, record.uses, record.usedBy);
  if (nowMs >= record.expiresMs) return new TokenExpired(record.id, record.expiresMs);
  return undefined;
}

/** Tokens this long past their expiry are forgotten (then refused as unknown). */
export const TOKEN_FORGET_AFTER_MS = 7 * 86_400_000;

function findById(records: readonly TokenRecord[], id: string): TokenRecord {
  const wanted = id.trim().toLowerCase();
  const hits = wanted.length >= 6 ? records.filter((r) => r.hash.startsWith(wanted)) : [];
  if (hits.length !== 1) throw new TokenNotFound(id);
  return hits[0]!;
}

/** Tokens in memory: tests, and the model the file store follows. */
export class MemoryTokenStore implements TokenStore {
  protected records: TokenRecord[] = [];

  async add(record: TokenRecord): Promise<void> {
    this.records = [...this.records.filter((r) => r.hash !== record.hash), record];
  }

  async get(hash: string): Promise<TokenRecord | undefined> {
    return this.records.find((r) => r.hash === hash);
  }

  async list(): Promise<TokenRecord[]> {
    return [...this.records];
  }

  async consume(hash: string, nowMs: number, by: string): Promise<TokenRecord> {
    const record = this.records.find((r) => r.hash === hash);
    const refusal = tokenRefusal(record, nowMs);
    if (refusal) throw refusal;
    const next: TokenRecord = { ...record!, used: record!.used + 1, usedBy: [...record!.usedBy, by] };
    this.records = this.records.map((r) => (r.hash === hash ? next : r));
    return next;
  }

  async revoke(id: string, nowMs: number): Promise<TokenRecord> {
    const record = findById(this.records, id);
    const next: TokenRecord = record.revokedMs !== undefined ? record : { ...record, revokedMs: nowMs };
    this.records = this.records.map((r) => (r.hash === record.hash ? next : r));
    return next;
  }
}

/**
 * Tokens in a JSON file in the bootstrap's state dir (tokens.json, 0600): hashes, uses and
 * expiry only. Every change is read-modify-write under one queue and written atomically.
 * One bootstrap only; with -store etcd the tokens are in etcd instead (EtcdTokenStore).
 */
export class FileTokenStore implements TokenStore {
  private readonly records: RecordsFile<TokenRecord>;

  constructor(readonly file: string) {
    this.records = new RecordsFile(file, 'tokens', 'wgmesh token file');
  }

  /** Runs one read-modify-write at a time; `change` returns the records to write (undefined: none) and a result. */
  private exclusive<T>(change: (records: TokenRecord[]) => { write?: TokenRecord[]; result: T }): Promise<T> {
    return this.records.change(change);
  }

  add(record: TokenRecord): Promise<void> {
    return this.exclusive((records) => ({
      write: [...records.filter((r) => r.hash !== record.hash && r.expiresMs + TOKEN_FORGET_AFTER_MS > record.createdMs), record],
      result: undefined,
    }));
  }

  async get(hash: string): Promise<TokenRecord | undefined> {
    return this.exclusive((records) => ({ result: records.find((r) => r.hash === hash) }));
  }

  list(): Promise<TokenRecord[]> {
    return this.exclusive((records) => ({ result: records }));
  }

  consume(hash: string, nowMs: number, by: string): Promise<TokenRecord> {
    return this.exclusive((records) => {
      const record = records.find((r) => r.hash === hash);
      const refusal = tokenRefusal(record, nowMs);
      if (refusal) throw refusal;
      const next: TokenRecord = { ...record!, used: record!.used + 1, usedBy: [...record!.usedBy, by] };
      return { write: records.map((r) => (r.hash === hash ? next : r)), result: next };
    });
  }

  revoke(id: string, nowMs: number): Promise<TokenRecord> {
    return this.exclusive((records) => {
      const record = findById(records, id);
      if (record.revokedMs !== undefined) return { result: record };
      const next: TokenRecord = { ...record, revokedMs: nowMs };
      return { write: records.map((r) => (r.hash === record.hash ? next : r)), result: next };
    });
  }
}
