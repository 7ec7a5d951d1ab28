/**
 * The RTT matrix travels apart from the membership: agents report samples with their heartbeats,
 * the bootstrap keeps the latest report of each, and any node's `wgmesh rtt` (buildRttMatrix)
 * asks the bootstrap for the others' rows. Without the bootstrap a node still has its own row.
 * Heartbeats are no membership change either, but the bootstrap's info shows the latest of each.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Agent, buildRttMatrix, buildStatus, createGrpcControlClient, generateKeyPair, MemoryWgDriver, type RttSample__Output, type RttSource } from '@wgmesh/agent';
import { MESH, startBootstrap, tempDir } from '../helpers/inprocess.js';
import { waitFor } from '../helpers/wait.js';

/** When the fixed figures were measured (one time: samples compare equal from one report to the next). */
const MEASURED_AT_MS = Date.now();

/** A prober that measures nothing: it reports rttMs to every peer it is given. */
class FixedRtt implements RttSource {
  private peers: string[] = [];
  constructor(public rttMs: number) {}
  setPeers(peers: readonly { name: string }[]): void {
    this.peers = peers.map((p) => p.name);
  }
  samples(): RttSample__Output[] {
    return this.peers.map((peer) => ({ peer, rttMs: this.rttMs, loss: 0, measuredAtMs: MEASURED_AT_MS }));
  }
}

test('every node reads the whole matrix from the bootstrap; a measurement or a heartbeat is no membership change', async () => {
  const { dir, cleanup } = await tempDir();
  const { bootstrap } = await startBootstrap(path.join(dir, 'state.json'));
  const nodes = [1, 2, 3].map((i) => {
    const rtt = new FixedRtt(i);
    const agent = new Agent(
      { control: createGrpcControlClient({ address: `127.0.0.1:${bootstrap.port}`, credentials: grpc.credentials.createInsecure(), callTimeoutMs: 2000 }), driver: new MemoryWgDriver(`wg-n${i}`), rtt },
      { meshName: MESH, nodeName: `n${i}`, privateKey: generateKeyPair().privateKey, heartbeatMs: 50, endpoints: () => [{ ip: `192.0.2.${10 + i}`, port: 54540, kind: 'ENDPOINT_KIND_LAN' }] },
    );
    return { agent, rtt };
  });
  let bootstrapUp = true;
  after(async () => {
    await Promise.all(nodes.map((n) => n.agent.stop({ leave: false })));
    if (bootstrapUp) await bootstrap.stop();
    await cleanup();
  });
  for (const n of nodes) await n.agent.start();
  await waitFor('every node to see the 4 members', () => nodes.every((n) => n.agent.netmap.nodes.size === 4));

  // Step 1: n1 reads every node's row (n_i reports i ms to each peer) from the bootstrap.
  const n1 = nodes[0]!.agent;
  const expected = (rows: { from: string; rttMs: number }[]) => rows.filter((r) => r.from !== 'bootstrap').map((r) => `${r.from}:${r.rttMs}`).sort();
  const want = ['n1', 'n2', 'n3'].flatMap((from, i) => ['bootstrap', 'n1', 'n2', 'n3'].filter((to) => to !== from).map(() => `${from}:${i + 1}`)).sort();
  const matrix = await waitFor('n1 to have every reported row', async () => {
    const m = await buildRttMatrix(n1);
    return expected(m.rows).join() === want.join() ? m : undefined;
  }, 10_000);
  assert.deepEqual(matrix.nodes, ['bootstrap', 'n1', 'n2', 'n3']);
  assert.equal(matrix.partial, false);

  // Step 2: a new measurement reaches the matrix, and no membership revision is spent on it.
  const revision = bootstrap.table!.revision;
  nodes[2]!.rtt.rttMs = 7;
  await waitFor("n3's new figure in n1's matrix", async () => (await buildRttMatrix(n1)).rows.some((r) => r.from === 'n3' && r.rttMs === 7), 10_000);
  assert.equal(bootstrap.table!.revision, revision, 'the membership did not change');
  assert.equal(n1.netmap.revision, revision);

  // Step 3: heartbeats alone change no record, yet the bootstrap's own info shows each member's latest.
  const seenByBootstrap = async () => Number((await buildStatus(bootstrap.agent!)).peers?.find((p) => p.node?.name === 'n2')?.node?.lastSeenMs ?? 0);
  const first = await seenByBootstrap();
  await waitFor("a newer heartbeat from n2 in the bootstrap's info", async () => (await seenByBootstrap()) > first, 5_000);
  assert.equal(bootstrap.table!.revision, revision, 'still no membership change');

  // Step 4: without the bootstrap, a node still answers with its own row, marked partial.
  await bootstrap.stop();
  bootstrapUp = false;
  const alone = await buildRttMatrix(n1);
  assert.equal(alone.partial, true);
  assert.deepEqual([...new Set(alone.rows.map((r) => r.from))], ['n1']);
  assert.equal(alone.rows.length, 3, 'n1 to each of its three peers');
});
