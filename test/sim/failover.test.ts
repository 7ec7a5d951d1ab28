import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { Agent, buildStatus, createBootstrapControl, generateKeyPair, loadProtos, MemoryWgDriver, silentLogger, type MeshHandlers } from '@wgmesh/agent';
import { createMeshService, devAuthenticator, Ipam, MemberTable, MemoryStateStore } from '@wgmesh/bootstrap';
import { makeAgent, CIDR, MESH } from '../helpers/inprocess.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A gRPC front of the Mesh service on loopback. Several of them over ONE member table stand in for
 * several bootstraps sharing one store (etcd, not built yet): the mesh revision is the same on each.
 * The Watch handler writes pre-encoded events, as JoinServer registers it.
 */
async function meshFront(handlers: MeshHandlers): Promise<{ server: grpc.Server; address: string }> {
  const definition = loadProtos().mesh.wgmesh.v1.Mesh.service;
  const serialize = definition.Watch.responseSerialize;
  const server = new grpc.Server();
  server.addService({ ...definition, Watch: { ...definition.Watch, responseSerialize: (e: unknown) => (Buffer.isBuffer(e) ? e : serialize(e as never)) } }, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { server, address: `127.0.0.1:${port}` };
}

test('two bootstraps over one member table: the one an agent watches is killed, it is on the other within 5 s from its revision, WireGuard untouched', async (t) => {
  const table = await MemberTable.open(new MemoryStateStore(), new Ipam(CIDR), { meshName: MESH });
  const service = createMeshService({ table, auth: devAuthenticator, logger: silentLogger() });
  const [a, b] = [await meshFront(service.handlers), await meshFront(service.handlers)];
  const bPort = Number(b.address.split(':')[1]);
  const peers = [makeAgent('peer1', bPort, 1)];
  const driver = new MemoryWgDriver('wg-subject');
  const control = await createBootstrapControl(
    [a, b].map((f) => ({ address: f.address, credentials: grpc.credentials.createInsecure() })),
    {},
  );
  const subject = new Agent(
    { control, driver },
    { meshName: MESH, nodeName: 'subject', privateKey: generateKeyPair().privateKey, heartbeatMs: 60_000, endpoints: () => [{ ip: '192.0.2.50', port: 54540, kind: 'ENDPOINT_KIND_LAN' }] },
  );
  after(async () => {
    await subject.stop({ leave: false });
    await Promise.all(peers.map((p) => p.agent.stop({ leave: false })));
    service.closeWatchers();
    a.server.forceShutdown();
    b.server.forceShutdown();
  });

  // Step 1: peer1 joins through B, the subject through A (its first).
  await peers[0]!.agent.start();
  await subject.start();
  await waitFor('the subject to watch A with peer1 configured', async () => subject.connected && (await driver.read()).peers.length === 1);
  assert.equal((await buildStatus(subject)).bootstrapAddr, a.address);
  const opsBefore = driver.operationCount;
  const revisionBefore = subject.netmap.revision;

  // Step 2: A is killed. The subject's stream breaks; it resumes on B from its revision.
  const killedAt = Date.now();
  a.server.forceShutdown();
  await waitFor('the subject to watch B', () => control.current.address === b.address && subject.connected, 5000);
  const tookMs = Date.now() - killedAt;
  t.diagnostic(`on B ${tookMs} ms after A was killed`);
  assert.ok(tookMs < 5000, `on B after ${tookMs} ms`);
  assert.equal(subject.stats.joins, 1, 'no re-join');
  assert.equal(subject.stats.watchConnects, 2);
  assert.equal(subject.netmap.revision, revisionBefore);
  assert.equal(driver.operationCount, opsBefore, 'no WireGuard operation');

  // Step 3: a change made through B reaches the subject over its resumed stream.
  peers.push(makeAgent('peer2', bPort, 2));
  await peers[1]!.agent.start();
  await waitFor('peer2 on the subject', async () => (await driver.read()).peers.length === 2);
  const status = await buildStatus(subject);
  assert.equal(status.bootstrapAddr, b.address);
  assert.deepEqual(status.bootstrapAddrs, [a.address, b.address]);
  assert.equal(status.connected, true);
});
