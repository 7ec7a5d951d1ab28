/**
 * "A change costs an agent O(1)", for a mesh with preshared keys (-psk): an agent in a mesh of
 * 300 members asks the bootstrap for one pair key when a node joins, and for none when one
 * leaves, and its key bookkeeping is handed the changed peer only, never the list of every peer
 * (that happens once, at the join). (Before, every change handed its key bookkeeping the whole
 * sorted peer list, and a join's answers rebuilt a set of every peer per key: 9 s of CPU for a
 * node joining 10,000.)
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  Agent, createGrpcControlClient, generateKeyPair, loadProtos, MemoryWgDriver, type ControlClient, type JoinRequest, type JoinResponse__Output, type MeshClient, type WgKeyPair,
} from '@wgmesh/agent';
import { deadline, unary } from '@wgmesh/cli/local-api';
import { MESH, startBootstrap, tempDir } from '../helpers/inprocess.js';
import { waitFor } from '../helpers/wait.js';

const MEMBERS = 300;
const memberName = (i: number) => `m${i}`;

test(`-psk: an agent in a mesh of ${MEMBERS} members asks for one preshared key per join, none per leave`, async (t) => {
  const { dir, cleanup } = await tempDir();
  const { bootstrap } = await startBootstrap(path.join(dir, 'bootstrap.json'), 0, undefined, { presharedKeySecret: async () => Buffer.alloc(32, 7) });
  const client: MeshClient = new (loadProtos().mesh.wgmesh.v1.Mesh)(`127.0.0.1:${bootstrap.port}`, grpc.credentials.createInsecure());
  const driver = new MemoryWgDriver('wg-observer', { record: false });
  /** The observer's PresharedKeys calls: how many keys each asked for. */
  const asked: number[] = [];
  const grpcControl = createGrpcControlClient({ address: `127.0.0.1:${bootstrap.port}`, credentials: grpc.credentials.createInsecure() });
  const control: ControlClient = {
    ...grpcControl,
    presharedKeys: (req) => {
      asked.push(req.peers?.length ?? 0);
      return grpcControl.presharedKeys!(req);
    },
  };
  const observer = new Agent({ control, driver }, {
    meshName: MESH, nodeName: 'observer', privateKey: generateKeyPair().privateKey, listenPort: 54540,
    endpoints: () => [{ ip: '192.0.2.10', port: 54540, kind: 'ENDPOINT_KIND_LAN' }], heartbeatMs: 60_000,
  });
  after(async () => {
    client.close();
    await observer.stop({ leave: false });
    await bootstrap.stop();
    await cleanup();
  });

  const keys: WgKeyPair[] = Array.from({ length: MEMBERS }, () => generateKeyPair());
  const secrets: string[] = [];
  const joinRequest = (name: string, key: WgKeyPair, i: number): JoinRequest => ({
    meshName: MESH, nodeName: name, publicKey: key.publicKey, endpoints: [{ ip: `203.0.113.${(i % 250) + 1}`, port: 51820, kind: 'ENDPOINT_KIND_LAN' }], tags: {}, listenPort: 51820,
  });
  for (let start = 0; start < MEMBERS; start += 50) {
    const batch = keys.slice(start, start + 50).map((key, j) => unary<JoinResponse__Output>((cb) => client.join(joinRequest(memberName(start + j), key, start + j), deadline(30_000), cb)));
    for (const [j, response] of (await Promise.all(batch)).entries()) secrets[start + j] = response.nodeSecret;
  }

  /** The observer's peers, each with its preshared key. */
  const keyedPeers = async () => (await driver.read()).peers.filter((p) => p.presharedKey);

  await t.test(`the observer joins: every one of its ${MEMBERS + 1} peers gets a preshared key`, async () => {
    await observer.start();
    await waitFor(`${MEMBERS + 1} peers with a preshared key`, async () => (await keyedPeers()).length === MEMBERS + 1, 20_000);
    await waitFor('the observer to be watching', () => observer.connected);
    assert.equal(asked.reduce((a, b) => a + b, 0), MEMBERS + 1, 'each peer asked for once at the join');
    assert.equal(observer.presharedKeys.fullSyncs, 1, 'the join listed every peer once');
  });

  await t.test('a node joins: one call, for its key alone', async () => {
    const callsBefore = asked.length;
    const newcomer = generateKeyPair();
    await unary((cb) => client.join(joinRequest('newcomer', newcomer, MEMBERS), deadline(30_000), cb));
    await waitFor("the newcomer's peer with its preshared key", async () => (await keyedPeers()).some((p) => p.publicKey === newcomer.publicKey));
    assert.deepEqual(asked.slice(callsBefore), [1]);
    assert.equal(observer.presharedKeys.fullSyncs, 1, 'the change named its peer only: no list of every peer');
  });

  await t.test('a node leaves: no call, and its key is forgotten', async () => {
    const callsBefore = asked.length;
    const known = observer.presharedKeys.peers;
    const leaver = MEMBERS - 1;
    await unary((cb) => client.leave({ meshName: MESH, nodeName: memberName(leaver), publicKey: keys[leaver]!.publicKey, nodeSecret: secrets[leaver]! }, deadline(30_000), cb));
    await waitFor("the leaver's peer to be gone", async () => !(await driver.read()).peers.some((p) => p.publicKey === keys[leaver]!.publicKey));
    await observer.reconcile();
    assert.deepEqual(asked.slice(callsBefore), []);
    assert.equal(observer.presharedKeys.peers, known - 1);
    assert.equal(observer.presharedKeys.fullSyncs, 1, 'no list of every peer');
  });
});
