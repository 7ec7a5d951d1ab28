import { peersOf, type MeshNode, type Netmap } from '../netmap/netmap.js';
import type { WgDeviceState, WgOp, WgPeerConfig } from './types.js';
import { handshakeAlive, rankCandidates } from '../endpoints/selector.js';

export interface DesiredWgConfig {
  readonly peers: readonly WgPeerConfig[];
}

export interface WgConfigOptions {
  /** Which of a peer's endpoint candidates to use now; default: the first by preference. */
  readonly endpointFor?: (node: MeshNode) => string | undefined;
  /** Persistent keepalive in seconds for every peer (0: off). */
  readonly persistentKeepalive?: number;
}

/** The best-ranked endpoint, every LAN address counted as reachable: for fixed options without a selector. */
export function defaultEndpointFor(node: MeshNode): string | undefined {
  return rankCandidates(node, 'all-local')[0];
}

/** Pure: the WireGuard peer for one mesh node, or undefined when it cannot be a peer yet. */
export function wgPeerFor(node: MeshNode, options: WgConfigOptions = {}): WgPeerConfig | undefined {
  if (!node.publicKey || !node.meshIp) return undefined;
  const endpoint = (options.endpointFor ?? defaultEndpointFor)(node);
  return {
    publicKey: node.publicKey,
    allowedIps: [hostPrefix(node.meshIp)],
    ...(endpoint ? { endpoint } : {}),
    ...(options.persistentKeepalive ? { persistentKeepalive: options.persistentKeepalive } : {}),
  };
}

/** Pure: the peers this node's WireGuard device should have for a netmap. */
export function wgConfigFromNetmap(netmap: Netmap, options: WgConfigOptions = {}): DesiredWgConfig {
  const peers = peersOf(netmap)
    .map((node) => wgPeerFor(node, options))
    .filter((peer): peer is WgPeerConfig => peer !== undefined);
  return { peers };
}

export function hostPrefix(ip: string): string {
  return ip.includes(':') ? `${ip}/128` : `${ip}/32`;
}

/**
 * The operations that turn the device's actual peers into the desired ones. Only differences
 * produce operations; an empty list means nothing to do.
 */
export function diffWgConfig(actual: Pick<WgDeviceState, 'peers'>, desired: DesiredWgConfig, now = Date.now()): WgOp[] {
  const ops: WgOp[] = [];
  const actualByKey = new Map(actual.peers.map((p) => [p.publicKey, p]));
  const desiredKeys = new Set<string>();
  for (const peer of desired.peers) {
    desiredKeys.add(peer.publicKey);
    const current = actualByKey.get(peer.publicKey);
    // A peer with a live session keeps the endpoint WireGuard uses: it may have roamed there (NAT).
    const live = current !== undefined && handshakeAlive(current, now);
    if (!current || !samePeer(current, live ? { ...peer, endpoint: undefined } : peer)) ops.push({ op: 'set-peer', peer: live && current?.endpoint ? { ...peer, endpoint: current.endpoint } : peer });
  }
  for (const peer of actual.peers) {
    if (!desiredKeys.has(peer.publicKey)) ops.push({ op: 'remove-peer', publicKey: peer.publicKey });
  }
  return ops;
}

/** True when the device's peer already is what is desired (an unset desired endpoint matches any). */
export function samePeer(actual: WgPeerConfig, desired: WgPeerConfig): boolean {
  if (desired.endpoint && actual.endpoint !== desired.endpoint) return false;
  if ((actual.persistentKeepalive ?? 0) !== (desired.persistentKeepalive ?? 0)) return false;
  if (actual.allowedIps.length !== desired.allowedIps.length) return false;
  if (actual.allowedIps.length === 1) return actual.allowedIps[0] === desired.allowedIps[0];
  const a = [...actual.allowedIps].sort();
  const d = [...desired.allowedIps].sort();
  return a.every((ip, i) => ip === d[i]);
}
