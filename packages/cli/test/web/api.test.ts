import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { nodeListKey, originalMesh, originalNodes, originalUpdate } from '../../src/web/api.js';
import { sampleStatus } from './sample.js';
import { shapeProblems, type Shape } from './shape.js';

const ORIGINAL = JSON.parse(readFileSync(new URL('./fixtures/original-api.json', import.meta.url), 'utf8')) as Record<string, Shape>;

describe("the original's API from the status document", () => {
  test('/api/nodes: every node, this node first and marked isSelf, tags as they are (internal ones too), RTT in ms', () => {
    const nodes = originalNodes(sampleStatus());
    assert.deepEqual(shapeProblems(nodes, ORIGINAL['/api/nodes']!), []);
    assert.deepEqual(nodes.nodes, [
      { name: 'h1', meshIP: '198.18.0.1', tags: { role: 'bootstrap', _internal: 'x' }, rttMsec: 0, isSelf: true },
      { name: 'h2', meshIP: '198.18.0.2', tags: { role: 'db' }, rttMsec: 1.5, isSelf: false },
      { name: 'h3', meshIP: '198.18.0.3', tags: { _zone: 'a' }, rttMsec: 0, isSelf: false },
    ]);
  });

  test('/api/mesh: name, this node, node count with itself', () => {
    const mesh = originalMesh(sampleStatus());
    assert.deepEqual(shapeProblems(mesh, ORIGINAL['/api/mesh']!), []);
    assert.deepEqual(mesh, { name: 'lab', thisNodeName: 'h1', nodeCount: 3 });
  });

  test('/api/updates: {"a":"nodes","ts":ISO time}', () => {
    const update = originalUpdate(new Date(Date.UTC(2026, 0, 2, 3, 4, 5)));
    assert.deepEqual(shapeProblems(update, ORIGINAL['/api/updates']!), []);
    assert.deepEqual(update, { a: 'nodes', ts: '2026-01-02T03:04:05.000Z' });
  });

  test('the shape check itself catches a renamed field, a wrong type and a non-string tag', () => {
    assert.deepEqual(shapeProblems({ nodes: [{ name: 'a', meshIp: 'x', tags: {}, rttMsec: 0, isSelf: false }] }, ORIGINAL['/api/nodes']!).length > 0, true);
    assert.match(shapeProblems({ name: 'a', thisNodeName: 'b', nodeCount: '3' }, ORIGINAL['/api/mesh']!)[0]!, /nodeCount: a number/);
    assert.match(shapeProblems({ nodes: [{ name: 'a', meshIP: 'x', tags: { n: 1 }, rttMsec: 0, isSelf: false }] }, ORIGINAL['/api/nodes']!)[0]!, /tags\.n: a string value/);
  });

  test('the node list changes with a node, its tags or its status; not with RTT or traffic', () => {
    const base = nodeListKey(sampleStatus());
    const peers = sampleStatus().peers;
    assert.equal(nodeListKey(sampleStatus({ peers: peers.map((p) => ({ ...p, rttMs: p.rttMs + 3, rxBytes: 99 })) })), base);
    assert.notEqual(nodeListKey(sampleStatus({ peers: peers.slice(0, 1) })), base);
    assert.notEqual(nodeListKey(sampleStatus({ tags: { role: 'other' } })), base);
    assert.notEqual(nodeListKey(sampleStatus({ peers: peers.map((p) => ({ ...p, node: { ...p.node!, status: 'NODE_STATUS_SUSPECT' } })) })), base);
  });
});
