import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Agent, ControlCallError, createGrpcControlClient, generateKeyPair, MemoryAgentStateStore, MemoryWgDriver, type ControlClient } from '@wgmesh/agent';
import { startBootstrap, tempDir, MESH } from '../helpers/inprocess.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A node the bootstrap removed (reaped, revoked, or forged away) must notice and re-join, or say
 * why it cannot: it used to keep saying "connected" with a heartbeat refused every 5 s.
 */

const keys = new WeakMap<Agent, string>();
const agentKey = (agent: Agent): string => keys.get(agent)!;

function agentWith(control: ControlClient, name: string, stateStore = new MemoryAgentStateStore(), privateKey = generateKeyPair().privateKey) {
  const driver = new MemoryWgDriver(`wg-${name}`);
  const agent = new Agent(
    { control, driver, stateStore },
    {
      meshName: MESH, nodeName: name, privateKey, listenPort: 54540,
      endpoints: () => [{ ip: '192.0.2.31', port: 54540, kind: 'ENDPOINT_KIND_LAN' }],
      heartbeatMs: 200, backoffInitialMs: 50, backoffMaxMs: 500,
    },
  );
  keys.set(agent, privateKey);
  return { agent, driver, stateStore };
}

const grpcControl = (port: number) => createGrpcControlClient({ address: `127.0.0.1:${port}`, credentials: grpc.credentials.createInsecure() });

test('removed nodes re-join: told by the Watch stream, or by a refused heartbeat', async (t) => {
  const { dir, cleanup } = await tempDir();
  const { bootstrap } = await startBootstrap(path.join(dir, 'state.json'));
  const agents: Agent[] = [];
  after(async () => {
    await Promise.all(agents.map((a) => a.stop({ leave: false })));
    await bootstrap.stop();
    await cleanup();
  });
  const table = bootstrap.table!;

  await t.test('removed from the member table (as the reaper does): back within 10 s, as the same node', async () => {
    const { agent } = agentWith(grpcControl(bootstrap.port), 'removed');
    agents.push(agent);
    await agent.start();
    await waitFor('the Watch stream to open', () => agent.connected);
    const secretHash = table.get('removed')!.secretHash;
    assert.match(secretHash ?? '', /^[0-9a-f]{64}$/, "the member keeps the hash of the node's secret");

    const removedAt = Date.now();
    await table.remove('removed');
    await waitFor('the node to be a member again', () => table.get('removed') && agent.connected, 10_000);
    const took = Date.now() - removedAt;
    assert.ok(took < 10_000, `re-joined in ${took} ms`);
    assert.equal(agent.joined!.nodeName, 'removed');
    assert.equal(table.get('removed')!.secretHash, secretHash, 'the same secret: it is derived from the node\'s key');
    assert.equal(agent.controlError, '', 'nothing refused once back');
  });

  await t.test('a join the bootstrap saved but never answered (it crashed) is retried as the same node, without agent state', async () => {
    const { agent } = agentWith(grpcControl(bootstrap.port), 'unanswered');
    agents.push(agent);
    // The bootstrap saved the member and crashed before answering: the node has no agent.json and
    // no JoinResponse, only its key. Played here by starting it, then forgetting its state.
    await agent.start();
    await waitFor('the Watch stream to open', () => agent.connected);
    const ip = table.get('unanswered')!.meshIp;
    await agent.stop({ leave: false });
    const { agent: again } = agentWith(grpcControl(bootstrap.port), 'unanswered', new MemoryAgentStateStore(), agentKey(agent));
    agents.push(again);
    await again.start();
    assert.equal(again.meshIp, ip, 'the same member, the same IP');
    // Someone with only its name and public key is still refused.
    await assert.rejects(grpcControl(bootstrap.port).update({ meshName: MESH, nodeName: 'unanswered', publicKey: again.publicKey, endpoints: [], tags: { x: 'y' }, rtt: [] }), /node_secret is missing/);
  });

  await t.test('a heartbeat refused with NOT_FOUND while the Watch stream stays open: the node re-joins', async () => {
    const real = grpcControl(bootstrap.port);
    let refuseNext = false;
    let joins = 0;
    // The bootstrap forgot the node without ending its stream (e.g. it restarted from an older state file).
    const control: ControlClient = {
      ...real,
      join: (req) => {
        joins++;
        return real.join(req);
      },
      update: (req) => {
        if (!refuseNext) return real.update(req);
        refuseNext = false;
        return Promise.reject(new ControlCallError(grpc.status.NOT_FOUND, 'node_name: "forgotten" is not a member of this mesh', 'Update'));
      },
    };
    const { agent } = agentWith(control, 'forgotten');
    agents.push(agent);
    await agent.start();
    await waitFor('the Watch stream to open', () => agent.connected);
    assert.equal(joins, 1);

    refuseNext = true;
    await waitFor('a second join after the refused heartbeat', () => joins >= 2, 10_000);
    await waitFor('the node connected again', () => agent.connected && agent.controlError === '', 10_000);
  });

  await t.test('a node that cannot come back says why: controlError names the refusal', async () => {
    const real = grpcControl(bootstrap.port);
    let refuse = false;
    const refusal = () => Promise.reject(new ControlCallError(grpc.status.PERMISSION_DENIED, 'the client certificate "shut" (serial 1f) has been revoked', 'Join'));
    const control: ControlClient = {
      ...real,
      join: (req) => (refuse ? refusal() : real.join(req)),
      update: (req) => (refuse ? refusal() : real.update(req)),
    };
    const { agent } = agentWith(control, 'shut');
    agents.push(agent);
    await agent.start();
    await waitFor('the Watch stream to open', () => agent.connected);

    refuse = true;
    await table.remove('shut');
    await waitFor('the refusal shown', () => /revoked/.test(agent.controlError), 10_000);
    assert.equal(agent.connected, false, 'not shown as connected');
  });
});
