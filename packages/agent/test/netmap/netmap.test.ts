import { meshNode } from '../fixtures.js';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyDelta, compareNames, emptyNetmap, netmapFromNodes, peerCount, peersOf, presentAndGone, selfNode, type MeshNode, type Netmap } from '../../src/netmap/netmap.js';

const node = (name: string, meshIp: string, extra: Partial<MeshNode> = {}): MeshNode =>
  meshNode(name, meshIp, { publicKey: Buffer.alloc(32, name.charCodeAt(0)).toString('base64'), ...extra });

/** A deep, order-independent copy of what a netmap holds, to prove it did not change. */
function freeze(netmap: Netmap): string {
  return JSON.stringify({ selfName: netmap.selfName, revision: netmap.revision, nodes: [...netmap.nodes.entries()] });
}

describe('netmap', () => {
  const me = node('me', '10.232.0.2');
  const alpha = node('alpha', '10.232.0.3');
  const beta = node('beta', '10.232.0.4');

  test('a snapshot replaces everything, whatever the revision', () => {
    const start = netmapFromNodes('me', 10, [me, alpha]);
    const next = applyDelta(start, { kind: 'snapshot', revision: 7, nodes: [me, beta] });
    assert.equal(next.revision, 7, 'a snapshot is authoritative (a restored bootstrap may be behind)');
    assert.deepEqual([...next.nodes.keys()].sort(), ['beta', 'me']);
    assert.equal(next.selfName, 'me');
  });

  test('an upsert adds a node, and replaces it when it changes', () => {
    let netmap = netmapFromNodes('me', 1, [me]);
    netmap = applyDelta(netmap, { kind: 'upsert', revision: 2, node: alpha });
    assert.equal(netmap.revision, 2);
    assert.deepEqual(netmap.nodes.get('alpha'), alpha);

    const moved = node('alpha', '10.232.0.3', { endpoints: [{ ip: '192.0.2.9', port: 51820, kind: 'ENDPOINT_KIND_LAN' }] });
    netmap = applyDelta(netmap, { kind: 'upsert', revision: 3, node: moved });
    assert.equal(netmap.revision, 3);
    assert.equal(netmap.nodes.size, 2);
    assert.deepEqual(netmap.nodes.get('alpha'), moved);
  });

  test('a remove drops the node', () => {
    let netmap = netmapFromNodes('me', 5, [me, alpha, beta]);
    netmap = applyDelta(netmap, { kind: 'remove', revision: 6, name: 'alpha' });
    assert.equal(netmap.revision, 6);
    assert.deepEqual([...netmap.nodes.keys()].sort(), ['beta', 'me']);
  });

  test('deltas at or below the current revision are ignored, returning the same netmap', () => {
    const netmap = netmapFromNodes('me', 5, [me, alpha]);
    assert.equal(applyDelta(netmap, { kind: 'upsert', revision: 5, node: beta }), netmap);
    assert.equal(applyDelta(netmap, { kind: 'upsert', revision: 3, node: beta }), netmap);
    assert.equal(applyDelta(netmap, { kind: 'remove', revision: 4, name: 'alpha' }), netmap);
    assert.equal(netmap.nodes.size, 2);
    assert.equal(netmap.revision, 5);
  });

  test('applying a delta never changes the netmap it was given', () => {
    const original = netmapFromNodes('me', 1, [me, alpha]);
    const before = freeze(original);

    const a = applyDelta(original, { kind: 'upsert', revision: 2, node: beta });
    const b = applyDelta(original, { kind: 'remove', revision: 2, name: 'alpha' });
    const c = applyDelta(original, { kind: 'snapshot', revision: 9, nodes: [] });
    const d = applyDelta(original, { kind: 'upsert', revision: 2, node: node('alpha', '10.232.0.99') });

    assert.equal(freeze(original), before);
    assert.notEqual(a.nodes, original.nodes, 'a new map, not the old one mutated');
    assert.ok(a.nodes.has('beta') && !original.nodes.has('beta'));
    assert.ok(!b.nodes.has('alpha') && original.nodes.has('alpha'));
    assert.equal(c.nodes.size, 0);
    assert.equal(d.nodes.get('alpha')?.meshIp, '10.232.0.99');
    assert.equal(original.nodes.get('alpha')?.meshIp, '10.232.0.3');
  });

  test('a snapshot does not share its node list with the netmap', () => {
    const nodes = [me, alpha];
    const netmap = applyDelta(emptyNetmap('me'), { kind: 'snapshot', revision: 1, nodes });
    nodes.push(beta);
    assert.equal(netmap.nodes.size, 2);
  });

  test('peersOf is every node but self, sorted by name; selfNode finds self', () => {
    const netmap = netmapFromNodes('me', 1, [node('zulu', '10.232.0.9'), me, beta, alpha]);
    assert.deepEqual(peersOf(netmap).map((n) => n.name), ['alpha', 'beta', 'zulu']);
    assert.equal(selfNode(netmap)?.meshIp, '10.232.0.2');
    assert.equal(selfNode(emptyNetmap('me')), undefined);
  });

  test('presentAndGone splits names into the nodes the netmap has and the names it has not', () => {
    const netmap = netmapFromNodes('me', 1, [me, alpha, beta]);
    const { present, gone } = presentAndGone(netmap, ['alpha', 'zulu', 'me', 'gone']);
    assert.deepEqual(present.map((n) => n.name), ['alpha', 'me']);
    assert.deepEqual(gone, ['zulu', 'gone']);
  });

  test('peerCount counts every node but self, with or without self in the table', () => {
    assert.equal(peerCount(netmapFromNodes('me', 1, [node('zulu', '10.232.0.9'), me, beta, alpha])), 3);
    assert.equal(peerCount(netmapFromNodes('me', 1, [beta, alpha])), 2);
    assert.equal(peerCount(emptyNetmap('me')), 0);
  });

  test('a sequence of deltas from an empty netmap builds the expected membership', () => {
    let netmap = emptyNetmap('me');
    netmap = applyDelta(netmap, { kind: 'snapshot', revision: 3, nodes: [me] });
    netmap = applyDelta(netmap, { kind: 'upsert', revision: 4, node: alpha });
    netmap = applyDelta(netmap, { kind: 'upsert', revision: 5, node: beta });
    netmap = applyDelta(netmap, { kind: 'upsert', revision: 4, node: node('stale', '10.232.0.50') }); // a duplicate after a reconnect
    netmap = applyDelta(netmap, { kind: 'remove', revision: 6, name: 'alpha' });
    assert.equal(netmap.revision, 6);
    assert.deepEqual([...netmap.nodes.keys()].sort(), ['beta', 'me']);
  });
});

describe('compareNames', () => {
  test('property: on DNS labels (a-z, 0-9, -) it orders as localeCompare does, seeded 20 000 pairs', () => {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-';
    let seed = 18;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const label = () => Array.from({ length: 1 + Math.floor(random() * 6) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
    for (let i = 0; i < 20_000; i++) {
      const [a, b] = [label(), label()];
      assert.equal(compareNames(a, b), Math.sign(a.localeCompare(b)), `${a} vs ${b}`);
    }
  });
});
