import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Agent, createGrpcControlClient, generateKeyPair, MemoryAgentStateStore, MemoryWgDriver } from '@wgmesh/agent';
import { makeAgent, startBootstrap, tempDir, MESH } from '../helpers/inprocess.js';
import { waitFor } from '../helpers/wait.js';

test('an agent restarted while the bootstrap is down restores its peers from saved state at once', async () => {
  const { dir, cleanup } = await tempDir();
  const stateFile = path.join(dir, 'state.json');
  let { bootstrap, privateKey: bootstrapKey } = await startBootstrap(stateFile);
  const port = bootstrap.port;
  const others = [makeAgent('peer1', port, 1), makeAgent('peer2', port, 2)];
  const store = new MemoryAgentStateStore();
  const key = generateKeyPair().privateKey;
  const makeSubject = () => {
    const driver = new MemoryWgDriver('wg-subject');
    const agent = new Agent(
      { control: createGrpcControlClient({ address: `127.0.0.1:${port}`, credentials: grpc.credentials.createInsecure(), callTimeoutMs: 2000 }), driver, stateStore: store },
      { meshName: MESH, nodeName: 'subject', privateKey: key, heartbeatMs: 60_000, backoffInitialMs: 50, backoffMaxMs: 300,
        endpoints: () => [{ ip: '192.0.2.50', port: 54540, kind: 'ENDPOINT_KIND_LAN' }] },
    );
    return { agent, driver };
  };
  let subject = makeSubject();
  after(async () => {
    await subject.agent.stop({ leave: false });
    await Promise.all(others.map((o) => o.agent.stop({ leave: false })));
    await bootstrap.stop();
    await cleanup();
  });

  await Promise.all(others.map((o) => o.agent.start()));
  await subject.agent.start();
  await waitFor('the subject to see both peers and the bootstrap', async () => (await subject.driver.read()).peers.length === 3);
  const ipBefore = subject.agent.meshIp;
  await waitFor('the state to be saved with all 4 nodes', () => store.state?.nodes.length === 4);

  // The subject crashes (no Leave), and the bootstrap goes away.
  await subject.agent.stop({ leave: false });
  await bootstrap.stop();

  subject = makeSubject();
  await subject.agent.start();
  assert.equal(subject.agent.restoredFromState, true);
  const peers = (await subject.driver.read()).peers;
  assert.equal(peers.length, 3, 'all peers are back as soon as start() returns, with no bootstrap');
  assert.equal(subject.driver.interfaceConfig?.address, `${ipBefore}/16`, 'same mesh IP');
  assert.equal(subject.agent.connected, false);

  // The bootstrap returns; the subject reconnects and keeps its IP.
  ({ bootstrap } = await startBootstrap(stateFile, port, bootstrapKey));
  await waitFor('the subject to reconnect', () => subject.agent.connected, 10_000);
  assert.equal(subject.agent.meshIp, ipBefore);
  assert.equal(bootstrap.table!.get('subject')?.meshIp, ipBefore);
  assert.equal((await subject.driver.read()).peers.length, 3);
});

test('an answered join is saved before the interface comes up: a failed bring-up does not lose the address', async () => {
  const { dir, cleanup } = await tempDir();
  const { bootstrap } = await startBootstrap(path.join(dir, 'state.json'));
  const store = new MemoryAgentStateStore();
  const key = generateKeyPair().privateKey;
  /** A device whose bring-up fails, as when wireguard-go dies at start (the process then exits). */
  class FailingUpDriver extends MemoryWgDriver {
    override async up(): Promise<void> {
      throw new Error('wireguard-go exited at start');
    }
  }
  const makeSubject = (driver: MemoryWgDriver) => new Agent(
    { control: createGrpcControlClient({ address: `127.0.0.1:${bootstrap.port}`, credentials: grpc.credentials.createInsecure(), callTimeoutMs: 2000 }), driver, stateStore: store },
    { meshName: MESH, nodeName: 'subject', privateKey: key, heartbeatMs: 60_000, backoffInitialMs: 50, backoffMaxMs: 300,
      endpoints: () => [{ ip: '192.0.2.60', port: 54540, kind: 'ENDPOINT_KIND_LAN' }] },
  );
  let subject = makeSubject(new FailingUpDriver('wg-subject'));
  after(async () => {
    await subject.stop({ leave: false });
    await bootstrap.stop();
    await cleanup();
  });

  await assert.rejects(subject.start(), /wireguard-go exited at start/);
  const given = bootstrap.table!.get('subject')?.meshIp;
  assert.ok(given, 'the bootstrap answered the join');
  assert.equal(store.state?.meshIp, given, 'the address the bootstrap gave out is on disk although the interface never came up');
  await subject.stop({ leave: false });

  // Started again (as systemd would) with a working device: it comes up on that address from the saved state.
  const driver = new MemoryWgDriver('wg-subject');
  subject = makeSubject(driver);
  await subject.start();
  assert.equal(subject.restoredFromState, true);
  assert.equal(driver.interfaceConfig?.address, `${given}/16`);
});
