import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createWatchWriter, type WatchLag } from '../../src/service/watch.js';
import { SendBudget } from '../../src/service/send-budget.js';

/**
 * A Watch stream's writes as grpc-js makes them: an object-mode Writable (high-water mark 16
 * messages) whose write completes only when `flush` lets it out, as HTTP/2 flow control does.
 */
function fakeStream() {
  const received: Buffer[] = [];
  const pending: (() => void)[] = [];
  let flowing = false;
  const stream = new Writable({
    objectMode: true,
    write(chunk: Buffer, _encoding, callback) {
      received.push(chunk);
      if (flowing) callback();
      else pending.push(() => callback());
    },
  });
  return {
    stream,
    received,
    /** Lets every write out, now and from now on (a watcher that reads). */
    async read() {
      flowing = true;
      while (pending.length) pending.shift()!();
      await new Promise((r) => setImmediate(r));
    },
    /** Lets out the writes waiting now, and no more. */
    async flushOnce() {
      const now = pending.splice(0);
      for (const done of now) done();
      await new Promise((r) => setImmediate(r));
    },
  };
}

const event = (n: number, size = 100) => Buffer.alloc(size, n % 256);

describe('createWatchWriter', () => {
  test('a watcher that reads gets every event, in order, and is never cut off', async () => {
    const s = fakeStream();
    await s.read();
    const overflows: WatchLag[] = [];
    const writer = createWatchWriter(s.stream, { maxEvents: 4, maxBytes: 1000 }, (lag) => overflows.push(lag));
    for (let i = 0; i < 100; i++) {
      writer.send(event(i), false);
      await new Promise((r) => setImmediate(r));
    }
    assert.deepEqual(overflows, []);
    assert.equal(s.received.length, 100);
    assert.ok(s.received.every((b, i) => b[0] === i % 256));
  });

  test('a stalled watcher is cut off once its unflushed live changes pass maxEvents; the queue is dropped', async () => {
    const s = fakeStream();
    const overflows: WatchLag[] = [];
    const writer = createWatchWriter(s.stream, { maxEvents: 50, maxBytes: 1_000_000 }, (lag) => overflows.push(lag));
    for (let i = 0; i < 50; i++) writer.send(event(i), false);
    assert.deepEqual(overflows, [], 'at the limit: still open');
    assert.ok(s.stream.writableLength <= 16, `grpc-js holds at most its high-water mark (${s.stream.writableLength})`);

    writer.send(event(50), false);
    assert.deepEqual(overflows, [{ events: 51, bytes: 5100 }]);
    for (let i = 51; i < 200; i++) writer.send(event(i), false);
    assert.equal(overflows.length, 1, 'told once');

    // What it gets when it reads at last: the messages grpc-js already held, nothing queued after.
    await s.read();
    assert.ok(s.received.length <= 17, `only what was handed over before the cut (${s.received.length})`);
    assert.ok(s.received.every((b, i) => b[0] === i), 'in order, from the first');
  });

  test('the byte limit counts encoded bytes the same way', () => {
    const s = fakeStream();
    const overflows: WatchLag[] = [];
    const writer = createWatchWriter(s.stream, { maxEvents: 1000, maxBytes: 10_000 }, (lag) => overflows.push(lag));
    for (let i = 0; i < 10; i++) writer.send(event(i, 1000), false);
    assert.deepEqual(overflows, []);
    writer.send(event(10, 1), false);
    assert.deepEqual(overflows, [{ events: 11, bytes: 10_001 }]);
  });

  test('a batch counts as the changes it carries, while queued and once flushed', async () => {
    const s = fakeStream();
    const overflows: WatchLag[] = [];
    const writer = createWatchWriter(s.stream, { maxEvents: 40, maxBytes: 1_000_000 }, (lag) => overflows.push(lag));
    writer.send(event(0), false, 30);
    writer.send(event(1), false, 10);
    assert.deepEqual(overflows, [], 'at the limit: still open');
    // grpc-js's Writable hands it one write at a time: two flushes let both out.
    await s.flushOnce();
    await s.flushOnce();
    // Both flushed: their 40 changes no longer count.
    writer.send(event(2), false, 40);
    assert.deepEqual(overflows, []);
    writer.send(event(3), false, 1);
    assert.deepEqual(overflows, [{ events: 41, bytes: 200 }]);
  });

  test('the catch-up a stream starts with is not counted: a snapshot larger than maxBytes, a replay longer than maxEvents', async () => {
    const s = fakeStream();
    const overflows: WatchLag[] = [];
    const writer = createWatchWriter(s.stream, { maxEvents: 10, maxBytes: 5000 }, (lag) => overflows.push(lag));
    writer.send(Buffer.alloc(4 * 1024 * 1024), true);
    for (let i = 0; i < 100; i++) writer.send(event(i), true);
    assert.equal(overflows.length, 0, 'a stalled watcher is not cut off for its catch-up');
    // Live changes queued behind a catch-up that is not flushed do count.
    for (let i = 0; i < 10; i++) writer.send(event(i), false);
    assert.equal(overflows.length, 0);
    writer.send(event(10), false);
    assert.deepEqual(overflows.map((o) => o.events), [11]);
  });

  test('changes flushed no longer count: a slow watcher that keeps up is not cut off', async () => {
    const s = fakeStream();
    const overflows: WatchLag[] = [];
    const writer = createWatchWriter(s.stream, { maxEvents: 30, maxBytes: 1_000_000 }, (lag) => overflows.push(lag));
    // 20 changes at a time, then it catches up: 1,000 changes, never more than 20 behind.
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 20; i++) writer.send(event(round * 20 + i), false);
      while (s.stream.writableLength > 0 || s.received.length < (round + 1) * 20) await s.flushOnce();
    }
    assert.deepEqual(overflows, []);
    assert.equal(s.received.length, 1000);
  });

  test('close() drops the queue and sends nothing more', async () => {
    const s = fakeStream();
    const writer = createWatchWriter(s.stream, { maxEvents: 1000, maxBytes: 1_000_000 }, () => assert.fail('no overflow'));
    for (let i = 0; i < 40; i++) writer.send(event(i), false);
    writer.close();
    writer.send(event(99), false);
    await s.read();
    assert.ok(s.received.length <= 17, `${s.received.length}`);
    assert.equal(s.stream.listenerCount('drain'), 0);
  });

  test('snapshots wait for room in the send budget: two watchers starting at once hold one at a time; live changes queue behind their snapshot, in order', async () => {
    const budget = new SendBudget(1500);
    const a = fakeStream();
    const b = fakeStream();
    const wa = createWatchWriter(a.stream, { maxEvents: 100, maxBytes: 1_000_000 }, () => assert.fail('no overflow'));
    const wb = createWatchWriter(b.stream, { maxEvents: 100, maxBytes: 1_000_000 }, () => assert.fail('no overflow'));
    const hold = (bytes: number) => (go: () => void) => budget.take(bytes, go);
    wa.sendHeld(event(1, 1000), hold(1000));
    wb.sendHeld(event(2, 1000), hold(1000));
    wb.send(event(3), false);
    wb.send(event(4), false);
    await new Promise((r) => setImmediate(r));
    assert.equal(a.received.length, 1, 'the first snapshot went out');
    assert.equal(b.received.length, 0, 'the second waits, and the changes behind it too');
    assert.equal(budget.bytesInFlight, 1000);

    // Flushed: its bytes come back and the second goes, then the changes behind it.
    await a.flushOnce();
    assert.equal(budget.bytesInFlight, 1000);
    await b.read();
    assert.deepEqual(b.received.map((x) => x[0]), [2, 3, 4]);
    assert.equal(budget.bytesInFlight, 0);
  });

  test('a watcher closed while its snapshot waits or is unflushed gives the room back', async () => {
    const budget = new SendBudget(1500);
    const a = fakeStream();
    const b = fakeStream();
    const wa = createWatchWriter(a.stream, { maxEvents: 100, maxBytes: 1_000_000 }, () => assert.fail('no overflow'));
    const wb = createWatchWriter(b.stream, { maxEvents: 100, maxBytes: 1_000_000 }, () => assert.fail('no overflow'));
    wa.sendHeld(event(1, 1000), (go) => budget.take(1000, go));
    wb.sendHeld(event(2, 1000), (go) => budget.take(1000, go));
    wb.close();
    assert.equal(budget.bytesInFlight, 1000, 'the waiting one left the queue');
    wa.close();
    assert.equal(budget.bytesInFlight, 0, 'the unflushed one gave its bytes back');
    // Closed before it asked: nothing taken.
    wa.sendHeld(event(3, 1000), (go) => budget.take(1000, go));
    assert.equal(budget.bytesInFlight, 0);
    await b.read();
    assert.equal(b.received.length, 0);
  });
});
