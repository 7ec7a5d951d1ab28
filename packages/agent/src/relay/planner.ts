import { createHash } from 'node:crypto';
import type { MeshNode } from '../netmap/netmap.js';
import { handshakeAlive } from '../endpoints/selector.js';
import type { WgPeerState } from '../wg/types.js';

/** When a peer is sent through a relay, and when it comes back; see RelayPlanner. */
export const RELAY_DEFAULTS = {
  /** A peer without a direct handshake this long after it was configured goes through a relay. */
  relayAfterMs: 5_000,
  /** A relayed peer that has not answered a probe this long: its relay is taken for failed. */
  relayFailMs: 4_000,
  /** A relay that has not answered a probe of its own this long is not chosen. */
  relayAliveMs: 3_000,
  /** A relay taken for failed is not chosen again for a pair for this long. */
  failedRelayHoldMs: 60_000,
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
  /**
   * When a peer last answered an RTT probe sent to its mesh IP (undefined: never, or no probing).
   * Probes follow the mesh route, so for a relayed peer they test the whole way through the relay.
   */
  readonly lastAnswerMs?: (name: string) => number | undefined;
}

interface PeerPath {
  readonly publicKey: string;
  /** When this node first configured the peer (under this key). */
  readonly sinceMs: number;
  /** The relay the peer's mesh IP is routed through; undefined: direct. */
  via: string | undefined;
  /** When the peer went through `via`. */
  viaSinceMs: number;
  /** Relays that failed this pair, until when. */
  readonly failed: Map<string, number>;
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
 *   relayAfterMs since this node configured it.
 * - The relay: a node the bootstrap granted relaying to (Node.relay), not the peer itself, with a
 *   live WireGuard session here and, with probing on, answering its probes. Both ends must pick
 *   the same one: WireGuard accepts a packet from the relay only if its source is in the relay
 *   entry's allowed IPs, so a pair split over two relays has no path at all (seen in the e2e
 *   test). Each end therefore ranks the live relays by a hash of the pair's two names and the
 *   relay's (rendezvous hashing): no coordination, the same answer at both ends whenever they
 *   see the same relays live, and pairs spread over the relays. RTT is not used: the two ends'
 *   measurements differ, and a choice that differs breaks the pair.
 * - Direct keeps being tried (the peer's own entry stays configured, with keepalive): the first
 *   direct handshake after the move brings the peer back.
 * - A relayed peer that stops answering probes for relayFailMs marks its relay failed for the
 *   pair; the next relay is taken, or direct when there is none.
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
    return out.sort((a, b) => a.peer.localeCompare(b.peer));
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
    for (const peer of peers) {
      let path = this.paths.get(peer.name);
      if (!path || path.publicKey !== peer.publicKey) {
        if (path?.via) changes.push({ peer: peer.name, from: path.via, to: undefined, reason: 'the peer has a new key' });
        this.route(peer.name, path?.via, undefined);
        path = { publicKey: peer.publicKey, sinceMs: now, via: undefined, viaSinceMs: 0, failed: new Map() };
        this.paths.set(peer.name, path);
      }
      for (const [relay, until] of path.failed) if (until <= now) path.failed.delete(relay);
      const change = this.decide(peer, path, byName, observation);
      if (change) {
        changes.push({ peer: peer.name, from: path.via, to: change.to, reason: change.reason });
        this.route(peer.name, path.via, change.to);
        path.via = change.to;
        path.viaSinceMs = now;
      }
    }
    return changes;
  }

  private decide(peer: MeshNode, path: PeerPath, peers: ReadonlyMap<string, MeshNode>, observation: PathObservation): { to: string | undefined; reason: string } | undefined {
    const { now, device } = observation;
    const direct = device.get(peer.publicKey);
    const directHandshakeMs = direct?.latestHandshakeMs ?? 0;
    if (peer.relay) return path.via ? { to: undefined, reason: 'the peer is a relay itself' } : undefined;
    if (observation.selfIsRelay) return path.via ? { to: undefined, reason: 'this node relays itself' } : undefined;
    if (!path.via) {
      if (direct && handshakeAlive(direct, now)) return undefined;
      if (now - path.sinceMs < this.settings.relayAfterMs) return undefined;
      const relay = this.chooseRelay(peer, path, peers, observation);
      return relay ? { to: relay, reason: `no direct handshake ${Math.round((now - Math.max(path.sinceMs, directHandshakeMs)) / 1000)} s after configuring it` } : undefined;
    }
    if (directHandshakeMs > path.viaSinceMs) return { to: undefined, reason: 'a direct handshake came' };
    const relay = peers.get(path.via);
    let failure: string | undefined;
    if (!relay) failure = 'the relay left the mesh';
    else if (!relay.relay) failure = 'the node no longer relays';
    else if (observation.lastAnswerMs) {
      const heard = Math.max(path.viaSinceMs, observation.lastAnswerMs(peer.name) ?? 0);
      if (now - heard >= this.settings.relayFailMs) failure = `no answer through it for ${Math.round((now - heard) / 1000)} s`;
    }
    if (!failure) return undefined;
    path.failed.set(path.via, now + this.settings.failedRelayHoldMs);
    const next = this.chooseRelay(peer, path, peers, observation);
    return { to: next, reason: failure };
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

  /** The relay for a pair: granted, not failed for it, live here; the first in the pair's rendezvous order. */
  private chooseRelay(peer: MeshNode, path: PeerPath, peers: ReadonlyMap<string, MeshNode>, observation: PathObservation): string | undefined {
    const { now, device } = observation;
    const candidates: { name: string; rank: string }[] = [];
    const pair = peer.name < observation.selfName ? `${peer.name}|${observation.selfName}` : `${observation.selfName}|${peer.name}`;
    for (const relay of peers.values()) {
      if (!relay.relay || relay.name === peer.name || path.failed.has(relay.name)) continue;
      const session = device.get(relay.publicKey);
      if (!session || !handshakeAlive(session, now)) continue;
      if (observation.lastAnswerMs) {
        const answered = observation.lastAnswerMs(relay.name);
        if (answered === undefined || now - answered >= this.settings.relayAliveMs) continue;
      }
      candidates.push({ name: relay.name, rank: rendezvousRank(pair, relay.name) });
    }
    candidates.sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : a.name.localeCompare(b.name)));
    return candidates[0]?.name;
  }
}

/** A relay's place in a pair's order: the same at both ends, independent between pairs. */
export function rendezvousRank(pair: string, relay: string): string {
  return createHash('sha256').update(`${pair}|${relay}`).digest('hex');
}
