import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { generateKeyPair, silentLogger, type PresharedKeysResponse } from '@wgmesh/agent';
import { Ipam } from '../../src/ipam/ipam.js';
import { MemberTable } from '../../src/members/table.js';
import { MemoryStateStore } from '../../src/members/store.js';
import { devAuthenticator } from '../../src/service/auth.js';
import { createMeshService } from '../../src/service/mesh-service.js';
import { derivePresharedKey, presharedKeySource } from '../../src/psk/psk.js';

const MESH = 'psk';
const SECRET = Buffer.alloc(32, 3);

/** Three members w0-w2 (dev mode, each with its secret) and a service with or without -psk. */
async function setup(psk = true) {
  const table = await MemberTable.open(new MemoryStateStore(), new Ipam('10.232.0.0/16'), { meshName: MESH });
  const service = createMeshService({ table, auth: devAuthenticator, logger: silentLogger(), ...(psk ? { presharedKeys: presharedKeySource(SECRET) } : {}) });
  const nodes: { name: string; publicKey: string; secret: string }[] = [];
  for (let i = 0; i < 3; i++) {
    const { publicKey } = generateKeyPair();
    const { secret } = await table.join({ name: `w${i}`, identity: { publicKey }, endpoints: [], tags: {}, listenPort: 51820 });
    nodes.push({ name: `w${i}`, publicKey, secret });
  }
  return { table, service, nodes };
}

/** One PresharedKeys call through the handler: the answer, or the gRPC status it failed with. */
function ask(
  service: Awaited<ReturnType<typeof setup>>['service'],
  request: { nodeName: string; publicKey: string; nodeSecret: string; peers: string[] },
): Promise<{ res?: PresharedKeysResponse; code?: string }> {
  return new Promise((resolve) => {
    const call = { request: { meshName: MESH, ...request }, getPeer: () => 'ipv4:127.0.0.1:1', getAuthContext: () => ({}) };
    service.handlers.PresharedKeys(call as never, (err, res) => {
      resolve(err ? { code: grpc.status[err.code!] } : { res: res! });
    });
  });
}

test("a member gets its key with each member it asks about, the one the peer gets for the same pair", async () => {
  const { service, nodes } = await setup();
  const [w0, w1, w2] = nodes as [typeof nodes[0], typeof nodes[0], typeof nodes[0]];
  const stranger = generateKeyPair().publicKey;
  const { res } = await ask(service, { nodeName: 'w0', publicKey: w0.publicKey, nodeSecret: w0.secret, peers: [w1.publicKey, w2.publicKey, w0.publicKey, stranger] });
  const keys = new Map(res!.keys!.map((k) => [k.peer, k.presharedKey]));
  assert.deepEqual([...keys.keys()].sort(), [w1.publicKey, w2.publicKey].sort(), 'members only: not itself, not a stranger');
  assert.equal(keys.get(w1.publicKey), derivePresharedKey(SECRET, w0.publicKey, w1.publicKey));
  assert.notEqual(keys.get(w1.publicKey), keys.get(w2.publicKey));

  const { res: fromW1 } = await ask(service, { nodeName: 'w1', publicKey: w1.publicKey, nodeSecret: w1.secret, peers: [w0.publicKey] });
  assert.equal(fromW1!.keys![0]!.presharedKey, keys.get(w1.publicKey), 'both ends of w0-w1 get one key');
});

test('refused: a node that is not a member, one asking as another node, a request too large, a mesh without -psk', async () => {
  const { service, nodes } = await setup();
  const [w0, w1] = nodes as [typeof nodes[0], typeof nodes[0]];
  const outsider = generateKeyPair().publicKey;
  assert.equal((await ask(service, { nodeName: 'outsider', publicKey: outsider, nodeSecret: 'x', peers: [w0.publicKey] })).code, 'NOT_FOUND');
  // w0's secret does not make it w1, nor does w1's public key.
  assert.equal((await ask(service, { nodeName: 'w1', publicKey: w1.publicKey, nodeSecret: w0.secret, peers: [w0.publicKey] })).code, 'PERMISSION_DENIED');
  assert.equal((await ask(service, { nodeName: 'w1', publicKey: w1.publicKey, nodeSecret: '', peers: [w0.publicKey] })).code, 'PERMISSION_DENIED');
  const tooMany = Array.from({ length: 257 }, () => generateKeyPair().publicKey);
  assert.equal((await ask(service, { nodeName: 'w0', publicKey: w0.publicKey, nodeSecret: w0.secret, peers: tooMany })).code, 'INVALID_ARGUMENT');
  assert.equal((await ask(service, { nodeName: 'w0', publicKey: w0.publicKey, nodeSecret: w0.secret, peers: ['not a key'] })).code, 'INVALID_ARGUMENT');

  const off = await setup(false);
  const o0 = off.nodes[0]!;
  assert.equal((await ask(off.service, { nodeName: 'w0', publicKey: o0.publicKey, nodeSecret: o0.secret, peers: [off.nodes[1]!.publicKey] })).code, 'FAILED_PRECONDITION');
});

test('the join answer says whether the mesh has preshared keys', async () => {
  for (const psk of [true, false]) {
    const { service } = await setup(psk);
    const { publicKey } = generateKeyPair();
    const response = await new Promise<{ presharedKeys?: boolean }>((resolve, reject) => {
      const call = { request: { meshName: MESH, nodeName: 'joiner', publicKey, nodeSecret: '', endpoints: [], tags: {}, listenPort: 51820, relay: false }, getPeer: () => 'ipv4:127.0.0.1:1', getAuthContext: () => ({}) };
      service.handlers.Join(call as never, (err, res) => (err ? reject(new Error(err.details)) : resolve(res!)));
    });
    assert.equal(response.presharedKeys, psk);
  }
});
