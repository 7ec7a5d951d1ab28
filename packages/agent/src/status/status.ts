import type { Agent } from '../agent.js';
import { nodesByName, peersOf } from '../netmap/netmap.js';
import type { InfoResponse, PeerStatus, RttResponse, RttRow } from '../proto/index.js';
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
  // This node's own measurements are fresher than the copy that went round through the bootstrap.
  const rttByPeer = new Map((agent.rttSamples() ?? self?.rtt ?? []).map((s) => [s.peer, s]));
  const peers: PeerStatus[] = peersOf(netmap).map((node) => {
    const device = byKey.get(node.publicKey);
    const rtt = rttByPeer.get(node.name);
    return {
      node,
      endpoint: device?.endpoint ?? '',
      latestHandshakeMs: device?.latestHandshakeMs ?? 0,
      rxBytes: device?.rxBytes ?? 0,
      txBytes: device?.txBytes ?? 0,
      rttMs: rtt?.rttMs ?? 0,
      loss: rtt?.loss ?? 0,
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
    revision: netmap.revision,
    tags: { ...agent.currentTags },
    endpoints: [...agent.endpoints],
    behindNat: agent.behindNat,
    peers,
    bootstrapAddr: agent.options.bootstrapAddr ?? '',
    isBootstrap: agent.options.isBootstrap ?? false,
    self: self ?? null,
  };
}

/** The mesh-wide RTT matrix: every node's latest samples, as reported to the bootstrap. */
export function buildRttMatrix(agent: Agent): RttResponse {
  const nodes = nodesByName(agent.netmap);
  const names = new Set(nodes.map((n) => n.name));
  const rows: RttRow[] = [];
  for (const node of nodes) {
    const samples = node.name === agent.netmap.selfName ? (agent.rttSamples() ?? node.rtt) : node.rtt;
    for (const sample of samples) {
      if (names.has(sample.peer)) rows.push({ from: node.name, to: sample.peer, rttMs: sample.rttMs, loss: sample.loss });
    }
  }
  return { nodes: nodes.map((n) => n.name), rows };
}
