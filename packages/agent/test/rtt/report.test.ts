import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rttMoved, rttReportDue } from '../../src/agent.js';

const s = (peer: string, rttMs: number, loss = 0) => ({ peer, rttMs, loss });

test('RTT samples are re-reported only when they moved noticeably', () => {
  const last = [s('a', 10), s('b', 0.8)];
  assert.equal(rttMoved(last, [s('a', 10.4), s('b', 0.95)]), false, 'jitter within 20 % (or 1.25x on sub-millisecond figures) is not news');
  assert.equal(rttMoved(last, [s('a', 13), s('b', 0.8)]), true, '30 % slower is');
  assert.equal(rttMoved(last, [s('a', 10), s('b', 0.35)]), true, 'a sub-millisecond figure off by more than 1.25x is, though by under 0.5 ms');
  assert.equal(rttMoved([s('a', 0.4)], [s('a', 0.52)]), true, 'so is 0.4 to 0.52 ms (1.3x)');
  assert.equal(rttMoved([s('a', 0.4)], [s('a', 0.48)]), false, 'but not 0.4 to 0.48 ms (1.2x)');
  assert.equal(rttMoved([s('a', 0.1)], [s('a', 0.18)]), false, 'a change of under 0.1 ms is not');
  assert.equal(rttMoved(last, [s('a', 10), s('b', 0.8, 0.2)]), true, 'loss appearing is');
  assert.equal(rttMoved(last, [s('a', 10), s('b', 0, 1)]), true, 'a peer becoming unreachable is');
  assert.equal(rttMoved(last, [s('a', 10)]), true, 'a peer gone is');
  assert.equal(rttMoved(last, [s('a', 10), s('c', 0.8)]), true, 'a different peer is');
});

test('RTT samples go out first, then when moved, when the windows have filled, or after 60 s', () => {
  const early = { at: 0, samples: [s('a', 0.9)], windowsFull: false };
  assert.equal(rttReportDue(undefined, early), true, 'the first samples are reported at once');
  assert.equal(rttReportDue(early, { at: 5_000, samples: [s('a', 0.9)], windowsFull: false }), false, 'unchanged and still filling: no news');
  assert.equal(rttReportDue(early, { at: 10_000, samples: [s('a', 0.4)], windowsFull: true }), true,
    'the start-up figure is replaced once the window is full, though it moved by less than 0.5 ms');
  const settled = { at: 10_000, samples: [s('a', 0.4)], windowsFull: true };
  assert.equal(rttReportDue(settled, { at: 15_000, samples: [s('a', 0.45)], windowsFull: true }), false, 'jitter is not news');
  assert.equal(rttReportDue(settled, { at: 70_000, samples: [s('a', 0.45)], windowsFull: true }), true, 'a minute on, it is re-reported anyway');
  assert.equal(rttReportDue(settled, { at: 15_000, samples: [s('a', 5)], windowsFull: true }), true, 'a real move is news');
});
