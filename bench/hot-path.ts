/**
 * A node's hot path, timed in this process: a 10,000-member netmap built and turned into the
 * WireGuard configuration (every peer's endpoint ranked), as a node does when it joins a large
 * mesh or runs a full reconcile. bench/node-memory.ts runs it under each node setting it compares,
 * for what a setting costs in CPU where it matters. Prints one JSON line: { medianMs, minMs }.
 *
 *   node [FLAGS] --conditions=source --import tsx hot-path.ts [members]
 */
// The agent's own test fixture for a member record (its defaults: alive, no tags, port 51820).
import { meshNode } from '../packages/agent/test/fixtures.js';
import { netmapFromNodes } from '@wgmesh/agent/netmap/netmap';
import { wgConfigFromNetmap } from '@wgmesh/agent/wg/config';

const members = Number(process.argv[2] ?? 10_000);
const publicKey = (i: number) => {
  const key = Buffer.alloc(32);
  key.writeUInt32BE(i + 1, 0);
  return key.toString('base64');
};
const nodes = Array.from({ length: members }, (_, i) =>
  meshNode(`n${i}`, `198.18.${i >> 8}.${i & 255}`, { publicKey: publicKey(i), endpoints: [{ ip: `192.0.2.${(i % 250) + 1}`, port: 51820, kind: 'ENDPOINT_KIND_LAN' }] }),
);
const times: number[] = [];
for (let round = 0; round < 25; round++) {
  const start = performance.now();
  const config = wgConfigFromNetmap(netmapFromNodes('n0', round + 1, nodes));
  times.push(performance.now() - start);
  if (config.peers.length !== members - 1) throw new Error(`expected ${members - 1} peers, got ${config.peers.length}`);
}
times.sort((a, b) => a - b);
process.stdout.write(JSON.stringify({ medianMs: times[12], minMs: times[0] }) + '\n');
