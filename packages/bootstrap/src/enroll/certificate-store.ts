import type { Etcd3 } from 'etcd3';
import { StoreCorrupt } from '../errors.js';
import { RecordsFile } from './records-file.js';

/**
 * A certificate a bootstrap with -ca-key knows: one it signed for an enrolled node, or a member's
 * certificate (issued from a CA directory) recorded when it was revoked here.
 */
export interface CertificateRecord {
  /** Lower-case hex without leading zeros (normalizeSerial). */
  readonly serial: string;
  readonly name: string;
  readonly source: 'enrolled' | 'member';
  /** When this bootstrap signed it; absent for a member's certificate. */
  readonly issuedMs?: number;
  readonly notAfterMs: number;
  readonly revokedMs?: number;
}

/**
 * Where the certificates are kept: beside the mesh's state (a file in the state dir, or etcd
 * under the mesh's prefix, so every bootstrap of the mesh refuses what one of them revoked).
 * put() adds or replaces records by serial.
 */
export interface CertificateStore {
  list(): Promise<CertificateRecord[]>;
  put(records: readonly CertificateRecord[]): Promise<void>;
}

/** Records this long past their certificate's expiry are forgotten: an expired certificate is refused anyway. */
export const CERTIFICATE_FORGET_AFTER_MS = 30 * 86_400_000;

function merged(records: readonly CertificateRecord[], added: readonly CertificateRecord[], nowMs: number): CertificateRecord[] {
  const serials = new Set(added.map((r) => r.serial));
  return [...records.filter((r) => !serials.has(r.serial) && r.notAfterMs + CERTIFICATE_FORGET_AFTER_MS > nowMs), ...added];
}

export class MemoryCertificateStore implements CertificateStore {
  private records: CertificateRecord[] = [];

  async list(): Promise<CertificateRecord[]> {
    return [...this.records];
  }

  async put(records: readonly CertificateRecord[]): Promise<void> {
    this.records = merged(this.records, records, Date.now());
  }
}

/** certificates.json in the bootstrap's state dir (0600), written atomically, one change at a time. */
export class FileCertificateStore implements CertificateStore {
  private readonly records: RecordsFile<CertificateRecord>;

  constructor(readonly file: string) {
    this.records = new RecordsFile(file, 'certificates', 'wgmesh certificate list');
  }

  list(): Promise<CertificateRecord[]> {
    return this.records.change((records) => ({ result: records }));
  }

  put(records: readonly CertificateRecord[]): Promise<void> {
    return this.records.change((current) => ({ write: merged(current, records, Date.now()), result: undefined }));
  }
}

/** How the certificate store reaches etcd: the mesh store's client and deadline (see EtcdMeshStore.certificateStore). */
export interface EtcdCertificateStoreComponents {
  readonly client: () => Etcd3;
  readonly call: <T>(operation: () => Promise<T>) => Promise<T>;
  /** The mesh's key prefix; certificates live under <prefix>certificates/<serial>. */
  readonly prefix: string;
}

/** Certificates in etcd, one key per serial: a put of one record never overwrites another bootstrap's other records. */
export class EtcdCertificateStore implements CertificateStore {
  constructor(private readonly components: EtcdCertificateStoreComponents) {}

  private get keyPrefix(): string {
    return `${this.components.prefix}certificates/`;
  }

  async list(): Promise<CertificateRecord[]> {
    const response = await this.components.call(() => this.components.client().getAll().prefix(this.keyPrefix).exec());
    return response.kvs.map((kv) => {
      const key = kv.key.toString();
      try {
        const record = JSON.parse(kv.value.toString()) as CertificateRecord;
        if (typeof record.serial !== 'string' || typeof record.name !== 'string') throw new Error('not a certificate record');
        return record;
      } catch (err) {
        throw new StoreCorrupt(key, `is not a wgmesh certificate record (${(err as Error).message})`);
      }
    });
  }

  async put(records: readonly CertificateRecord[]): Promise<void> {
    const client = this.components.client();
    for (const record of records) {
      await this.components.call(() => client.put(`${this.keyPrefix}${record.serial}`).value(JSON.stringify(record)).exec());
    }
  }
}
