import type { Agent } from '../agent.js';
import { daysLeft } from '../identity/renewer.js';
import { compareNames, nodesByName, peersOf } from '../netmap/netmap.js';
import { servicesOf } from '../services.js';
import type { InfoResponse, PeerStatus, RttResponse__Output, RttRow__Output } from '../proto/index.js';
import type { WgPeerState } from '../wg/types.js';

/**
 * The one status object of a node, assembled from its parts. `info -json`, the table and the
 * dashboard all render exactly this.
 */
export async function buildStatus(agent: Agent): Promise<InfoResponse> {
  const netmap = agent.netmap;
  const joined = agent.joined;
  let devicePeers: readonly WgPeerState[] = [];
  try {
    devicePeers = (await agent.driver.read()).peers;
  } catch {
    // The device may be down (stopping, or wireguard-go restarting): show membership without it.
  }
  const byKey = new Map(devicePeers.map((p) => [p.publicKey, p]));
  const self = agent.self();
  const rttByPeer = new Map((agent.rttSamples() ?? []).map((s) => [s.peer, s]));
  const peers: PeerStatus[] = peersOf(netmap).map((member) => {
    const device = byKey.get(member.publicKey);
    const rtt = rttByPeer.get(member.name);
    const heartbeat = agent.lastHeartbeatMs(member.name);
    const node = heartbeat !== undefined && heartbeat > member.lastSeenMs ? { ...member, lastSeenMs: heartbeat } : member;
    return {
      node,
      endpoint: device?.endpoint ?? '',
      latestHandshakeMs: device?.latestHandshakeMs ?? 0,
      rxBytes: device?.rxBytes ?? 0,
      txBytes: device?.txBytes ?? 0,
      rttMs: rtt?.rttMs ?? 0,
      loss: rtt?.loss ?? 0,
      rttMeasuredAtMs: rtt?.measuredAtMs ?? 0,
      rttProbeEveryMs: agent.rttCadence(member.name)?.roundMs ?? 0,
      via: agent.relayPaths.via(member.name) ?? '',
    };
  });
  return {
    meshName: agent.options.meshName,
    meshCidr: joined?.meshCidr ?? '',
    meshCreatedMs: joined?.meshCreatedMs ?? 0,
    nodeName: netmap.selfName,
    meshIp: joined?.meshIp ?? '',
    publicKey: agent.publicKey,
    interface: agent.driver.name,
    backend: agent.driver.kind,
    listenPort: agent.options.listenPort ?? 0,
    connected: agent.connected,
    controlError: agent.controlError,
    certificateRefusal: agent.certificateRefusal ? { ...agent.certificateRefusal } : null,
    revision: netmap.revision,
    tags: { ...agent.currentTags },
    endpoints: [...agent.endpoints],
    behindNat: agent.behindNat,
    peers,
    bootstrapAddr: agent.bootstrap.current,
    bootstrapAddrs: agent.bootstrap.all,
    services: servicesOf(nodesByName(netmap)).map((s) => ({ name: s.name, node: s.node, meshIp: s.meshIp, port: s.port, tags: { ...s.tags } })),
    isBootstrap: agent.options.isBootstrap ?? false,
    self: self ?? null,
    relay: agent.relayPaths.forwarding?.enabled ?? false,
    relayPairs: agent.relayPaths.relayPairs,
    relayedBytes: (await agent.relayPaths.forwarding?.forwardedBytes()) ?? 0,
    l2: agent.l2Status?.() ?? null,
    ...certificateFields(agent),
  };
}

/**
 * The mesh-wide RTT matrix: every node's latest report, as the bootstrap has it, with this node's
 * own row as measured now. When the bootstrap cannot be asked, only that row (partial).
 */
/** How long this node probes every peer every second after a fresh matrix was asked for here. */
const FRESH_RTT_MS = 10_000;

export async function buildRttMatrix(agent: Agent, options: { fresh?: boolean } = {}): Promise<RttResponse__Output> {
  const nodes = nodesByName(agent.netmap);
  const names = new Set(nodes.map((n) => n.name));
  const selfName = agent.netmap.selfName;
  // Fresh: this node measures now too (its own row), while the bootstrap asks every other node.
  const [reported] = await Promise.all([agent.meshRtt(options), options.fresh ? agent.wantFreshRtt(Date.now() + FRESH_RTT_MS) : undefined]);
  const own = agent.rttSamples()?.map((s): RttRow__Output => ({ from: selfName, to: s.peer, rttMs: s.rttMs, loss: s.loss, measuredAtMs: s.measuredAtMs }));
  const rows = [...(reported?.rows ?? []).filter((r) => !own || r.from !== selfName), ...(own ?? [])]
    .filter((r) => r.from !== r.to && names.has(r.from) && names.has(r.to))
    .sort((a, b) => compareNames(a.from, b.from) || compareNames(a.to, b.to));
  return { nodes: nodes.map((n) => n.name), rows, partial: reported === undefined };
}

function certificateFields(agent: Agent): Pick<InfoResponse, 'certNotAfterMs' | 'caNotAfterMs' | 'certSerial' | 'certRenewAtMs' | 'certRenewError' | 'certRenewals' | 'certDaysLeft' | 'caDaysLeft'> {
  const c = agent.certificateStatus();
  return {
    certNotAfterMs: c?.certNotAfterMs ?? 0,
    caNotAfterMs: c?.caNotAfterMs ?? 0,
    certSerial: c?.certSerial ?? '',
    certRenewAtMs: c?.renewAtMs ?? 0,
    certRenewError: c?.renewError ?? '',
    certRenewals: c?.renewals ?? 0,
    certDaysLeft: c ? daysLeft(c.certNotAfterMs, Date.now()) : 0,
    caDaysLeft: c ? daysLeft(c.caNotAfterMs, Date.now()) : 0,
  };
}
