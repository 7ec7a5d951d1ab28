import { errorMessage, silentLogger, type Logger } from '../log.js';
import type { Timers } from '../timers.js';

/** How long after a peer is added its first handshake may take before the guard looks. */
export const HANDSHAKE_GUARD_DEFAULTS = { checkAfterMs: 1_500 };

/** What the guard needs of the agent, the device and the prober. */
export interface HandshakeGuardComponents {
  readonly timers: Timers;
  /** Wall-clock ms, the prober's clock for answers. Default Date.now. */
  now?(): number;
  /** Whether this node opens the pair's handshake now (the agent's rule, from the membership). */
  opens(name: string): boolean;
  /** The public key the node's peer has now; undefined once it is gone. */
  publicKeyOf(name: string): string | undefined;
  /** Whether the peer has answered a probe since `sinceMs` (wall clock). */
  answered(name: string, sinceMs: number): boolean;
  /** Unix ms of each peer's latest handshake (by public key), as the device reports it. */
  latestHandshakes(): Promise<ReadonlyMap<string, number>>;
  /** Removes the peer and configures it afresh: WireGuard forgets its handshake state and its 5-s wait. */
  restart(name: string): Promise<void>;
  /** Sends the peer a probe now (its first packet starts the new handshake). */
  probe(name: string): void;
  readonly logger?: Logger;
}

/**
 * Recovers a pair whose first handshake initiations crossed. Two nodes that start sending to each
 * other at the same moment (a node and its peer both starting traffic as they add each other)
 * each answer the other's initiation, which discards their own; both then wait as responders for
 * data that never comes, and WireGuard sends its next initiation only 5 s later. So a peer that,
 * some time after it was added, has had no handshake and answered no probe is configured afresh
 * by the node that opens the pair (only that one: two nodes doing it at once could cross again)
 * and probed at once. Once per peer added; a peer that cannot be reached at all costs one extra
 * WireGuard operation.
 */
export class HandshakeGuard {
  /** Peers added and not looked at yet, with when they were added. */
  private readonly pending = new Map<string, { publicKey: string; addedMs: number }>();
  private timer: ReturnType<Timers['setTimeout']> | undefined;
  private stopped = false;
  private readonly logger: Logger;
  private readonly now: () => number;

  constructor(private readonly components: HandshakeGuardComponents, private readonly checkAfterMs = HANDSHAKE_GUARD_DEFAULTS.checkAfterMs) {
    this.logger = components.logger ?? silentLogger();
    this.now = components.now ?? Date.now;
  }

  /** Peers the node has just added (or whose key changed): each is looked at once, checkAfterMs from now. */
  added(peers: readonly { name: string; publicKey: string }[]): void {
    if (this.stopped || peers.length === 0) return;
    const now = this.now();
    for (const p of peers) this.pending.set(p.name, { publicKey: p.publicKey, addedMs: now });
    this.timer ??= this.components.timers.setTimeout(() => {
      this.timer = undefined;
      void this.check();
    }, this.checkAfterMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) this.components.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }

  /** Looks at the peers that are due; the rest wait for a later look. */
  async check(): Promise<void> {
    const now = this.now();
    const due = [...this.pending].filter(([, p]) => now - p.addedMs >= this.checkAfterMs);
    for (const [name] of due) this.pending.delete(name);
    if (this.pending.size > 0 && !this.stopped) {
      const next = Math.min(...[...this.pending.values()].map((p) => p.addedMs + this.checkAfterMs)) - now;
      this.timer ??= this.components.timers.setTimeout(() => {
        this.timer = undefined;
        void this.check();
      }, Math.max(0, next));
    }
    const c = this.components;
    // Still the same peer, this node's to open, and silent: only then is the device asked.
    const silent = due.filter(([name, p]) => c.publicKeyOf(name) === p.publicKey && c.opens(name) && !c.answered(name, p.addedMs));
    if (silent.length === 0 || this.stopped) return;
    let handshakes: ReadonlyMap<string, number>;
    try {
      handshakes = await c.latestHandshakes();
    } catch (err) {
      this.logger.debug('could not read the device for first handshakes', { err: errorMessage(err) });
      return;
    }
    for (const [name, p] of silent) {
      if (this.stopped || (handshakes.get(p.publicKey) ?? 0) > 0) continue;
      this.logger.info('no handshake with a new peer yet: configuring it afresh so WireGuard starts one now', { node: name, afterMs: now - p.addedMs });
      try {
        await c.restart(name);
        c.probe(name);
      } catch (err) {
        this.logger.warn('could not configure a silent peer afresh', { node: name, err: errorMessage(err) });
      }
    }
  }
}
