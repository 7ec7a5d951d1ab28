import { createHash } from 'node:crypto';
import { isIP } from 'node:net';

/**
 * Layer 2 over the mesh (bootstrap -l2), the pure part: the devices' names, the VNI a mesh gets
 * by default, the MTU that keeps frames from fragmenting, and the diff of flood entries.
 *
 * How it works: every node has one VXLAN device over its wg interface, in a bridge. The VXLAN
 * device holds one all-zeros forwarding entry per peer, pointing at the peer's mesh IP: a
 * broadcast or unknown unicast frame is sent once to every peer (head-end replication), through
 * WireGuard. A frame that arrives from the mesh comes in on that same VXLAN device, and a bridge
 * never forwards a frame back out of the port it came in on: frames from peers are never flooded
 * back to peers (split horizon by construction). Every node is one hop from every other, so there
 * are no loops, and no spanning tree is needed (and no link of the mesh is ever blocked).
 */

/** The largest VXLAN network identifier (24 bits). */
export const VNI_MAX = 16_777_215;

export const L2_DEFAULTS = {
  /** IANA's VXLAN port; it is used only inside the mesh (between mesh IPs). */
  port: 4789,
} as const;

/**
 * Bytes VXLAN adds to every frame, by the mesh's address family: inner Ethernet 14 + VXLAN 8 +
 * UDP 8 + the outer IP header (IPv4 20, IPv6 40).
 */
export const VXLAN_OVERHEAD = { ipv4: 50, ipv6: 70 } as const;

/** The smallest MTU Linux gives an IPv4 interface; below it the bridge would carry nothing useful. */
const MIN_MTU = 576;

/** The mesh's L2 settings, as the bootstrap gives them out (JoinResponse.l2). */
export interface L2Settings {
  readonly vni: number;
  readonly port: number;
}

/** The bridge and VXLAN device of a mesh: br<MESH>, vx<MESH> (a mesh name has at most 10 characters, so both fit Linux's 15). */
export function l2InterfaceNames(mesh: string): { bridge: string; vxlan: string } {
  return { bridge: `br${mesh}`, vxlan: `vx${mesh}` };
}

/**
 * The VNI a mesh gets without -l2-vni: SHA-256 of its name into 1..16777215, so every bootstrap of
 * the mesh derives the same one and two meshes on one LAN segment are unlikely to share one.
 */
export function deriveVni(mesh: string): number {
  const digest = createHash('sha256').update(`wgmesh l2 vni ${mesh}`).digest();
  return (digest.readUIntBE(0, 3) % VNI_MAX) + 1;
}

/** The MTU of the VXLAN device and the bridge: the wg interface's, less VXLAN's overhead over the mesh's family. */
export function l2Mtu(wgMtu: number, meshIp: string): number {
  return wgMtu - (isIP(meshIp) === 6 ? VXLAN_OVERHEAD.ipv6 : VXLAN_OVERHEAD.ipv4);
}

/** Why these L2 settings cannot be used, or undefined when they can. */
export function l2SettingsProblem(settings: { vni: number; port: number }): string | undefined {
  if (!Number.isInteger(settings.vni) || settings.vni < 1 || settings.vni > VNI_MAX) return `VNI ${settings.vni} is outside 1..${VNI_MAX}`;
  if (!Number.isInteger(settings.port) || settings.port < 1 || settings.port > 65535) return `port ${settings.port} is not a UDP port (1-65535)`;
  return undefined;
}

/** Why an L2 MTU is too small to carry frames, or undefined. */
export function l2MtuProblem(mtu: number): string | undefined {
  return mtu < MIN_MTU ? `the L2 MTU would be ${mtu} (the wg MTU less VXLAN's overhead), below ${MIN_MTU}` : undefined;
}

/** One change to the VXLAN device's flood list: the all-zeros entry pointing at a peer's mesh IP. */
export type FloodOp = { readonly op: 'add' | 'del'; readonly dst: string };

/** The ops that turn the flood list `actual` (read back from the device) into `desired` (every peer's mesh IP). */
export function diffFlood(actual: Iterable<string>, desired: Iterable<string>): FloodOp[] {
  const have = new Set(actual);
  const want = new Set(desired);
  const ops: FloodOp[] = [];
  for (const dst of have) if (!want.has(dst)) ops.push({ op: 'del', dst });
  for (const dst of want) if (!have.has(dst)) ops.push({ op: 'add', dst });
  return ops;
}

/**
 * A node's one-peer change, without reading anything: the peer was at `before` (undefined: it had
 * no entry) and is now at `after` (undefined: it left). At most two ops (a peer that moved).
 */
export function floodOpsForPeer(before: string | undefined, after: string | undefined): FloodOp[] {
  if (before === after) return [];
  return [...(before !== undefined ? [{ op: 'del' as const, dst: before }] : []), ...(after !== undefined ? [{ op: 'add' as const, dst: after }] : [])];
}
