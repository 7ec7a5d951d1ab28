import type { Etcd3 } from 'etcd3';
import { StoreConflict, StoreCorrupt } from '../errors.js';
import { tokenRefusal, type TokenRecord, type TokenStore } from './token-store.js';
import { TokenNotFound } from '../errors.js';

/** How the token store reaches etcd: the mesh store's client and deadline (see EtcdMeshStore.tokenStore). */
export interface EtcdTokenStoreComponents {
  readonly client: () => Etcd3;
  readonly call: <T>(operation: () => Promise<T>) => Promise<T>;
  /** The mesh's key prefix; tokens live under <prefix>tokens/<hash>. */
  readonly prefix: string;
}

/** Conditional writes lost to another bootstrap in a row before giving up (StoreConflict). */
const CONSUME_ATTEMPTS = 5;

/**
 * Tokens in etcd beside the mesh's members, so any bootstrap of the mesh enrolls with a token any
 * of them made. A use is counted by a put conditioned on the token key's mod revision: two
 * bootstraps racing with a one-use token cannot both count it.
 */
export class EtcdTokenStore implements TokenStore {
  constructor(private readonly components: EtcdTokenStoreComponents) {}

  private key(hash: string): string {
    return `${this.components.prefix}tokens/${hash}`;
  }

  private decode(key: string, value: string): TokenRecord {
    try {
      const record = JSON.parse(value) as TokenRecord;
      if (typeof record.hash !== 'string' || typeof record.uses !== 'number') throw new Error('not a token record');
      return record;
    } catch (err) {
      throw new StoreCorrupt(key, `is not a wgmesh token record (${(err as Error).message})`);
    }
  }

  private async read(hash: string): Promise<{ record: TokenRecord; modRevision: number } | undefined> {
    const key = this.key(hash);
    const response = await this.components.call(() => this.components.client().get(key).exec());
    const kv = response.kvs[0];
    return kv ? { record: this.decode(key, kv.value.toString()), modRevision: Number(kv.mod_revision) } : undefined;
  }

  /** Replaces a record if it is still at modRevision; false when another bootstrap changed it first. */
  private async replace(record: TokenRecord, modRevision: number): Promise<boolean> {
    const key = this.key(record.hash);
    const client = this.components.client();
    const result = await this.components.call(() => client.if(key, 'Mod', '==', modRevision).then(client.put(key).value(JSON.stringify(record))).commit());
    return result.succeeded;
  }

  async add(record: TokenRecord): Promise<void> {
    const key = this.key(record.hash);
    const client = this.components.client();
    const result = await this.components.call(() => client.if(key, 'Create', '==', 0).then(client.put(key).value(JSON.stringify(record))).commit());
    if (!result.succeeded) throw new StoreConflict(key, 0, -1);
  }

  async get(hash: string): Promise<TokenRecord | undefined> {
    return (await this.read(hash))?.record;
  }

  async list(): Promise<TokenRecord[]> {
    const prefix = `${this.components.prefix}tokens/`;
    const response = await this.components.call(() => this.components.client().getAll().prefix(prefix).exec());
    return response.kvs.map((kv) => this.decode(kv.key.toString(), kv.value.toString())).sort((a, b) => a.createdMs - b.createdMs);
  }

  async consume(hash: string, nowMs: number, by: string): Promise<TokenRecord> {
    for (let attempt = 1; ; attempt++) {
      const found = await this.read(hash);
      const refusal = tokenRefusal(found?.record, nowMs);
      if (refusal) throw refusal;
      const { record, modRevision } = found!;
      const next: TokenRecord = { ...record, used: record.used + 1, usedBy: [...record.usedBy, by] };
      if (await this.replace(next, modRevision)) return next;
      if (attempt >= CONSUME_ATTEMPTS) throw new StoreConflict(this.key(hash), modRevision, -1);
    }
  }

  async revoke(id: string, nowMs: number): Promise<TokenRecord> {
    for (let attempt = 1; ; attempt++) {
      const wanted = id.trim().toLowerCase();
      const hits = wanted.length >= 6 ? (await this.list()).filter((r) => r.hash.startsWith(wanted)) : [];
      if (hits.length !== 1) throw new TokenNotFound(id);
      const found = (await this.read(hits[0]!.hash))!;
      if (found.record.revokedMs !== undefined) return found.record;
      const next: TokenRecord = { ...found.record, revokedMs: nowMs };
      if (await this.replace(next, found.modRevision)) return next;
      if (attempt >= CONSUME_ATTEMPTS) throw new StoreConflict(this.key(found.record.hash), found.modRevision, -1);
    }
  }
}
