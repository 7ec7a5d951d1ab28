import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RTT_SAMPLES_PER_REPORT, RttReporter, rttMoved, rttReportDue } from '../../src/rtt/report.js';

const s = (peer: string, rttMs: number, loss = 0) => ({ peer, rttMs, loss, measuredAtMs: 0 });

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

/** Samples to peers p1..pN, peer i at i/10 ms. */
const mesh = (peers: number, rttOf = (i: number) => i / 10) => Array.from({ length: peers }, (_, k) => s(`p${k + 1}`, rttOf(k + 1)));

test('in a mesh of 2,000, the 1,999 samples go out over successive reports of at most RTT_SAMPLES_PER_REPORT, each once', () => {
  const reporter = new RttReporter();
  const samples = mesh(1999);
  const reported = new Map<string, number>();
  let reports = 0;
  for (let at = 0; ; at += 5000) {
    const report = reporter.next(at, samples, true);
    if (report.samples.length === 0) break;
    assert.ok(report.samples.length <= RTT_SAMPLES_PER_REPORT);
    for (const sample of report.samples) reported.set(sample.peer, (reported.get(sample.peer) ?? 0) + 1);
    reporter.sent(report);
    reports++;
  }
  assert.equal(reports, Math.ceil(1999 / RTT_SAMPLES_PER_REPORT), '8 heartbeats');
  assert.equal(reported.size, 1999);
  assert.ok([...reported.values()].every((n) => n === 1), 'each peer once');
});

test('a report whose Update failed stays due: the next one carries the same samples', () => {
  const reporter = new RttReporter();
  const samples = mesh(600);
  const first = reporter.next(0, samples, true);
  // (The Update failed: sent() is not called.)
  const again = reporter.next(5000, samples, true);
  assert.deepEqual(again.samples, first.samples);
  reporter.sent(again);
  const next = reporter.next(10_000, samples, true);
  assert.equal(next.samples.length, RTT_SAMPLES_PER_REPORT, 'then the following ones');
  assert.ok(next.samples.every((n) => !again.samples.includes(n)));
});

test('the most urgent samples go first: never reported, then moved, then the longest unreported', () => {
  const reporter = new RttReporter(2);
  reporter.sent(reporter.next(0, mesh(2), true)); // p1, p2 at 0
  reporter.sent(reporter.next(1000, mesh(4), true)); // p3, p4 at 1000
  assert.deepEqual(reporter.next(2000, mesh(4), true).samples, [], 'nothing moved, nothing aged');

  const moved = mesh(6, (i) => (i === 4 ? 40 : i / 10));
  const first = reporter.next(2000, moved, true);
  assert.deepEqual(first.samples.map((x) => x.peer), ['p5', 'p6'], 'the new peers before the moved one');
  reporter.sent(first);
  const second = reporter.next(2000, moved, true);
  assert.deepEqual(second.samples.map((x) => x.peer), ['p4'], 'then the moved one');
  reporter.sent(second);

  const aged = reporter.next(61_000, moved, true);
  assert.deepEqual(aged.samples.map((x) => x.peer), ['p1', 'p2'], 'a minute on, the oldest reported first');
  reporter.sent(aged);
  assert.equal(reporter.next(61_000, moved, true).samples[0]?.peer, 'p3', 'the next oldest at the next heartbeat');
});

test('figures from the first probes are replaced once the windows have filled; a peer that left and came back is new', () => {
  const reporter = new RttReporter();
  reporter.sent(reporter.next(0, mesh(3), false));
  assert.deepEqual(reporter.next(5000, mesh(3), false).samples, [], 'still filling, unchanged: no news');
  const full = reporter.next(10_000, mesh(3), true);
  assert.equal(full.samples.length, 3);
  reporter.sent(full);

  reporter.next(15_000, mesh(2), true); // p3 left
  assert.deepEqual(reporter.next(20_000, mesh(3), true).samples.map((x) => x.peer), ['p3'], 'the bootstrap dropped its figures when it left');
});

test('fresh figures asked for: the next report carries every sample, unchanged or not (their measurement times are the news)', () => {
  const reporter = new RttReporter();
  const first = reporter.next(0, [s('a', 0.4), s('b', 0.5)], true);
  reporter.sent(first);
  assert.deepEqual(reporter.next(5_000, [s('a', 0.41), s('b', 0.5)], true).samples, [], 'no news');
  const all = reporter.next(6_000, [s('a', 0.41), s('b', 0.5)], true, true);
  assert.deepEqual(all.samples.map((x) => x.peer), ['a', 'b']);
});
