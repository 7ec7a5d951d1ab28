import { Coalescer } from '@wgmesh/agent/coalescer';
import { defaultTimers, type Timers } from '@wgmesh/agent/timers';
import { errorMessage, silentLogger, type Logger } from '@wgmesh/agent/log';
import { systemClock, type Clock, type MemberTable } from './table.js';
import type { Member } from './store.js';

/** Which certificate serials are revoked, and a signal when that list changes (a new CRL). */
export interface RevocationSource {
  isRevoked(serial: string): boolean;
  /** Calls `listener` after each change of the list; returns the unsubscribe. */
  onRevocationsChanged(listener: () => void): () => void;
}

export interface CertificateEnforcerInit {
  readonly revocations?: RevocationSource;
  readonly clock?: Clock;
  readonly timers?: Timers;
  readonly logger?: Logger;
  /** How often expiry is checked. Default 30 s (the promise is: at least once a minute). */
  readonly intervalMs?: number;
}

export const CERTIFICATE_CHECK_MS = 30_000;

/**
 * Removes members whose certificate is revoked (as soon as the CRL that says so is loaded) or has
 * expired (checked every 30 s). Refusing their calls is not enough: until removed they stay a
 * WireGuard peer of every node, and their key still opens every tunnel.
 */
export class CertificateEnforcer {
  private timer: unknown;
  private unsubscribe: (() => void) | undefined;
  private running = false;
  private readonly clock: Clock;
  private readonly timers: Timers;
  private readonly logger: Logger;
  /** Sweeps never overlap; a CRL change during one costs one more after it. */
  private readonly sweeps = new Coalescer(() => this.sweepOnce());

  constructor(private readonly table: MemberTable, private readonly init: CertificateEnforcerInit = {}) {
    this.clock = init.clock ?? systemClock;
    this.timers = init.timers ?? defaultTimers;
    this.logger = init.logger ?? silentLogger();
  }

  start(): void {
    this.running = true;
    this.unsubscribe = this.init.revocations?.onRevocationsChanged(() => void this.sweep());
    void this.sweep();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    this.timers.clearTimeout(this.timer);
    await this.sweeps.idle();
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = this.timers.setTimeout(() => {
      void this.sweep().finally(() => this.schedule());
    }, this.init.intervalMs ?? CERTIFICATE_CHECK_MS);
  }

  /** One pass over the members with certificates (or one more after the pass in progress). */
  sweep(): Promise<void> {
    return this.sweeps.run();
  }

  private async sweepOnce(): Promise<void> {
    if (!this.running) return;
    for (const member of this.table.membersWithCertificates()) {
      const reason = this.invalidBecause(member);
      if (!reason) continue;
      try {
        if (await this.table.removeIf(member.name, (m) => this.invalidBecause(m) !== undefined)) {
          this.logger.warn(`member removed: ${reason}`, { node: member.name, meshIp: member.meshIp });
        }
      } catch (err) {
        this.logger.error('could not remove a member whose certificate is no longer valid; trying again at the next check', { node: member.name, err: errorMessage(err) });
      }
    }
  }

  /** Why a member's certificate no longer admits it, or undefined. */
  private invalidBecause(member: Member): string | undefined {
    if (member.certSerial === undefined) return undefined;
    if (this.init.revocations?.isRevoked(member.certSerial)) return `its certificate (serial ${member.certSerial}) is revoked`;
    if (member.certNotAfterMs !== undefined && member.certNotAfterMs <= this.clock.now()) return `its certificate expired at ${new Date(member.certNotAfterMs).toISOString()}`;
    return undefined;
  }
}
