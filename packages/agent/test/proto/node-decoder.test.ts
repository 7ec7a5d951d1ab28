/**
 * NodeDecoder (installed for wgmesh.v1.Node by load.ts) against protobufjs's reflection, which
 * decodes from the .proto files with the generated code's rules: the same objects, with the same
 * key order, for every message that holds nodes, on random, odd and malformed input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import protobuf from 'protobufjs';
import { codecOf } from '../../src/proto/load.js';
import { seededRandom } from '../fixtures.js';

const agentDir = path.resolve(import.meta.dirname, '../..');
const TO_OBJECT = { longs: Number, enums: String, defaults: true, oneofs: true };

function reflectionRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, file) => path.join(agentDir, '../../proto', file);
  root.loadSync(['wgmesh/v1/mesh.proto', 'wgmesh/v1/agent.proto'], { keepCase: false });
  return root;
}


/** A node with odd values where the decoder could go wrong: enum numbers without a name, int64s past 2^53 and below 0, "__proto__" as a tag. */
function randomNode(rnd: () => number, i: number): Record<string, unknown> {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const node: Record<string, unknown> = {};
  const maybe = (key: string, value: () => unknown) => {
    if (rnd() < 0.8) node[key] = value();
  };
  maybe('name', () => pick([`n${i}`, '', 'ünïcödé ✓', 'x'.repeat(Math.floor(rnd() * 300))]));
  maybe('publicKey', () => Buffer.alloc(32, i).toString('base64'));
  maybe('meshIp', () => pick([`198.18.${i >> 8}.${i & 255}`, 'fd00::1', '']));
  maybe('endpoints', () => Array.from({ length: Math.floor(rnd() * 4) }, () => {
    const e: Record<string, unknown> = {};
    if (rnd() < 0.9) e.ip = pick(['192.0.2.1', '203.0.113.77', '2001:db8::1', '']);
    if (rnd() < 0.9) e.port = pick([0, 1, 51820, 65535, 2 ** 32 - 1]);
    if (rnd() < 0.9) e.kind = pick([0, 1, 2, 3, 4, 5, 6, 99, 'ENDPOINT_KIND_STUN']);
    return e;
  }));
  maybe('tags', () => {
    const tags: Record<string, string> = {};
    for (let k = Math.floor(rnd() * 4); k > 0; k--) tags[pick(['role', 'zone', '', 'ü', `k${k}`])] = pick(['db', '', 'ünï', 'v'.repeat(200)]);
    if (rnd() < 0.1) Object.defineProperty(tags, '__proto__', { value: 'polluted?', enumerable: true });
    return tags;
  });
  maybe('status', () => pick([0, 1, 2, 3, 4, 7, 'NODE_STATUS_ALIVE']));
  for (const key of ['joinedAtMs', 'lastSeenMs', 'statusChangedMs']) {
    maybe(key, () => pick([0, 1, -1, 127, 128, 2 ** 31, 2 ** 32, 1_764_700_000_123, -(2 ** 40), Number.MAX_SAFE_INTEGER, '9223372036854775807', '-9223372036854775808', '18014398509481985']));
  }
  maybe('isBootstrap', () => rnd() < 0.5);
  maybe('listenPort', () => pick([0, 51820, 2 ** 32 - 1]));
  maybe('relay', () => rnd() < 0.5);
  return node;
}

/** Messages that hold nodes, with a way to wrap some in each. */
const HOLDERS: { type: string; wrap: (nodes: Record<string, unknown>[]) => Record<string, unknown> }[] = [
  { type: 'wgmesh.v1.WatchEvent', wrap: (nodes) => ({ revision: 7, snapshot: { nodes } }) },
  { type: 'wgmesh.v1.WatchEvent', wrap: (nodes) => ({ revision: 8, upsert: nodes[0] ?? {} }) },
  { type: 'wgmesh.v1.WatchEvent', wrap: (nodes) => ({ revision: 9, batch: { events: nodes.map((node, k) => (k % 3 === 2 ? { revision: 10 + k, remove: { name: `gone${k}` } } : { revision: 10 + k, upsert: node })) } }) },
  { type: 'wgmesh.v1.JoinResponse', wrap: (nodes) => ({ nodeName: 'me', meshIp: '198.18.0.9', revision: 3, nodes }) },
];

/** Unknown fields of every wire type appended to a message: the decoders must skip them alike. */
function withUnknownFields(bytes: Uint8Array, rnd: () => number): Uint8Array {
  const w = protobuf.Writer.create();
  const n = Math.floor(rnd() * 3);
  for (let k = 0; k < n; k++) {
    const field = 14 + Math.floor(rnd() * 50);
    switch (Math.floor(rnd() * 4)) {
      case 0: w.uint32((field << 3) | 0).uint64(2 ** 40 + k); break;
      case 1: w.uint32((field << 3) | 1).fixed64(k); break;
      case 2: w.uint32((field << 3) | 2).bytes(Buffer.from('unknown')); break;
      default: w.uint32((field << 3) | 5).fixed32(k); break;
    }
  }
  return Buffer.concat([bytes, w.finish()]);
}

/** What decoding gives: the object as JSON (key order included), or that it threw. */
function outcome(decode: () => unknown): string {
  try {
    return JSON.stringify(decode());
  } catch {
    return 'threw';
  }
}

test('nodes decode to what the generated codec gives, key order included, in every message that holds them', () => {
  const root = reflectionRoot();
  const rnd = seededRandom(20261203);
  let compared = 0;
  let protoKeys = 0;
  const Node = root.lookupType('wgmesh.v1.Node');
  const Snapshot = root.lookupType('wgmesh.v1.Snapshot');
  const oursSnapshot = codecOf('wgmesh.v1.Snapshot');
  for (let round = 0; round < 150; round++) {
    const holder = HOLDERS[round % HOLDERS.length]!;
    const type = root.lookupType(holder.type);
    // Each node encoded alone, its unknown fields appended, then the holder around the raw bytes:
    // the holder's own fields come from fromObject, the nodes' bytes are spliced in by hand.
    const nodes = Array.from({ length: 1 + Math.floor(rnd() * 5) }, (_, i) => randomNode(rnd, round * 10 + i));
    const value = type.fromObject(holder.wrap(nodes));
    const bytes = type.encode(value).finish();
    const ours = codecOf(holder.type);
    const expected = type.toObject(type.decode(bytes), TO_OBJECT);
    const actual = ours.toObject(ours.decode(bytes), TO_OBJECT);
    assert.deepEqual(actual, expected, `${holder.type} round ${round}`);
    assert.equal(JSON.stringify(actual), JSON.stringify(expected), `${holder.type} round ${round}: key order`);
    for (const node of nodes) {
      const nodeBytes = withUnknownFields(Node.encode(Node.fromObject(node)).finish(), rnd);
      const w = protobuf.Writer.create();
      w.uint32((1 << 3) | 2).bytes(nodeBytes);
      const snapshotBytes = w.finish();
      const got = oursSnapshot.toObject(oursSnapshot.decode(snapshotBytes), TO_OBJECT) as { nodes: { tags: object }[] };
      const want = Snapshot.toObject(Snapshot.decode(snapshotBytes), TO_OBJECT) as { nodes: { tags: object }[] };
      assert.deepEqual(got, want);
      assert.equal(JSON.stringify(got), JSON.stringify(want));
      // "__proto__" stays a tag (an own key), never the object's prototype.
      if (Object.keys(got.nodes[0]!.tags).includes('__proto__')) {
        protoKeys++;
        assert.equal(Object.getPrototypeOf(got.nodes[0]!.tags), Object.prototype);
      }
      compared++;
    }
  }
  assert.ok(compared >= 300, `compared ${compared} nodes`);
  assert.ok(protoKeys > 0, 'some node had a "__proto__" tag');
});

test('malformed input: cut at every byte or with a byte changed, it throws where the generated codec throws and reads the same where it reads', () => {
  const root = reflectionRoot();
  const rnd = seededRandom(7);
  const type = root.lookupType('wgmesh.v1.WatchEvent');
  const ours = codecOf('wgmesh.v1.WatchEvent');
  let threw = 0;
  let read = 0;
  for (let round = 0; round < 6; round++) {
    const nodes = Array.from({ length: 3 }, (_, i) => randomNode(rnd, i));
    const bytes = type.encode(type.fromObject({ revision: 1, snapshot: { nodes } })).finish();
    const variants: Uint8Array[] = [];
    for (let cut = 0; cut < bytes.length; cut++) variants.push(bytes.subarray(0, cut));
    for (let k = 0; k < 200; k++) {
      const changed = Buffer.from(bytes);
      changed[Math.floor(rnd() * changed.length)] = Math.floor(rnd() * 256);
      variants.push(changed);
    }
    for (const variant of variants) {
      const expected = outcome(() => type.toObject(type.decode(variant), TO_OBJECT));
      const actual = outcome(() => ours.toObject(ours.decode(variant), TO_OBJECT));
      assert.equal(actual, expected, `bytes ${Buffer.from(variant).toString('hex')}`);
      if (expected === 'threw') threw++;
      else read++;
    }
  }
  // Both kinds occurred, so both halves of the rule were checked.
  assert.ok(threw > 100 && read > 100, `threw ${threw}, read ${read}`);
});

test('a Node message made in code (fromObject) still converts with the generated toObject', () => {
  const Node = codecOf('wgmesh.v1.Node');
  const message = Node.fromObject({ name: 'n1', status: 'NODE_STATUS_ALIVE', joinedAtMs: 5, endpoints: [{ ip: '192.0.2.1', port: 1, kind: 'ENDPOINT_KIND_LAN' }] });
  const object = Node.toObject(message, TO_OBJECT) as Record<string, unknown>;
  assert.notEqual(object, message);
  assert.equal(object.name, 'n1');
  assert.equal(object.status, 'NODE_STATUS_ALIVE');
  assert.equal(object.joinedAtMs, 5);
  assert.deepEqual(object.endpoints, [{ ip: '192.0.2.1', port: 1, kind: 'ENDPOINT_KIND_LAN' }]);
  assert.deepEqual(object.tags, {});
});
