import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { meshNode, seededRandom } from '../fixtures.js';
import { NodeMap } from '../../src/netmap/node-map.js';
import type { MeshNode } from '../../src/netmap/netmap.js';

const relaysIn = (nodes: Iterable<MeshNode>) => [...nodes].filter((n) => n.relay).length;

describe('NodeMap', () => {
  test('counts its relays as nodes are added, replaced (relay on, off) and removed', () => {
    const a = meshNode('a', '10.232.0.2', { relay: true });
    const b = meshNode('b', '10.232.0.3');
    let map = NodeMap.of([a, b]);
    assert.equal(map.relays, 1);
    map = map.update((d) => d.set('b', { ...b, relay: true }));
    assert.equal(map.relays, 2, 'b became a relay');
    map = map.update((d) => d.set('a', { ...a, relay: false }));
    assert.equal(map.relays, 1, 'a stopped relaying');
    map = map.update((d) => {
      d.delete('b');
      d.delete('b');
      d.delete('nobody');
    });
    assert.equal(map.relays, 0, 'a removed relay counts once, unknown names not at all');
    assert.equal(NodeMap.of([a, { ...a, relay: false }]).relays, 0, 'a name listed twice counts as its last entry');
    assert.equal(NodeMap.empty.relays, 0);
  });

  test('property: after seeded random batches the count equals a count over the nodes, and old tables keep theirs', () => {
    const random = seededRandom(19);
    let map = NodeMap.empty;
    const history: [NodeMap, number][] = [];
    for (let batch = 0; batch < 300; batch++) {
      map = map.update((draft) => {
        const ops = 1 + Math.floor(random() * 5);
        for (let i = 0; i < ops; i++) {
          const name = `n${Math.floor(random() * 40)}`;
          if (random() < 0.3) draft.delete(name);
          else draft.set(name, meshNode(name, '10.232.1.1', { relay: random() < 0.4 }));
        }
      });
      assert.equal(map.relays, relaysIn(map.values()), `batch ${batch}`);
      history.push([map, map.relays]);
    }
    const counts = history.map(([, n]) => n);
    assert.ok(counts.some((n, i) => i > 0 && n > counts[i - 1]!) && counts.some((n, i) => i > 0 && n < counts[i - 1]!), 'the count went both up and down');
    for (const [old, count] of history) assert.equal(old.relays, count, 'a table is never changed by later updates');
  });
});
