/**
 * RTT reports in a large mesh: an agent with 1,999 peers reports its samples a part at a time
 * (at most RTT_SAMPLES_PER_REPORT per Update, each Update well within the bootstrap's message
 * limit), the bootstrap merges the parts by peer, and its matrix ends up with the whole row. An
 * Update that fails leaves its samples due for the next heartbeat.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import {
  Agent, createGrpcControlClient, generateKeyPair, loadProtos, MemoryWgDriver, RTT_SAMPLES_PER_REPORT,
  type ControlClient, type RttSample, type RttSample__Output, type RttSource,
} from '@wgmesh/agent';
import { LIMITS } from '@wgmesh/bootstrap';
import { MESH, startFilledBootstrap } from '../helpers/inprocess.js';
import { waitFor } from '../helpers/wait.js';

/** When the fixed figures were measured (one time: samples compare equal from one report to the next). */
const MEASURED_AT_MS = Date.now();

const MESH_SIZE = 2000;

/** A prober that measures nothing: a fixed figure to each peer it is given. */
class FixedRtt implements RttSource {
  private peers: string[] = [];
  setPeers(peers: readonly { name: string }[]): void {
    this.peers = peers.map((p) => p.name);
  }
  samples(): RttSample__Output[] {
    return this.peers.map((peer, i) => ({ peer, rttMs: 1 + i / 1000, loss: 0, measuredAtMs: MEASURED_AT_MS }));
  }
}

test(`an agent in a mesh of ${MESH_SIZE} reports all its RTT samples over successive heartbeats, each Update within the limits`, async () => {
  // The mesh has 1,998 other members besides the bootstrap (joined straight into its table).
  const bootstrap = await startFilledBootstrap(MESH_SIZE - 2);
  const table = bootstrap.table!;
  let agent: Agent | undefined;
  after(async () => {
    await agent?.stop({ leave: false });
    await bootstrap.stop();
  });

  // Step 2: n0 joins over gRPC and heartbeats; every Update it sends is measured, and one is made to fail.
  const { requestSerialize } = loadProtos().mesh.wgmesh.v1.Mesh.service.Update;
  const grpcControl = createGrpcControlClient({ address: `127.0.0.1:${bootstrap.port}`, credentials: grpc.credentials.createInsecure(), callTimeoutMs: 10_000 });
  const attempts: { bytes: number; rtt: readonly RttSample[]; failed: boolean }[] = [];
  let refused: unknown;
  const control: ControlClient = {
    ...grpcControl,
    async update(req) {
      const rtt = req.rtt ?? [];
      // The second report with samples fails on the way, as if the bootstrap were away.
      const failed = rtt.length > 0 && attempts.filter((a) => a.rtt.length > 0).length === 1;
      attempts.push({ bytes: requestSerialize(req).length, rtt, failed });
      if (failed) throw new Error('Update: bootstrap unreachable');
      return grpcControl.update(req).catch((err: unknown) => {
        refused ??= err;
        throw err;
      });
    },
  };
  agent = new Agent(
    { control, driver: new MemoryWgDriver('wg-n0', { record: false }), rtt: new FixedRtt() },
    { meshName: MESH, nodeName: 'n0', privateKey: generateKeyPair().privateKey, heartbeatMs: 50, endpoints: () => [{ ip: '192.0.2.10', port: 54540, kind: 'ENDPOINT_KIND_LAN' }] },
  );
  await agent.start();
  assert.equal(agent.netmap.nodes.size, MESH_SIZE);

  // Step 3: the bootstrap's matrix fills up with n0's whole row.
  const row = () => table.rttMatrix().rows.filter((r) => r.from === 'n0');
  await waitFor(`n0's ${MESH_SIZE - 1} samples in the bootstrap's matrix`, () => row().length === MESH_SIZE - 1, 30_000);
  assert.equal(refused, undefined, 'the bootstrap accepted every Update that reached it');
  const reports = attempts.filter((a) => a.rtt.length > 0);
  for (const a of reports) {
    assert.ok(a.rtt.length <= RTT_SAMPLES_PER_REPORT && a.rtt.length <= LIMITS.rttSamplesMax);
    assert.ok(a.bytes < LIMITS.messageMax / 2, `an Update of ${a.bytes} bytes, within the ${LIMITS.messageMax}-byte limit`);
  }
  assert.equal(reports.filter((a) => !a.failed).length, Math.ceil((MESH_SIZE - 1) / RTT_SAMPLES_PER_REPORT), 'one report per part');
  const failedAt = reports.findIndex((a) => a.failed);
  assert.deepEqual(reports[failedAt + 1]!.rtt, reports[failedAt]!.rtt, 'the next heartbeat carried what the failed Update had');
  assert.deepEqual(new Set(row().map((r) => r.to)), new Set([...agent.netmap.nodes.keys()].filter((name) => name !== 'n0')));
});
