import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadProtos } from '@wgmesh/agent/proto/load';
import type { MeshNode } from '@wgmesh/agent/netmap/netmap';
import { EncodedMembership, joinResponseSerializer } from '../../src/service/membership-bytes.js';

const Join = loadProtos().mesh.wgmesh.v1.Mesh.service.Join;
const Watch = loadProtos().mesh.wgmesh.v1.Mesh.service.Watch;

function node(i: number): MeshNode {
  return {
    name: `n${i}`, publicKey: Buffer.alloc(32, i).toString('base64'), meshIp: `198.18.0.${i}`, endpoints: [{ ip: `192.0.2.${i}`, port: 54540, kind: 'ENDPOINT_KIND_LAN' }],
    tags: { role: 'web' }, status: 'NODE_STATUS_ALIVE', joinedAtMs: 1000 + i, lastSeenMs: 2000 + i, statusChangedMs: 1000 + i, isBootstrap: i === 1, listenPort: 54540, relay: false,
  } as MeshNode;
}

test('a Join answer with its membership encoded once decodes to the same answer as one encoded whole', () => {
  const nodes = Object.freeze([node(1), node(2), node(3)]) as MeshNode[];
  const response = { nodeName: 'n3', meshIp: '198.18.0.3', meshCidr: '198.18.0.0/16', meshCreatedMs: 5, revision: 9, nodes, nodeSecret: 's', presharedKeys: true };
  const membership = new EncodedMembership();
  const serialize = joinResponseSerializer(Join.responseSerialize);
  const cached = serialize(membership.joinResponse(response));
  assert.deepEqual(Join.responseDeserialize(cached), Join.responseDeserialize(Join.responseSerialize(response)));
  assert.equal((Join.responseDeserialize(cached) as { nodes: unknown[] }).nodes.length, 3);
  // The same membership list: the same encoded bytes, not encoded again.
  const again = membership.joinResponse({ ...response, nodeName: 'n2', meshIp: '198.18.0.2' });
  assert.equal((Join.responseDeserialize(serialize(again)) as { nodeName: string }).nodeName, 'n2');
  // A server with the plain serializer still sends the whole answer.
  assert.deepEqual(Join.responseDeserialize(Join.responseSerialize(again)), Join.responseDeserialize(serialize(again)));
});

test('a snapshot event is encoded once per revision and decodes to the snapshot', () => {
  const nodes = [node(1), node(2)];
  const membership = new EncodedMembership();
  const first = membership.snapshotEvent(4, nodes);
  assert.equal(membership.snapshotEvent(4, nodes), first, 'cached');
  assert.deepEqual(Watch.responseDeserialize(first), Watch.responseDeserialize(Watch.responseSerialize({ revision: 4, snapshot: { nodes } })));
  assert.notEqual(membership.snapshotEvent(5, nodes), first, 'a new revision is encoded anew');
});

test('a new revision of the membership encodes only the nodes it changed; its bytes are what encoding it whole gives', () => {
  const membership = new EncodedMembership();
  const serialize = joinResponseSerializer(Join.responseSerialize);
  const answer = (nodes: MeshNode[]) => ({ nodeName: 'n1', meshIp: '198.18.0.1', meshCidr: '198.18.0.0/16', meshCreatedMs: 5, revision: nodes.length, nodes, nodeSecret: '', presharedKeys: false });
  const nodes = Array.from({ length: 50 }, (_, i) => node(i + 1));
  let encodedNodes = 0;
  const real = Join.responseSerialize;
  // The same answer as encoding it whole (the cached nodes come after the other fields, so compared decoded).
  const same = (bytes: Buffer, expected: ReturnType<typeof answer>) => assert.deepEqual(Join.responseDeserialize(bytes), Join.responseDeserialize(real(expected)));
  (membership as unknown as { serializeJoin: typeof real }).serializeJoin = (value) => {
    encodedNodes += (value as { nodes: unknown[] }).nodes.length;
    return real(value);
  };
  same(serialize(membership.joinResponse(answer(nodes))), answer(nodes));
  assert.equal(encodedNodes, 50);
  // A join (one node more) and an upsert (one node replaced): each new list costs its new node.
  const grown = [...nodes, node(51)];
  same(serialize(membership.joinResponse(answer(grown))), answer(grown));
  const changed = grown.map((n) => (n.name === 'n7' ? { ...n, tags: { role: 'db' } } : n));
  same(serialize(membership.joinResponse(answer(changed))), answer(changed));
  assert.equal(encodedNodes, 52);
});
