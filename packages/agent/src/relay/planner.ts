import { createHash } from 'node:crypto';
import { compareNames, type MeshNode } from '../netmap/netmap.js';
import { handshakeAlive } from '../endpoints/selector.js';
import type { WgPeerState } from '../wg/types.js';

/** When a peer is sent through a relay, and when it comes back; see RelayPlanner. */
export const RELAY_DEFAULTS = {
  /** A peer without a direct handshake this long after it was configured goes through a relay. */
  relayAfterMs: 5_000,
  /** A relay is chosen only if it answered a probe of its own this recently (or within 3 probe rounds, if longer). */
  relayAliveMs: 3_000,
  /** A relay in use is dropped when it has not answered for this long (or 4 probe rounds): a little more than relayAliveMs, so a late probe does not make pairs flap. */
  relayFailMs: 4_000,
  /**
   * A relayed pair goes back to direct this long after the direct handshake (by its time in
   * `wg show`, the same second at both ends), at both ends at once: a pair whose ends disagree
   * drops packets (see RelayPlanner), so the switch is timed, not left to each end's next review.
   */
  returnDelayMs: 3_000,
} as const;

export type RelaySettings = { -readonly [K in keyof typeof RELAY_DEFAULTS]: number };

/** What the planner reads at each review: the device's peers and, with probing on, the probes' answers. */
export interface PathObservation {
  readonly now: number;
  /** This node's name: both ends of a pair rank relays by the pair's names, alike. */
  readonly selfName: string;
  /** This node is a relay: then every peer is direct, as every peer treats it (the choice must be the same at both ends). */
  readonly selfIsRelay?: boolean;
  /** The device's peers by public key (`wg show dump`). */
  readonly device: ReadonlyMap<string, WgPeerState>;
  /** When a node last answered an RTT probe (undefined: never, or no probing). */
  readonly lastAnswerMs?: (name: string) => number | undefined;
  /** How long a probe round takes now (it stretches with the mesh's size); liveness allows a few rounds. */
  readonly probeRoundMs?: number;
  /**
   * Per peer, when probes come at different cadences (the prober's rest mode): how often it is
   * probed now and since when. Liveness then allows a few of its own rounds, counted from no
   * earlier than the moment its cadence began: a peer just moved to fast probing is not judged by
   * its last answer at rest, long ago.
   */
  readonly probeCadence?: (name: string) => { readonly roundMs: number; readonly sinceMs: number } | undefined;
}

interface PeerPath {
  readonly publicKey: string;
  /** When this node first configured the peer (under this key). */
  readonly sinceMs: number;
  /** The relay the peer's mesh IP is routed through; undefined: direct. */
  via: string | undefined;
  /** When the peer went through `via`. */
  viaSinceMs: number;
  /** The direct entry's handshake time when the pair went through a relay: a newer one means direct works. */
  handshakeWhenRelayedMs: number;
  /** A direct handshake came while relayed: back to direct at this time (wall clock, ms). */
  directAtMs: number | undefined;
}

const NO_PEERS: ReadonlySet<string> = new Set();

/** One peer's route as it changed at a review: `from`/`to` are relay names, undefined for direct. */
export interface PathChange {
  readonly peer: string;
  readonly from: string | undefined;
  readonly to: string | undefined;
  readonly reason: string;
}

/**
 * Decides, per peer, whether its mesh IP is routed to its own WireGuard peer (direct) or to a
 * relay's (DESIGN.md, "Every pair connects"). Pure apart from what each review is given.
 *
 * - Direct first: a peer goes through a relay only once it has had no direct handshake for
 *   relayAfterMs since this node configured it, or (with probing on) once a peer that answered
 *   probes over its live direct session stops answering for relayFailMs: a broken path's session
 *   looks alive to WireGuard for up to 3 minutes.
 * - The relay: a node the bootstrap granted relaying to (Node.relay), not the peer itself, with a
 *   live WireGuard session here and, with probing on, answering its probes. Both ends must pick
 *   the same one: WireGuard accepts a packet from the relay only if its source is in the relay
 *   entry's allowed IPs, so a pair split over two relays has no path at all (seen in the e2e
 *   test). Each end therefore ranks the live relays by a hash of the pair's two names and the
 *   relay's (rendezvous hashing): no coordination, the same answer at both ends whenever they
 *   see the same relays live, and pairs spread over the relays. RTT is not used: the two ends'
 *   measurements differ, and a choice that differs breaks the pair.
 *   A relayed pair keeps following that order: when the relay in use stops being live (it left,
 *   stopped relaying, or stopped answering probes), or one ranked before it comes live, the pair
 *   moves, at both ends alike; with no live relay left it goes back to direct attempts.
 * - Direct keeps being tried (the peer's own entry stays configured, with keepalive): the first
 *   direct handshake after the move brings the peer back, returnDelayMs after that handshake's
 *   time, which both ends read alike (see dueMs).
 * Pairs with a relay in them are always direct, at both ends: a relay is by definition directly
 * reachable, and a pair's two ends must agree.
 */
export class RelayPlanner {
  private readonly paths = new Map<string, PeerPath>();
  /** relay -> the peers routed through it: the WireGuard config asks per relay, O(1) each. */
  private readonly byRelay = new Map<string, Set<string>>();
  private readonly settings: RelaySettings;

  constructor(settings: Partial<RelaySettings> = {}) {
    this.settings = { ...RELAY_DEFAULTS, ...settings };
  }

  /** The relay a peer is routed through now, or undefined for direct. */
  via(peer: string): string | undefined {
    return this.paths.get(peer)?.via;
  }

  /** Every relayed peer with its relay, sorted by peer name. */
  relayed(): { peer: string; via: string }[] {
    const out: { peer: string; via: string }[] = [];
    for (const [peer, path] of this.paths) if (path.via) out.push({ peer, via: path.via });
    return out.sort((a, b) => compareNames(a.peer, b.peer));
  }

  /** True while some peer goes through a relay. */
  hasRelayed(): boolean {
    return this.byRelay.size > 0;
  }

  /** The peers routed through `relay`. */
  routedThrough(relay: string): ReadonlySet<string> {
    return this.byRelay.get(relay) ?? NO_PEERS;
  }

  /** True while some peer has no live direct session or is relayed: reviews must come often then. */
  unsettled(observation: Pick<PathObservation, 'now' | 'device'>): boolean {
    for (const path of this.paths.values()) {
      if (path.via) return true;
      const state = observation.device.get(path.publicKey);
      if (!state || !handshakeAlive(state, observation.now)) return true;
    }
    return false;
  }

  /**
   * Brings each peer's route up to date with what is observed; returns the routes that changed.
   * `peers` are the netmap's nodes other than this one.
   */
  review(peers: readonly MeshNode[], observation: PathObservation): PathChange[] {
    const { now } = observation;
    const changes: PathChange[] = [];
    const byName = new Map(peers.map((p) => [p.name, p]));
    for (const [name, path] of this.paths) {
      if (byName.has(name)) continue;
      if (path.via) changes.push({ peer: name, from: path.via, to: undefined, reason: 'the peer left the mesh' });
      this.route(name, path.via, undefined);
      this.paths.delete(name);
    }
    // Relays are few, peers many: the live ones are found once per review, not once per peer.
    const liveRelays = peers.filter((p) => p.relay && this.relayLive(p, observation, 'alive'));
    for (const peer of peers) {
      let path = this.paths.get(peer.name);
      if (!path || path.publicKey !== peer.publicKey) {
        if (path?.via) changes.push({ peer: peer.name, from: path.via, to: undefined, reason: 'the peer has a new key' });
        this.route(peer.name, path?.via, undefined);
        path = { publicKey: peer.publicKey, sinceMs: now, via: undefined, viaSinceMs: 0, handshakeWhenRelayedMs: 0, directAtMs: undefined };
        this.paths.set(peer.name, path);
      }
      const change = this.decide(peer, path, byName, liveRelays, observation);
      if (change) {
        changes.push({ peer: peer.name, from: path.via, to: change.to, reason: change.reason });
        if (!path.via) path.handshakeWhenRelayedMs = observation.device.get(peer.publicKey)?.latestHandshakeMs ?? 0;
        this.route(peer.name, path.via, change.to);
        path.via = change.to;
        path.viaSinceMs = now;
        path.directAtMs = undefined;
      }
    }
    return changes;
  }

  /** The earliest time a pending return to direct is due (wall clock, ms), undefined for none. */
  dueMs(): number | undefined {
    let due: number | undefined;
    for (const path of this.paths.values()) if (path.via && path.directAtMs !== undefined && (due === undefined || path.directAtMs < due)) due = path.directAtMs;
    return due;
  }

  /**
   * The returns to direct due by `now`, made without a fresh device read (the handshake that
   * decided them was seen already): called at the moment they are due, so both ends switch
   * together.
   */
  settleDue(now: number): PathChange[] {
    const changes: PathChange[] = [];
    for (const [name, path] of this.paths) {
      if (!path.via || path.directAtMs === undefined || path.directAtMs > now) continue;
      changes.push({ peer: name, from: path.via, to: undefined, reason: 'a direct handshake came' });
      this.route(name, path.via, undefined);
      path.via = undefined;
      path.viaSinceMs = now;
      path.directAtMs = undefined;
    }
    return changes;
  }

  private decide(peer: MeshNode, path: PeerPath, peers: ReadonlyMap<string, MeshNode>, liveRelays: readonly MeshNode[], observation: PathObservation): { to: string | undefined; reason: string } | undefined {
    const { now, device } = observation;
    const direct = device.get(peer.publicKey);
    const directHandshakeMs = direct?.latestHandshakeMs ?? 0;
    if (peer.relay) return path.via ? { to: undefined, reason: 'the peer is a relay itself' } : undefined;
    if (observation.selfIsRelay) return path.via ? { to: undefined, reason: 'this node relays itself' } : undefined;
    if (!path.via) {
      if (direct && handshakeAlive(direct, now)) {
        // A session stays "alive" for up to 3 minutes after its path broke; probes tell sooner. Only
        // a peer that did answer counts (one with probing off never does).
        const answered = this.answeredMs(peer.name, observation);
        if (answered === undefined || now - answered < this.failMs(peer.name, observation)) return undefined;
        const relay = this.chooseRelay(peer, liveRelays, observation);
        return relay ? { to: relay, reason: `the direct path stopped answering probes ${Math.round((now - answered) / 1000)} s ago` } : undefined;
      }
      if (now - path.sinceMs < this.settings.relayAfterMs) return undefined;
      const relay = this.chooseRelay(peer, liveRelays, observation);
      return relay ? { to: relay, reason: `no direct handshake ${Math.round((now - Math.max(path.sinceMs, directHandshakeMs)) / 1000)} s after configuring it` } : undefined;
    }
    if (directHandshakeMs > path.handshakeWhenRelayedMs) {
      path.directAtMs = directHandshakeMs + this.settings.returnDelayMs;
      return now >= path.directAtMs ? { to: undefined, reason: 'a direct handshake came' } : undefined;
    }
    const best = this.chooseRelay(peer, liveRelays, observation);
    if (best === path.via) return undefined;
    const current = peers.get(path.via);
    const inUseLive = current?.relay === true && this.relayLive(current, observation, 'fail');
    // Hysteresis: the relay in use is kept until it fails by the looser bound, unless one ranked before it is live.
    if (inUseLive && (best === undefined || !this.ranksBefore(best, path.via, peer, observation))) return undefined;
    const reason = !current ? 'the relay left the mesh'
      : !current.relay ? 'the node no longer relays'
      : !inUseLive ? 'the relay stopped answering'
      : `${best} ranks first for this pair`;
    return { to: best, reason };
  }

  /** How long one probe round to `name` takes now. */
  private roundMs(name: string, observation: PathObservation): number {
    return observation.probeCadence?.(name)?.roundMs ?? observation.probeRoundMs ?? 0;
  }

  private aliveMs(name: string, observation: PathObservation): number {
    return Math.max(this.settings.relayAliveMs, 3 * this.roundMs(name, observation));
  }

  private failMs(name: string, observation: PathObservation): number {
    return Math.max(this.settings.relayFailMs, 4 * this.roundMs(name, observation));
  }

  /**
   * When `name` last answered, for liveness: no earlier than the start of its current cadence (see
   * PathObservation.probeCadence); undefined when it never answered.
   */
  private answeredMs(name: string, observation: PathObservation): number | undefined {
    const answered = observation.lastAnswerMs?.(name);
    if (answered === undefined) return undefined;
    const since = observation.probeCadence?.(name)?.sinceMs;
    return since === undefined ? answered : Math.max(answered, since);
  }

  /** A relay with a live WireGuard session here that (with probing on) answered within its alive (or looser fail) bound. */
  private relayLive(relay: MeshNode, observation: PathObservation, bound: 'alive' | 'fail'): boolean {
    const session = observation.device.get(relay.publicKey);
    if (!session || !handshakeAlive(session, observation.now)) return false;
    if (!observation.lastAnswerMs) return true;
    const answered = this.answeredMs(relay.name, observation);
    const withinMs = bound === 'alive' ? this.aliveMs(relay.name, observation) : this.failMs(relay.name, observation);
    return answered !== undefined && observation.now - answered < withinMs;
  }

  private ranksBefore(a: string, b: string, peer: MeshNode, observation: PathObservation): boolean {
    const pair = pairOf(peer.name, observation.selfName);
    return rendezvousRank(pair, a) < rendezvousRank(pair, b);
  }

  private route(peer: string, from: string | undefined, to: string | undefined): void {
    if (from) {
      const set = this.byRelay.get(from);
      set?.delete(peer);
      if (set?.size === 0) this.byRelay.delete(from);
    }
    if (to) {
      const set = this.byRelay.get(to) ?? new Set<string>();
      set.add(peer);
      this.byRelay.set(to, set);
    }
  }

  /** The relay for a pair among the live ones: not the peer itself; the first in the pair's rendezvous order. */
  private chooseRelay(peer: MeshNode, liveRelays: readonly MeshNode[], observation: PathObservation): string | undefined {
    const pair = pairOf(peer.name, observation.selfName);
    let best: { name: string; rank: string } | undefined;
    for (const relay of liveRelays) {
      if (relay.name === peer.name) continue;
      const rank = rendezvousRank(pair, relay.name);
      if (!best || rank < best.rank) best = { name: relay.name, rank };
    }
    return best?.name;
  }
}

function pairOf(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

/** A relay's place in a pair's order: the same at both ends, independent between pairs. */
export function rendezvousRank(pair: string, relay: string): string {
  return createHash('sha256').update(`${pair}|${relay}`).digest('hex');
}
