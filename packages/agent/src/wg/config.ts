import type { MeshNode, Netmap } from '../netmap/netmap.js';
import type { WgDeviceState, WgOp, WgPeerConfig, WgPeerState } from './types.js';
import { handshakeAlive, rankCandidates } from '../endpoints/selector.js';

export interface DesiredWgConfig {
  readonly peers: readonly WgPeerConfig[];
}

export interface WgConfigOptions {
  /** Which of a peer's endpoint candidates to use now; default: the first by preference. */
  readonly endpointFor?: (node: MeshNode) => string | undefined;
  /** Persistent keepalive in seconds for every peer (0: off). */
  readonly persistentKeepalive?: number;
  /** A node's allowed IPs; default its own /32 (relays move it, see RelayPaths). */
  readonly allowedIpsFor?: (node: MeshNode) => string[];
  /** Keepalive for this node instead of persistentKeepalive (a relayed peer keeps trying direct). */
  readonly keepaliveFor?: (node: MeshNode) => number | undefined;
  /** The preshared key of this node's pair with the node (bootstrap -psk); undefined: none given. */
  readonly presharedKeyFor?: (node: MeshNode) => string | undefined;
  /** True while the mesh has preshared keys and this node's is not known yet: it is no peer until then. */
  readonly presharedKeyPending?: (node: MeshNode) => boolean;
}

/** The best-ranked endpoint, every LAN address counted as reachable: for fixed options without a selector. */
export function defaultEndpointFor(node: MeshNode): string | undefined {
  return rankCandidates(node, 'all-local')[0];
}

/** Pure: the WireGuard peer for one mesh node, or undefined when it cannot be a peer yet. */
export function wgPeerFor(node: MeshNode, options: WgConfigOptions = {}): WgPeerConfig | undefined {
  if (!node.publicKey || !node.meshIp) return undefined;
  if (options.presharedKeyPending?.(node)) return undefined;
  const endpoint = (options.endpointFor ?? defaultEndpointFor)(node);
  const keepalive = options.keepaliveFor?.(node) ?? options.persistentKeepalive;
  const presharedKey = options.presharedKeyFor?.(node);
  // Optional fields are left out, not undefined; set one by one: this runs for every peer of
  // every pass, and spreading `{ ...(x ? { x } : {}) }` allocates an object per field.
  const peer: Mutable<WgPeerConfig> = {
    publicKey: node.publicKey,
    allowedIps: options.allowedIpsFor ? options.allowedIpsFor(node) : [hostPrefix(node.meshIp)],
  };
  if (endpoint) peer.endpoint = endpoint;
  if (keepalive) peer.persistentKeepalive = keepalive;
  if (presharedKey) peer.presharedKey = presharedKey;
  return peer;
}

/**
 * Pure: the peers this node's WireGuard device should have for a netmap, in the node table's
 * order (WireGuard has no order of peers; a full pass of a large mesh need not sort names).
 */
export function wgConfigFromNetmap(netmap: Netmap, options: WgConfigOptions = {}): DesiredWgConfig {
  const peers: WgPeerConfig[] = [];
  for (const node of netmap.nodes.values()) {
    if (node.name === netmap.selfName) continue;
    const peer = wgPeerFor(node, options);
    if (peer) peers.push(peer);
  }
  return { peers };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export function hostPrefix(ip: string): string {
  return ip.includes(':') ? `${ip}/128` : `${ip}/32`;
}

/**
 * The operations that turn the device's actual peers into the desired ones: `peerOps` for every
 * public key on either side. Only differences produce operations; an empty list means nothing to do.
 */
export function diffWgConfig(actual: Pick<WgDeviceState, 'peers'>, desired: DesiredWgConfig, now = Date.now()): WgOp[] {
  const ops: WgOp[] = [];
  const actualByKey = new Map(actual.peers.map((p) => [p.publicKey, p]));
  const desiredKeys = new Set<string>();
  for (const peer of desired.peers) {
    desiredKeys.add(peer.publicKey);
    ops.push(...peerOps(actualByKey.get(peer.publicKey), peer, now));
  }
  for (const peer of actual.peers) {
    if (!desiredKeys.has(peer.publicKey)) ops.push(...peerOps(peer, undefined, now));
  }
  return ops;
}

/**
 * The rule for one public key, the only one: the full diff and the reconciler's fast pass both
 * use it. `current` is the device's peer with that key (undefined: the device has none),
 * `desired` what it should be (undefined: it should not be there).
 *
 * A peer with a live session keeps the endpoint WireGuard uses, which it may have roamed to
 * (NAT): its set-peer carries no endpoint, and `wg set` leaves an endpoint it is not given as it
 * is. So the rule holds even when `current.endpoint` is out of date, as long as a live session
 * really is live (see Reconciler for what its fast pass knows of handshakes).
 */
export function peerOps(current: WgPeerState | undefined, desired: WgPeerConfig | undefined, now: number): WgOp[] {
  if (!desired) return current ? [{ op: 'remove-peer', publicKey: current.publicKey }] : [];
  if (!current) return [{ op: 'set-peer', peer: desired }];
  const keepEndpoint = current.endpoint !== undefined && handshakeAlive(current, now);
  const target = keepEndpoint ? withoutEndpoint(desired) : desired;
  return samePeer(current, target) ? [] : [{ op: 'set-peer', peer: target }];
}

/**
 * Pure: a device's peer after one op, the way `wg set` changes it (undefined: removed). A set
 * replaces allowed IPs and keepalive, replaces the endpoint and the preshared key only when given
 * (wg cannot clear an endpoint short of removing the peer), and keeps handshake and traffic counters; a new or
 * re-added peer starts with none. The memory driver and the reconciler's picture of the device
 * both go through this; the driver compliance suite checks it against real WireGuard.
 */
export function peerAfterOp(current: WgPeerState | undefined, op: WgOp): WgPeerState | undefined {
  if (op.op === 'remove-peer') return undefined;
  const { peer } = op;
  const endpoint = peer.endpoint ?? current?.endpoint;
  const presharedKey = peer.presharedKey ?? current?.presharedKey;
  // allowedIps is shared, not copied: it is read-only wherever it goes (the device model, the
  // memory driver), and a large mesh keeps one per peer in each.
  const next: Mutable<WgPeerState> = {
    publicKey: peer.publicKey,
    allowedIps: peer.allowedIps,
    latestHandshakeMs: current?.latestHandshakeMs ?? 0,
    rxBytes: current?.rxBytes ?? 0,
    txBytes: current?.txBytes ?? 0,
  };
  if (endpoint !== undefined) next.endpoint = endpoint;
  if (peer.persistentKeepalive) next.persistentKeepalive = peer.persistentKeepalive;
  if (presharedKey !== undefined) next.presharedKey = presharedKey;
  return next;
}

/** Applies ops in order to a peer table keyed by public key, with `peerAfterOp`. */
export function applyOpsToPeers(peers: Map<string, WgPeerState>, ops: readonly WgOp[]): void {
  for (const op of ops) {
    const publicKey = op.op === 'set-peer' ? op.peer.publicKey : op.publicKey;
    const next = peerAfterOp(peers.get(publicKey), op);
    if (next) peers.set(publicKey, next);
    else peers.delete(publicKey);
  }
}

function withoutEndpoint(peer: WgPeerConfig): WgPeerConfig {
  const { endpoint: _endpoint, ...rest } = peer;
  return rest;
}

/** True when the device's peer already is what is desired (an unset desired endpoint or preshared key matches any). */
export function samePeer(actual: WgPeerConfig, desired: WgPeerConfig): boolean {
  if (desired.endpoint && actual.endpoint !== desired.endpoint) return false;
  if (desired.presharedKey && actual.presharedKey !== desired.presharedKey) return false;
  if ((actual.persistentKeepalive ?? 0) !== (desired.persistentKeepalive ?? 0)) return false;
  if (actual.allowedIps.length !== desired.allowedIps.length) return false;
  if (actual.allowedIps.length === 1) return actual.allowedIps[0] === desired.allowedIps[0];
  const a = [...actual.allowedIps].sort();
  const d = [...desired.allowedIps].sort();
  return a.every((ip, i) => ip === d[i]);
}
