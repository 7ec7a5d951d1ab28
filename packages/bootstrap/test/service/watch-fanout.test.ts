import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadProtos, type WatchEvent__Output } from '@wgmesh/agent';
import { encodeBatch, fanoutGapMs, WatchFanout, type FanoutWatcher } from '../../src/service/watch-fanout.js';
import { deltaToEvent, type MemberDelta } from '../../src/members/table.js';

const serialize = loadProtos().mesh.wgmesh.v1.Mesh.service.Watch.responseSerialize;
const decode = (bytes: Buffer) => loadProtos().mesh.wgmesh.v1.Mesh.service.Watch.responseDeserialize(bytes) as WatchEvent__Output;
const turn = () => new Promise((resolve) => setImmediate(resolve));

function upsert(revision: number, name = `n${revision}`): MemberDelta {
  return { kind: 'upsert', revision, node: { name, publicKey: `k${revision}`, meshIp: `198.18.0.${revision % 250}`, endpoints: [{ ip: '192.0.2.1', port: 51820, kind: 'ENDPOINT_KIND_LAN' }], tags: { a: 'b' }, status: 'NODE_STATUS_ALIVE', listenPort: 51820 } as never };
}

function recorder(name: string, batches: boolean) {
  const messages: { bytes: Buffer; changes: number; at: number }[] = [];
  let removed = 0;
  const watcher: FanoutWatcher & { stalled: boolean } = { name, batches, stalled: false, send: (bytes, changes) => messages.push({ bytes, changes, at: performance.now() }), removed: () => removed++ };
  return { watcher, messages, removedCount: () => removed };
}

describe('encodeBatch', () => {
  test('decodes, with the generated codec, to the changes in order, each the message it is alone; revision the last', () => {
    for (const revisions of [[1, 2], [127, 128, 129], [2 ** 31 + 5, 2 ** 40]]) {
      const deltas = revisions.map((r, i) => (i % 2 ? { kind: 'remove', revision: r, name: `gone${r}` } as MemberDelta : upsert(r)));
      const encode = (d: MemberDelta) => serialize(deltaToEvent(d));
      const decoded = decode(encodeBatch(deltas, 0, encode));
      assert.equal(Number(decoded.revision), revisions.at(-1));
      assert.equal(decoded.event, 'batch');
      assert.deepEqual(decoded.batch?.events, deltas.map((d) => decode(encode(d))));
      // From the middle: only the run it starts at.
      assert.deepEqual(decode(encodeBatch(deltas, 1, encode)).batch?.events, deltas.slice(1).map((d) => decode(encode(d))));
    }
  });
});

describe('WatchFanout', () => {
  test('at rest a change goes out when the turn it was made in ends, as its own encoded message, the same bytes to every watcher', async () => {
    const encoded = new Map<MemberDelta, Buffer>();
    const encode = (d: MemberDelta) => encoded.get(d) ?? encoded.set(d, serialize(deltaToEvent(d))).get(d)!;
    const fanout = new WatchFanout({ encode, minGapMs: 10_000 });
    const a = recorder('a', true);
    const b = recorder('b', false);
    fanout.add(a.watcher);
    fanout.add(b.watcher);
    const change = upsert(1);
    fanout.publish(change);
    assert.equal(a.messages.length, 0, 'not within the turn');
    await turn();
    assert.equal(a.messages.length, 1);
    assert.equal(a.messages[0]!.bytes, encoded.get(change));
    assert.equal(b.messages[0]!.bytes, encoded.get(change));
    fanout.close();
  });

  test('while changes keep coming, a fan-out waits at least minGapMs after the last; what came meanwhile goes as one batch', async () => {
    const encode = (d: MemberDelta) => serialize(deltaToEvent(d));
    const fanout = new WatchFanout({ encode, minGapMs: 60 });
    const a = recorder('a', true);
    fanout.add(a.watcher);
    fanout.publish(upsert(1));
    await turn();
    assert.equal(a.messages.length, 1, 'the first at once');
    const firstAt = a.messages[0]!.at;
    for (let r = 2; r <= 6; r++) fanout.publish(upsert(r));
    await turn();
    assert.equal(a.messages.length, 1, 'the next waits for the gap');
    const deadline = Date.now() + 5000;
    while (a.messages.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(a.messages.length, 2);
    assert.ok(a.messages[1]!.at - firstAt >= 55, `gap ${a.messages[1]!.at - firstAt} ms`);
    assert.equal(a.messages[1]!.changes, 5);
    assert.deepEqual(decode(a.messages[1]!.bytes).batch?.events.map((e) => e.upsert?.name), ['n2', 'n3', 'n4', 'n5', 'n6']);
    fanout.close();
  });

  test('the gap grows with the open streams (gapPerWatcherMs each)', async () => {
    const fanout = new WatchFanout({ encode: (d) => serialize(deltaToEvent(d)), minGapMs: 1, gapPerWatcherMs: 15 });
    const watchers = [recorder('a', true), recorder('b', true), recorder('c', true), recorder('d', true)];
    for (const w of watchers) fanout.add(w.watcher);
    fanout.publish(upsert(1));
    await turn();
    const firstAt = watchers[0]!.messages[0]!.at;
    fanout.publish(upsert(2));
    fanout.publish(upsert(3));
    const deadline = Date.now() + 5000;
    while (watchers[0]!.messages.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    const gap = watchers[0]!.messages[1]!.at - firstAt;
    assert.ok(gap >= 55, `4 streams × 15 ms (timers may fire a millisecond or two early): gap ${gap} ms`);
    assert.equal(watchers[3]!.messages[1]!.changes, 2);
    fanout.close();

  });

  test('stalled streams (their writers queue) are sent to but not counted as flowing, so they do not lengthen the gap', async () => {
    const flushes: { watchers: number; flowing: number }[] = [];
    const fanout = new WatchFanout({ encode: (d) => serialize(deltaToEvent(d)), minGapMs: 1, gapPerWatcherMs: 5, onFlush: (_s, watchers, _c, flowing) => flushes.push({ watchers, flowing }) });
    const watchers = [recorder('a', true), recorder('b', true), recorder('c', true), recorder('d', true)];
    for (const w of watchers.slice(1)) w.watcher.stalled = true;
    for (const w of watchers) fanout.add(w.watcher);
    fanout.publish(upsert(1));
    await turn();
    assert.deepEqual(flushes, [{ watchers: 4, flowing: 1 }]);
    assert.ok(watchers.every((w) => w.messages.length === 1), 'every stream is still sent the change');
    fanout.close();
  });

  test('fanoutGapMs: per stream and per change the last fan-out carried, within min..max, never shorter than the last took', () => {
    const init = { minGapMs: 10, gapPerWatcherMs: 0.05, maxGapMs: 250 };
    const gap = (streams: number, lastChanges: number, lastTookMs = 0) => fanoutGapMs(init, { streams, lastChanges, lastTookMs });
    assert.equal(gap(0, 0), 10);
    assert.equal(gap(100, 1), 10);
    assert.equal(gap(1000, 1), 50, 'changes one at a time: a short gap');
    assert.equal(gap(1000, 3), 150);
    assert.equal(gap(1000, 40), 250, 'a wave: the longest gap');
    assert.equal(gap(10_000, 1), 250);
    assert.equal(gap(1000, 1, 900), 900, 'a fan-out that took longer waits as long again');
    assert.equal(fanoutGapMs({ minGapMs: 10 }, { streams: 10_000, lastChanges: 50, lastTookMs: 3 }), 10);
  });

  test('a watcher added while changes wait gets only the ones after it (it caught up to the rest); a batch per run, each encoded once', async () => {
    let encodings = 0;
    const cache = new Map<MemberDelta, Buffer>();
    const encode = (d: MemberDelta) => {
      if (!cache.has(d)) {
        encodings++;
        cache.set(d, serialize(deltaToEvent(d)));
      }
      return cache.get(d)!;
    };
    const fanout = new WatchFanout({ encode, minGapMs: 10 });
    const early = recorder('early', true);
    const earlyToo = recorder('early-too', true);
    const late = recorder('late', true);
    const lateSingle = recorder('late-single', true);
    fanout.add(early.watcher);
    fanout.add(earlyToo.watcher);
    fanout.publish(upsert(1));
    fanout.publish(upsert(2));
    fanout.add(late.watcher);
    fanout.publish(upsert(3));
    fanout.publish(upsert(4));
    fanout.add(lateSingle.watcher);
    fanout.publish(upsert(5));
    await turn();
    assert.equal(early.messages[0]!.bytes, earlyToo.messages[0]!.bytes, 'one batch for the same run');
    assert.deepEqual(decode(early.messages[0]!.bytes).batch?.events.map((e) => Number(e.revision)), [1, 2, 3, 4, 5]);
    assert.deepEqual(decode(late.messages[0]!.bytes).batch?.events.map((e) => Number(e.revision)), [3, 4, 5]);
    assert.equal(decode(lateSingle.messages[0]!.bytes).upsert?.name, 'n5', 'a run of one: the plain message');
    assert.equal(encodings, 5, 'each change encoded once');
    fanout.close();
  });

  test("a watcher whose node one of the changes removed is told, after the changes were sent; a removed watcher gets nothing more", async () => {
    const fanout = new WatchFanout({ encode: (d) => serialize(deltaToEvent(d)), minGapMs: 10 });
    const gone = recorder('gone', true);
    const stays = recorder('stays', true);
    // Told it was removed: its stream ends (watch.ts), so it leaves the fan-out.
    gone.watcher.removed = () => {
      gone.messages.push({ bytes: Buffer.from('removed'), changes: 0, at: 0 });
      fanout.remove(gone.watcher);
    };
    fanout.add(gone.watcher);
    fanout.add(stays.watcher);
    fanout.publish(upsert(1));
    fanout.publish({ kind: 'remove', revision: 2, name: 'gone' });
    await turn();
    assert.equal(gone.messages.length, 2, 'the batch, then the end');
    assert.equal(decode(gone.messages[0]!.bytes).batch?.events.length, 2);
    assert.equal(gone.messages[1]!.bytes.toString(), 'removed');
    assert.equal(stays.removedCount(), 0);
    fanout.publish(upsert(3));
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(gone.messages.length, 2, 'nothing after');
    assert.equal(stays.messages.length, 2);
    fanout.close();
  });
});
