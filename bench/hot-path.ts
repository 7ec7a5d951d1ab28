/**
 * A node's hot path, timed in this process: a 10,000-member netmap built and turned into the
 * WireGuard configuration (every peer's endpoint ranked), as a node does when it joins a large
 * mesh or runs a full reconcile. bench/node-memory.ts runs it under each node setting it compares,
 * for what a setting costs in CPU where it matters. Prints one JSON line: { medianMs, minMs }.
 *
 *   node [FLAGS] --conditions=source --import tsx hot-path.ts [members]
 */
import type { MeshNode } from '@wgmesh/agent';
import { netmapFromNodes } from '@wgmesh/agent/netmap/netmap';
import { wgConfigFromNetmap } from '@wgmesh/agent/wg/config';

const members = Number(process.argv[2] ?? 10_000);
const publicKey = (i: number) => {
  const key = Buffer.alloc(32);
  key.writeUInt32BE(i + 1, 0);
  return key.toString('base64');
};
// Written out here: the agent's test fixture (meshNode) is not in its package's exports, and the
// bench imports packages only through them (test/deps.spec.ts).
const nodes: MeshNode[] = Array.from({ length: members }, (_, i) => ({
  name: `n${i}`,
  publicKey: publicKey(i),
  meshIp: `198.18.${i >> 8}.${i & 255}`,
  endpoints: [{ ip: `192.0.2.${(i % 250) + 1}`, port: 51820, kind: 'ENDPOINT_KIND_LAN' }],
  tags: {},
  status: 'NODE_STATUS_ALIVE',
  joinedAtMs: 1,
  lastSeenMs: 1,
  statusChangedMs: 1,
  isBootstrap: false,
  listenPort: 51820,
  relay: false,
}));
const times: number[] = [];
for (let round = 0; round < 25; round++) {
  const start = performance.now();
  const config = wgConfigFromNetmap(netmapFromNodes('n0', round + 1, nodes));
  times.push(performance.now() - start);
  if (config.peers.length !== members - 1) throw new Error(`expected ${members - 1} peers, got ${config.peers.length}`);
}
times.sort((a, b) => a - b);
process.stdout.write(JSON.stringify({ medianMs: times[12], minMs: times[0] }) + '\n');
