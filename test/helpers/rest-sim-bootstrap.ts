/**
 * The bootstrap of the resting-node simulation (rest-sim.ts), in a process of its own: the node's
 * CPU time is then the test process's alone, without the bootstrap answering its heartbeats or
 * running its liveness passes.
 *
 *   node --conditions=source --import tsx rest-sim-bootstrap.ts MEMBERS
 *
 * Starts a bootstrap on loopback (in-memory WireGuard, no state file, failure detection far off),
 * puts MEMBERS - 1 other members straight into its table, and prints one JSON line {"port": N}.
 * Stops when its stdin closes (the parent ended, or is done with it) or on SIGTERM.
 */
import { createInterface } from 'node:readline';
import { generateKeyPair, MemoryWgDriver } from '@wgmesh/agent';
import { Bootstrap, type StateStore } from '@wgmesh/bootstrap';
import { BOOTSTRAP_IP, CIDR, MESH } from './inprocess.js';

const members = Number(process.argv[2]);
if (!Number.isInteger(members) || members < 1) {
  process.stderr.write('usage: rest-sim-bootstrap.ts MEMBERS (a whole number, at least 1)\n');
  process.exit(2);
}

const noStore: StateStore = { load: async () => undefined, save: async () => {}, append: async () => {} };
const bootstrap = new Bootstrap(
  { store: noStore, driver: new MemoryWgDriver('wgsim', { record: false }) },
  {
    meshName: MESH, nodeName: 'bootstrap', privateKey: generateKeyPair().privateKey, cidr: CIDR, selfIp: BOOTSTRAP_IP,
    grpcBindAddr: '127.0.0.1', grpcPort: 0, stunPort: 0, heartbeatMs: 60_000,
    liveness: { suspectAfterMs: 3_600_000, failedAfterMs: 7_200_000, reapAfterMs: 7_200_000 },
  },
);
await bootstrap.start();
const table = bootstrap.table!;
for (let i = 1; i < members; i++) {
  await table.join({
    name: `m${i}`, identity: { publicKey: generateKeyPair().publicKey },
    endpoints: [{ ip: `203.0.${Math.floor(i / 250)}.${(i % 250) + 1}`, port: 51820, kind: 'ENDPOINT_KIND_LAN' }], tags: {}, listenPort: 51820,
  });
}
process.stdout.write(`${JSON.stringify({ port: bootstrap.port })}\n`);

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void bootstrap.stop().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
createInterface({ input: process.stdin }).on('close', stop);
