/**
 * What several bootstraps of one mesh agree on through etcd besides the members: which of them runs
 * failure detection (the leader: a key held under its lease), when each node last sent a heartbeat
 * (heartbeats land on whichever bootstrap a node talks to: each publishes the ones it received,
 * under its lease, and the leader merges them), and whether etcd answers at all (every round is a
 * probe: a bootstrap that cannot reach etcd refuses joins and updates instead of acting on what it
 * remembers). Under the mesh's prefix:
 *
 *   leader        the leading bootstrap's node name, attached to its lease
 *   seen/<name>   {node: last heartbeat ms} that bootstrap received lately, attached to its lease
 *
 * A bootstrap killed without a word loses its lease after leaseTtlSec; within one more round
 * another holds the leader key. A leader that cannot renew its lease steps down one round before
 * the lease can expire, so two never lead at once.
 */
import type { Etcd3, Lease } from 'etcd3';
import { errorMessage, silentLogger, type Logger } from '@wgmesh/agent/log';
import { storeCall } from './etcd-client.js';

export const COORDINATION_DEFAULTS = {
  leaseTtlSec: 5,
  roundMs: 1_000,
  /** Rounds that must fail in a row before etcd counts as unreachable (one slow answer is not an outage). */
  failuresBeforeUnreachable: 2,
  /** Rounds failed in a row after which the etcd client is replaced by a new one (and again as often). */
  failuresBeforeReconnect: 4,
  /** Heartbeats older than this are not published (the leader has long had them). */
  seenWindowMs: 60_000,
} as const;

export interface CoordinatorInit {
  /** This bootstrap's node name: the leader key's value and its seen/ key. */
  readonly self: string;
  /** The heartbeats this bootstrap received (node -> ms). */
  readonly localSeen: () => ReadonlyMap<string, number>;
  /** The leader gets every bootstrap's heartbeats each round. */
  readonly onSeen: (seen: ReadonlyMap<string, number>) => void;
  readonly onReachable: (reachable: boolean, err?: Error) => void;
  readonly leaseTtlSec?: number;
  readonly roundMs?: number;
  readonly now?: () => number;
  readonly logger?: Logger;
}

export interface CoordinatorStatus {
  readonly leading: boolean;
  /** The leader as last read from etcd ('' when none or unknown). */
  readonly leader: string;
  readonly reachable: boolean;
}

export class EtcdCoordinator {
  private lease: Lease | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private round: Promise<void> | undefined;
  private failures = 0;
  private lastSuccessMs = 0;
  private leadingValue = false;
  private leaderValue = '';
  private reachableValue = true;
  private readonly ttlSec: number;
  private readonly roundMs: number;
  private readonly now: () => number;
  private readonly logger: Logger;

  constructor(
    private readonly etcd: { client(): Etcd3; reconnect(): void },
    private readonly prefix: string,
    private readonly endpoints: readonly string[],
    private readonly init: CoordinatorInit,
  ) {
    this.ttlSec = init.leaseTtlSec ?? COORDINATION_DEFAULTS.leaseTtlSec;
    this.roundMs = init.roundMs ?? COORDINATION_DEFAULTS.roundMs;
    this.now = init.now ?? Date.now;
    this.logger = init.logger ?? silentLogger();
  }

  get status(): CoordinatorStatus {
    return { leading: this.leadingValue, leader: this.leaderValue, reachable: this.reachableValue };
  }

  /** Runs the first round (so the caller knows at once whether it leads), then one every roundMs. */
  async start(): Promise<void> {
    this.running = true;
    this.lastSuccessMs = this.now();
    await this.runRound();
    this.schedule();
  }

  /** Stops the rounds and gives up the lease, so another bootstrap leads at once instead of after the TTL. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.round;
    this.setLeading(false);
    const lease = this.lease;
    this.lease = undefined;
    if (lease) await lease.revoke({ deadline: Date.now() + this.roundMs }).catch(() => undefined);
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      void this.runRound().finally(() => this.schedule());
    }, this.roundMs);
  }

  private runRound(): Promise<void> {
    this.round = this.roundOnce();
    return this.round;
  }

  private get client(): Etcd3 {
    return this.etcd.client();
  }

  private async roundOnce(): Promise<void> {
    if (this.failures > 0 && this.failures % COORDINATION_DEFAULTS.failuresBeforeReconnect === 0) {
      this.logger.info('etcd has not answered for several rounds: connecting anew', { failures: this.failures });
      this.etcd.reconnect();
      this.lease = undefined; // it belonged to the old client; etcd lets it expire
    }
    try {
      const leaseId = await this.call(() => this.renewLease());
      await this.call(() => this.client.put(`${this.prefix}seen/${this.init.self}`).value(JSON.stringify(this.recentSeen())).lease(leaseId).exec());
      const leaderKey = `${this.prefix}leader`;
      const result = await this.call(() =>
        this.client.if(leaderKey, 'Create', '==', 0).then(this.client.put(leaderKey).value(this.init.self).lease(leaseId)).else(this.client.get(leaderKey)).commit(),
      );
      const holder = result.succeeded ? this.init.self : result.responses[0]?.response_range?.kvs[0]?.value.toString() ?? '';
      const heldByUs = holder === this.init.self && (result.succeeded || result.responses[0]?.response_range?.kvs[0]?.lease === leaseId);
      this.leaderValue = holder;
      if (heldByUs) {
        const seen = await this.call(() => this.client.getAll().prefix(`${this.prefix}seen/`).strings());
        this.init.onSeen(mergeSeen(Object.values(seen)));
      }
      this.lastSuccessMs = this.now();
      this.failures = 0;
      this.setReachable(true);
      this.setLeading(heldByUs);
    } catch (err) {
      this.failures++;
      if (this.failures >= COORDINATION_DEFAULTS.failuresBeforeUnreachable) this.setReachable(false, err as Error);
      // Our lease may expire at etcd one TTL after the last renewal: step down a round before.
      if (this.leadingValue && this.now() - this.lastSuccessMs >= this.ttlSec * 1000 - this.roundMs) {
        this.logger.warn('stepping down as the mesh\'s failure-detection leader: etcd has not renewed this bootstrap\'s lease', { err: errorMessage(err) });
        this.setLeading(false);
      }
    }
  }

  /** The lease's ID, granting a new lease when there is none or etcd says ours expired. */
  private async renewLease(): Promise<string> {
    if (this.lease) {
      const lease = this.lease;
      const answer = await lease.keepaliveOnce({ deadline: Date.now() + this.roundMs });
      if (Number(answer.TTL) > 0) return answer.ID;
      this.lease = undefined;
      this.setLeading(false);
    }
    const lease = this.client.lease(this.ttlSec, { autoKeepAlive: false });
    lease.on('lost', () => undefined); // a failed grant: the next round grants again
    const id = await lease.grant();
    this.lease = lease;
    return id;
  }

  private recentSeen(): Record<string, number> {
    const since = this.now() - COORDINATION_DEFAULTS.seenWindowMs;
    const out: Record<string, number> = {};
    for (const [name, ms] of this.init.localSeen()) if (ms >= since) out[name] = ms;
    return out;
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leadingValue) return;
    this.leadingValue = leading;
    this.logger.info(leading ? 'this bootstrap now runs failure detection for the mesh (etcd leader key)' : 'this bootstrap no longer runs failure detection');
  }

  private setReachable(reachable: boolean, err?: Error): void {
    if (reachable === this.reachableValue) return;
    this.reachableValue = reachable;
    this.init.onReachable(reachable, err);
  }

  private call<T>(operation: () => Promise<T>): Promise<T> {
    return storeCall(this.endpoints, this.roundMs * 1.5, operation);
  }
}

/** Every bootstrap's published heartbeats, the latest per node. Values that do not parse are skipped. */
export function mergeSeen(published: readonly string[]): Map<string, number> {
  const merged = new Map<string, number>();
  for (const text of published) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      continue;
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) continue;
    for (const [name, ms] of Object.entries(value)) {
      if (typeof ms === 'number' && Number.isFinite(ms) && ms > (merged.get(name) ?? -Infinity)) merged.set(name, ms);
    }
  }
  return merged;
}
