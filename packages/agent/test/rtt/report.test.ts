import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rttMoved } from '../../src/agent.js';

const s = (peer: string, rttMs: number, loss = 0) => ({ peer, rttMs, loss });

test('RTT samples are re-reported only when they moved noticeably', () => {
  const last = [s('a', 10), s('b', 0.8)];
  assert.equal(rttMoved(last, [s('a', 10.4), s('b', 1.1)]), false, 'jitter within 20 % or 0.5 ms is not news');
  assert.equal(rttMoved(last, [s('a', 13), s('b', 0.8)]), true, '30 % slower is');
  assert.equal(rttMoved(last, [s('a', 10), s('b', 0.8, 0.2)]), true, 'loss appearing is');
  assert.equal(rttMoved(last, [s('a', 10), s('b', 0, 1)]), true, 'a peer becoming unreachable is');
  assert.equal(rttMoved(last, [s('a', 10)]), true, 'a peer gone is');
  assert.equal(rttMoved(last, [s('a', 10), s('c', 0.8)]), true, 'a different peer is');
});
