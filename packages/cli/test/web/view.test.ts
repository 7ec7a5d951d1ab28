import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { filterRows, heatColour, heatFromMatrix, heatRgb, heatScaleTop, pageOf, rowsFromStatus, shownTags, sortRows } from '../../src/web/view.js';
import { sampleRtt, sampleStatus } from './sample.js';

const rows = rowsFromStatus(sampleStatus());
const names = (list: { name: string }[]) => list.map((r) => r.name);

describe("the page's table", () => {
  test('one row per node, this node first: status, path (direct / via a relay), RTT, traffic', () => {
    assert.deepEqual(names(rows), ['h1', 'h2', 'h3']);
    assert.deepEqual({ ...rows[0], tags: undefined }, {
      name: 'h1', meshIp: '198.18.0.1', status: 'alive', path: 'self', endpoint: '192.0.2.1:51820', handshakeMs: 0, rttMs: 0, loss: 0, rxBytes: 0, txBytes: 0, tags: undefined, isSelf: true, isBootstrap: true,
    });
    assert.equal(rows[1]!.path, 'direct');
    assert.equal(rows[1]!.rttMs, 1.5);
    assert.equal(rows[2]!.path, 'via h2');
    assert.equal(rows[2]!.status, 'failed');
    assert.equal(rowsFromStatus(sampleStatus({ connected: false, isBootstrap: false }))[0]!.status, 'disconnected');
  });

  test('internal tags ("_" keys) only with the toggle', () => {
    assert.deepEqual(shownTags(rows[0]!.tags, false), [['role', 'bootstrap']]);
    assert.deepEqual(shownTags(rows[0]!.tags, true), [['_internal', 'x'], ['role', 'bootstrap']]);
  });

  test('search: every word must match, anywhere or in the field named', () => {
    assert.deepEqual(names(filterRows(rows, 'h2', false)), ['h2', 'h3'], 'h3 is reached via h2');
    assert.deepEqual(names(filterRows(rows, 'name:h2', false)), ['h2']);
    assert.deepEqual(names(filterRows(rows, '198.18.0.3', false)), ['h3']);
    assert.deepEqual(names(filterRows(rows, 'FAILED', false)), ['h3']);
    assert.deepEqual(names(filterRows(rows, 'tag:role=db', false)), ['h2']);
    assert.deepEqual(names(filterRows(rows, 'via', false)), ['h3']);
    assert.deepEqual(names(filterRows(rows, 'alive role', false)), ['h1', 'h2']);
    assert.deepEqual(names(filterRows(rows, '_zone', false)), [], 'hidden tags are not searched');
    assert.deepEqual(names(filterRows(rows, '_zone', true)), ['h3']);
    assert.deepEqual(names(filterRows(rows, '  ', false)), ['h1', 'h2', 'h3']);
  });

  test('sorting: numbers as numbers, rows without a value last both ways, ties by name', () => {
    const more = [...rows, { ...rows[1]!, name: 'h10', meshIp: '198.18.0.10', rttMs: 0.4 }];
    assert.deepEqual(names(sortRows(more, 'rtt', 'asc')), ['h10', 'h2', 'h1', 'h3']);
    assert.deepEqual(names(sortRows(more, 'rtt', 'desc')), ['h2', 'h10', 'h1', 'h3']);
    assert.deepEqual(names(sortRows(more, 'meshIp', 'asc')), ['h1', 'h2', 'h3', 'h10']);
    assert.deepEqual(names(sortRows(more, 'name', 'asc')), ['h1', 'h2', 'h3', 'h10']);
    assert.deepEqual(names(sortRows(more, 'status', 'asc')), ['h3', 'h1', 'h10', 'h2']);
  });

  test('paging 1,000 nodes: 100 a page, the page clamped', () => {
    const many = Array.from({ length: 1000 }, (_, i) => i);
    const p = pageOf(many, 3, 100);
    assert.deepEqual([p.first, p.last, p.total, p.pages, p.items.length], [301, 400, 1000, 10, 100]);
    assert.equal(pageOf(many, 99, 100).page, 9);
    assert.deepEqual(pageOf([], 0, 100), { items: [], page: 0, pages: 1, first: 0, last: 0, total: 0 });
  });

  test('the heat map: the matrix by node name, and its colours', () => {
    const heat = heatFromMatrix(sampleRtt());
    assert.deepEqual(heat.nodes, ['h1', 'h2', 'h3']);
    assert.deepEqual(heat.rtt, [[0, 1.5, 6], [1.4, 0, 0], [0, 0, 0]]);
    assert.equal(heat.loss[0]![2], 0.1);
    assert.equal(heat.max, 6);
    assert.equal(heatScaleTop(6), 20);
    assert.equal(heatColour(0, 20), '#e5e7eb');
    assert.equal(heatColour(20, 20), 'hsl(0 70% 48%)');
    assert.equal(heatColour(500, 20), 'hsl(0 70% 48%)');
    assert.match(heatColour(0.5, 20), /^hsl\((9\d|1[01]\d) /, 'sub-millisecond is green');
    // The same colours as bytes, for big matrices: hsl(0 70% 48%) and hsl(120 70% 48%), and the grey.
    assert.deepEqual(heatRgb(20, 20), [208, 37, 37]);
    assert.deepEqual(heatRgb(1e-9, 20), [37, 208, 37]);
    assert.deepEqual(heatRgb(0, 20), [229, 231, 235]);
  });
});
