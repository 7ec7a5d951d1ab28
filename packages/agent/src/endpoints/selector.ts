import { networkInterfaces } from 'node:os';
import ipaddr from 'ipaddr.js';
import type { MeshNode } from '../netmap/netmap.js';
import type { WgPeerState } from '../wg/types.js';
import { formatEndpoint } from './endpoints.js';

/** WireGuard retries a handshake every 5 s: a candidate gets a little longer than one retry. */
export const CANDIDATE_TRIAL_MS = 6_000;
/** A session is alive while it rekeys (every 2 minutes); past this it is gone. */
export const HANDSHAKE_ALIVE_MS = 180_000;

/** A WireGuard session is live: a handshake younger than HANDSHAKE_ALIVE_MS. */
export function handshakeAlive(peer: Pick<WgPeerState, 'latestHandshakeMs'>, now: number): boolean {
  return peer.latestHandshakeMs > 0 && now - peer.latestHandshakeMs < HANDSHAKE_ALIVE_MS;
}

export interface LocalNetwork {
  readonly address: string;
  readonly prefixLength: number;
}

/** This machine's own subnets (for "same LAN" ranking), wg interfaces excluded. */
export function localNetworks(): LocalNetwork[] {
  const out: LocalNetwork[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (name.startsWith('wg')) continue;
    for (const a of addrs ?? []) {
      if (a.internal || !a.cidr) continue;
      out.push({ address: a.address, prefixLength: Number(a.cidr.split('/')[1]) });
    }
  }
  return out;
}

/**
 * Our subnets, parsed once for as long as they are the same: "is this candidate on our LAN?" is
 * asked for every LAN address of every peer a pass ranks, and parsing addresses (IPv6 above all)
 * was most of a ranking's cost. Dotted-quad IPv4 candidates (nearly all of them) are compared as
 * numbers, without ipaddr.js.
 */
export class LocalSubnets {
  private readonly parsed: { readonly net: ipaddr.IPv4 | ipaddr.IPv6; readonly prefixLength: number }[];
  /** The IPv4 subnets (v4-mapped IPv6 ones included, as ipaddr.process sees them) as numbers. */
  private readonly v4: { readonly net: number; readonly prefixLength: number }[] = [];
  constructor(readonly networks: readonly LocalNetwork[]) {
    this.parsed = networks.filter((n) => ipaddr.isValid(n.address)).map((n) => ({ net: ipaddr.process(n.address), prefixLength: n.prefixLength }));
    for (const { net, prefixLength } of this.parsed) {
      if (net.kind() === 'ipv4') this.v4.push({ net: ipv4Number(net.toString())!, prefixLength });
    }
  }

  contains(ip: string): boolean {
    if (this.parsed.length === 0) return false;
    const v4 = ipv4Number(ip);
    if (v4 !== undefined) return this.v4.some((n) => samePrefix(v4, n.net, n.prefixLength));
    if (!ipaddr.isValid(ip)) return false;
    const addr = ipaddr.process(ip);
    return this.parsed.some((n) => n.net.kind() === addr.kind() && addr.match(n.net, n.prefixLength));
  }
}

/**
 * A plain dotted-quad IPv4 address (four decimal parts 0-255, no leading zeros) as an unsigned
 * 32-bit number; undefined for anything else, which the caller leaves to ipaddr.js.
 */
export function ipv4Number(ip: string): number | undefined {
  let value = 0;
  let part = -1;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return undefined;
      value = value * 256 + part;
      part = -1;
      digits = 0;
      dots++;
      continue;
    }
    if (c < 48 || c > 57 || (digits === 1 && part === 0)) return undefined;
    part = digits === 0 ? c - 48 : part * 10 + (c - 48);
    if (++digits > 3 || part > 255) return undefined;
  }
  if (dots !== 3 || digits === 0) return undefined;
  return value * 256 + part;
}

function samePrefix(a: number, b: number, prefixLength: number): boolean {
  if (prefixLength <= 0) return true;
  const shift = 32 - Math.min(prefixLength, 32);
  return Math.floor(a / 2 ** shift) === Math.floor(b / 2 ** shift);
}

/**
 * A peer's endpoint candidates in the order to try them: an operator-configured address, then
 * LAN addresses on one of our own subnets, then a port mapping on the peer's router (it lets in
 * any sender, no hole punching needed), then what the bootstrap observed (post-NAT), then
 * STUN, then the peer's other LAN addresses. Duplicates collapse to their best rank.
 * 'all-local' counts every LAN address as on our subnet (no trial of candidates, e.g. in tests).
 */
export function rankCandidates(node: MeshNode, networks: readonly LocalNetwork[] | LocalSubnets | 'all-local'): string[] {
  // One candidate (most nodes on a LAN): nothing to rank.
  if (node.endpoints.length === 1) return [formatEndpoint(node.endpoints[0]!.ip, node.endpoints[0]!.port)];
  let subnets: LocalSubnets | undefined = networks instanceof LocalSubnets ? networks : undefined;
  const sameLan = (ip: string) => networks === 'all-local' || (subnets ??= new LocalSubnets(networks as readonly LocalNetwork[])).contains(ip);
  const rank = (kind: string, ip: string): number => {
    switch (kind) {
      case 'ENDPOINT_KIND_CONFIGURED': return 0;
      case 'ENDPOINT_KIND_LAN': return sameLan(ip) ? 1 : 4;
      case 'ENDPOINT_KIND_MAPPED': return 1.5;
      case 'ENDPOINT_KIND_OBSERVED': return 2;
      case 'ENDPOINT_KIND_STUN': return 3;
      default: return 5;
    }
  };
  const ranked = node.endpoints
    .map((e, i) => ({ endpoint: formatEndpoint(e.ip, e.port), rank: rank(e.kind, e.ip), i }))
    .sort((a, b) => a.rank - b.rank || a.i - b.i);
  return [...new Set(ranked.map((r) => r.endpoint))];
}

interface PeerTrial {
  candidates: string[];
  index: number;
  since: number;
  /**
   * What `candidates` was ranked from: the node's endpoints array (replaced when they change) and
   * this host's networks. While both are the same objects, the ranking stands and is not redone.
   */
  endpoints: MeshNode['endpoints'];
  networks: LocalSubnets;
}

/**
 * Chooses, per peer, which candidate WireGuard uses: the best-ranked first; if no handshake
 * comes within a trial period, the next; a working one is kept, and when it stops working the
 * search moves on. Pure apart from the clock it is given.
 */
export class EndpointSelector {
  private readonly trials = new Map<string, PeerTrial>();
  /**
   * Trials with more than one candidate, kept as trials change: hasChoices() is asked each time a
   * peer's endpoint is (every peer of every pass while no review is scheduled), and counting them
   * over all trials there made each membership change O(n), a full pass O(n²).
   */
  private withChoices = 0;
  private cachedNetworks: { at: number; value: LocalSubnets } | undefined;

  constructor(
    private readonly readNetworks: () => readonly LocalNetwork[] = localNetworks,
    private readonly now: () => number = Date.now,
  ) {}

  /** Our subnets, re-read at most every 5 s: getifaddrs is not free, and every changed peer asks. */
  private networks(): LocalSubnets {
    const now = this.now();
    if (!this.cachedNetworks || now - this.cachedNetworks.at > 5000 || now < this.cachedNetworks.at) {
      const value = this.readNetworks();
      // The same networks keep the same object: the rankings made against it stay valid (endpointFor).
      const same = this.cachedNetworks && JSON.stringify(this.cachedNetworks.value.networks) === JSON.stringify(value);
      this.cachedNetworks = { at: now, value: same ? this.cachedNetworks!.value : new LocalSubnets(value) };
    }
    return this.cachedNetworks.value;
  }

  /**
   * The endpoint to configure for this node now (used by the WireGuard config). A peer's ranking
   * is kept in its trial and redone only when its endpoints or this host's networks change: a full
   * reconcile of a large mesh asks for every peer's, and ranking parses every address.
   */
  endpointFor(node: MeshNode): string | undefined {
    const networks = this.networks();
    const trial = this.trials.get(node.publicKey);
    if (trial && trial.endpoints === node.endpoints && trial.networks === networks) return trial.candidates[trial.index];
    const candidates = rankCandidates(node, networks);
    if (candidates.length === 0) return undefined;
    if (trial && sameList(trial.candidates, candidates)) {
      trial.endpoints = node.endpoints;
      trial.networks = networks;
      return trial.candidates[trial.index];
    }
    // New or changed candidates: keep the current one if it is still offered, unless a better
    // one than any before came (a port mapping, say): that one is tried at once.
    const better = trial !== undefined && !trial.candidates.includes(candidates[0]!);
    const keep = trial && !better ? candidates.indexOf(trial.candidates[trial.index]!) : -1;
    const index = keep >= 0 ? keep : 0;
    this.setTrial(node.publicKey, { candidates, index, since: trial && keep >= 0 ? trial.since : this.now(), endpoints: node.endpoints, networks });
    return candidates[index];
  }

  /** True when some peer has more than one candidate, so reviewing can change anything. */
  hasChoices(): boolean {
    return this.withChoices > 0;
  }

  private setTrial(key: string, trial: PeerTrial): void {
    this.deleteTrial(key);
    this.trials.set(key, trial);
    if (trial.candidates.length > 1) this.withChoices++;
  }

  private deleteTrial(key: string): void {
    const old = this.trials.get(key);
    if (!old) return;
    this.trials.delete(key);
    if (old.candidates.length > 1) this.withChoices--;
  }

  /**
   * Looks at the device's peers; returns the public keys whose candidate was advanced (their
   * peer config must be re-applied). A peer with a live handshake keeps what it has.
   */
  review(peers: readonly WgPeerState[]): string[] {
    const now = this.now();
    const advanced: string[] = [];
    const present = new Set<string>();
    for (const peer of peers) {
      present.add(peer.publicKey);
      const trial = this.trials.get(peer.publicKey);
      if (!trial || trial.candidates.length < 2) continue;
      if (handshakeAlive(peer, now)) {
        trial.since = now;
        continue;
      }
      if (now - trial.since < CANDIDATE_TRIAL_MS) continue;
      trial.index = (trial.index + 1) % trial.candidates.length;
      trial.since = now;
      advanced.push(peer.publicKey);
    }
    for (const key of this.trials.keys()) if (!present.has(key)) this.deleteTrial(key);
    return advanced;
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
