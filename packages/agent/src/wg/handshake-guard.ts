import { errorMessage, silentLogger, type Logger } from '../log.js';
import type { Timers } from '../timers.js';

/**
 * When the guard looks at a peer, after it was added. The first look is early: crossed
 * initiations (below) happen when both nodes send at once as they add each other, and a restart
 * costs one round trip. The second covers a peer that was not ready yet at the first (its node
 * still starting, on a loaded machine); WireGuard's own retry would come only at 5 s.
 */
export const HANDSHAKE_GUARD_DEFAULTS = { looksAfterMs: [500, 1_500] as readonly number[] };

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
 * at a look after it was added (looksAfterMs), has had no handshake and answered no probe since is
 * configured afresh by the node that opens the pair (only that one: two nodes doing it at once
 * could cross again) and probed at once. At most once per look; a peer that cannot be reached at
 * all costs one extra WireGuard operation per look.
 */
export class HandshakeGuard {
  /** Peers added with looks still to come: when each was added, and its next look (an index into looksAfterMs). */
  private readonly pending = new Map<string, { publicKey: string; addedMs: number; look: number }>();
  private timer: ReturnType<Timers['setTimeout']> | undefined;
  /** When the timer fires (the guard's clock). */
  private timerAtMs = Infinity;
  private stopped = false;
  private readonly logger: Logger;
  private readonly now: () => number;

  constructor(private readonly components: HandshakeGuardComponents, private readonly looksAfterMs: readonly number[] = HANDSHAKE_GUARD_DEFAULTS.looksAfterMs) {
    if (looksAfterMs.length === 0 || looksAfterMs.some((ms, i) => !(ms >= 0) || (i > 0 && ms <= looksAfterMs[i - 1]!))) {
      throw new RangeError(`handshake guard looks ${looksAfterMs.join(', ')} ms: give one or more increasing times`);
    }
    this.logger = components.logger ?? silentLogger();
    this.now = components.now ?? Date.now;
  }

  /** Peers the node has just added (or whose key changed): each is looked at looksAfterMs from now. */
  added(peers: readonly { name: string; publicKey: string }[]): void {
    if (this.stopped || peers.length === 0) return;
    const now = this.now();
    for (const p of peers) this.pending.set(p.name, { publicKey: p.publicKey, addedMs: now, look: 0 });
    this.schedule(now);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) this.components.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAtMs = Infinity;
    this.pending.clear();
  }

  /** The timer for the earliest look to come (an earlier one replaces a later one). */
  private schedule(now: number): void {
    if (this.stopped || this.pending.size === 0) return;
    const at = Math.min(...[...this.pending.values()].map((p) => p.addedMs + this.looksAfterMs[p.look]!));
    if (this.timer && at >= this.timerAtMs) return;
    if (this.timer) this.components.timers.clearTimeout(this.timer);
    this.timerAtMs = at;
    this.timer = this.components.timers.setTimeout(() => {
      this.timer = undefined;
      this.timerAtMs = Infinity;
      void this.check();
    }, Math.max(0, at - now));
  }

  /** Looks at the peers that are due; each moves on to its next look, or is done after its last. */
  async check(): Promise<void> {
    const now = this.now();
    const due = [...this.pending].filter(([, p]) => now - p.addedMs >= this.looksAfterMs[p.look]!);
    for (const [name, p] of due) {
      p.look++;
      if (p.look >= this.looksAfterMs.length) this.pending.delete(name);
    }
    this.schedule(now);
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
