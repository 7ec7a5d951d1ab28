import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeSeen } from '../../src/store/etcd-coordination.js';

test('mergeSeen: the latest heartbeat of each node over every bootstrap\'s published map; what does not parse is skipped', () => {
  const merged = mergeSeen([
    JSON.stringify({ a: 100, b: 300 }),
    JSON.stringify({ a: 200, c: 50 }),
    'not json',
    JSON.stringify(null),
    JSON.stringify({ d: 'yesterday', e: Number.MAX_SAFE_INTEGER }),
    JSON.stringify([1, 2]),
  ]);
  assert.deepEqual(Object.fromEntries(merged), { a: 200, b: 300, c: 50, e: Number.MAX_SAFE_INTEGER });
});
