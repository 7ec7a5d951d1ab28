import type { CertificateAdmin } from '@wgmesh/agent/localapi/server';
import type { CertificateInfo } from '@wgmesh/agent/proto/gen/wgmesh/v1/CertificateInfo';
import type { Logger } from '@wgmesh/agent/log';
import type { RevokeCertificateResponse } from '@wgmesh/agent/proto/gen/wgmesh/v1/RevokeCertificateResponse';
import { errorMessage, silentLogger } from '@wgmesh/agent/log';
import { CertificateNotFound } from '../errors.js';
import type { RevocationSource } from '../members/certificates.js';
import type { Member } from '../members/store.js';
import type { Clock } from '../members/table.js';
import { toServiceError } from '../service/status.js';
import { normalizeSerial } from '../tls/crl.js';
import type { CertificateRecord, CertificateStore } from './certificate-store.js';

export interface CertificateRevocationComponents {
  readonly store: CertificateStore;
  readonly clock: Clock;
  /** The members that joined with a certificate now (a name with no record here may still be revoked by its member's). */
  readonly members: () => readonly Member[];
  /** Removes the members whose certificate is revoked now (the CertificateEnforcer's sweep). */
  readonly enforce: () => Promise<void>;
  readonly logger?: Logger;
}

export interface CertificateRevocationInit {
  /** With a store shared by several bootstraps (etcd): how often to read what the others revoked. 0: never. */
  readonly refreshMs?: number;
}

/** Every 2 s, with etcd: another bootstrap's revocation is enforced here within that. */
export const REVOCATION_REFRESH_MS = 2_000;

/**
 * The revocation list of a bootstrap that signs certificates (-ca-key): it records every
 * certificate it signs (so `ca revoke NAME` finds enrolled nodes), revokes by name or serial, and
 * tells the authenticator and the CertificateEnforcer at once: the serial is refused on its next
 * call and its member is removed before revoke() returns.
 */
export class CertificateRevocation implements RevocationSource {
  private revoked = new Set<string>();
  private readonly listeners = new Set<() => void>();
  private readonly logger: Logger;
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly components: CertificateRevocationComponents, private readonly init: CertificateRevocationInit = {}) {
    this.logger = components.logger ?? silentLogger();
  }

  /** Reads the list (before the join service serves a call), then re-reads it now and then when shared. */
  async start(): Promise<void> {
    await this.load();
    const every = this.init.refreshMs ?? 0;
    if (every > 0) {
      this.timer = setInterval(() => {
        this.load().catch((err: unknown) => this.logger.warn('could not read the revocation list; enforcing the last one read', { err: errorMessage(err) }));
      }, every);
      this.timer.unref();
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  get revokedCount(): number {
    return this.revoked.size;
  }

  isRevoked(serial: string): boolean {
    return this.revoked.has(normalizeSerial(serial));
  }

  onRevocationsChanged(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Records a certificate just signed for an enrolled node. */
  recordIssued(certificate: { name: string; serial: string; notAfterMs: number }): Promise<void> {
    const record: CertificateRecord = { name: certificate.name, serial: normalizeSerial(certificate.serial), source: 'enrolled', issuedMs: this.components.clock.now(), notAfterMs: certificate.notAfterMs };
    return this.exclusive(() => this.components.store.put([record]));
  }

  /**
   * Revokes every certificate of `name` (only `serial` when given) that it signed or that a member
   * of that name holds; the members they admit are removed before it returns. A name whose
   * certificates are all revoked already answers them again (revoking is idempotent).
   */
  revoke(name: string, serial = ''): Promise<RevokeCertificateResponse> {
    return this.exclusive(async () => {
      const now = this.components.clock.now();
      const wanted = serial ? normalizeSerial(serial.replace(/:/g, '')) : undefined;
      const known = (await this.components.store.list()).filter((r) => r.name === name);
      const candidates = new Map(known.map((r) => [r.serial, r]));
      for (const member of this.components.members()) {
        if (member.name !== name || member.certSerial === undefined) continue;
        const memberSerial = normalizeSerial(member.certSerial);
        if (!candidates.has(memberSerial)) candidates.set(memberSerial, { name, serial: memberSerial, source: 'member', notAfterMs: member.certNotAfterMs ?? now });
      }
      const hit = [...candidates.values()].filter((r) => wanted === undefined || r.serial === wanted);
      if (hit.length === 0) throw new CertificateNotFound(name, serial || undefined);
      const fresh = hit.filter((r) => r.revokedMs === undefined).map((r) => ({ ...r, revokedMs: now }));
      await this.components.store.put(fresh);
      const serials = new Set(hit.map((r) => r.serial));
      const admitted = () => this.components.members().filter((m) => m.certSerial !== undefined && serials.has(normalizeSerial(m.certSerial))).map((m) => m.name);
      const before = admitted();
      this.replace(new Set([...this.revoked, ...serials]));
      await this.components.enforce();
      const still = new Set(admitted());
      const removed = before.filter((n) => !still.has(n));
      const revoked = hit.map((r) => fresh.find((f) => f.serial === r.serial) ?? r);
      this.logger.warn('certificate revoked', { node: name, serials: [...serials].join(','), removed: removed.join(',') });
      return { revoked: revoked.map(certificateInfo), removedMembers: removed };
    });
  }

  async list(all: boolean): Promise<CertificateInfo[]> {
    const records = await this.components.store.list();
    return records.filter((r) => all || r.revokedMs !== undefined).sort((a, b) => a.name.localeCompare(b.name) || (a.issuedMs ?? 0) - (b.issuedMs ?? 0)).map(certificateInfo);
  }

  /** The local API's view: errors carry the gRPC code status.ts gives them. */
  get admin(): CertificateAdmin {
    const coded = <T>(work: () => Promise<T>): Promise<T> =>
      work().catch((err: unknown) => {
        throw Object.assign(err instanceof Error ? err : new Error(String(err)), { grpcCode: toServiceError(err).code });
      });
    return {
      revoke: (name, serial) => coded(() => this.revoke(name, serial)),
      list: (all) => coded(() => this.list(all)),
    };
  }

  /** One at a time with revoke(): a read begun before a revocation's write cannot undo it. */
  private load(): Promise<void> {
    return this.exclusive(async () => {
      const records = await this.components.store.list();
      this.replace(new Set(records.filter((r) => r.revokedMs !== undefined).map((r) => r.serial)));
    });
  }

  /** A new list: listeners hear of it only when it differs. */
  private replace(next: Set<string>): void {
    if (next.size === this.revoked.size && [...next].every((s) => this.revoked.has(s))) return;
    this.revoked = next;
    for (const listener of this.listeners) listener();
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function certificateInfo(r: CertificateRecord): CertificateInfo {
  return { name: r.name, serial: r.serial, issuedMs: r.issuedMs ?? 0, notAfterMs: r.notAfterMs, revokedMs: r.revokedMs ?? 0, source: r.source };
}
