import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InfoResponse__Output } from '@wgmesh/agent';
import { StatusSource, type SourceEvent, type StatusFeed } from '../../src/web/source.js';
import { sampleRtt, sampleStatus } from './sample.js';

/** A feed whose Watch streams the test drives. */
function fakeFeed() {
  const streams: { push: (s: InfoResponse__Output) => void; end: (err?: Error) => void; cancelled: boolean }[] = [];
  const feed: StatusFeed = {
    info: async () => sampleStatus(),
    rtt: async () => sampleRtt(),
    watch(onStatus, onEnd) {
      const stream = { push: onStatus, end: (err?: Error) => onEnd(err), cancelled: false };
      streams.push(stream);
      return () => (stream.cancelled = true);
    },
  };
  return { feed, streams };
}

test('the source follows the Watch stream, says when it breaks, and opens it again', async () => {
  const { feed, streams } = fakeFeed();
  const source = new StatusSource(feed, { retryMs: 10 });
  const events: SourceEvent[] = [];
  source.subscribe((e) => events.push(e));
  await source.start();
  assert.equal(source.latest()?.nodeName, 'h1', 'asked once at start');
  assert.equal(streams.length, 1);
  streams[0]!.push(sampleStatus({ revision: 8 }));
  assert.equal(source.latest()?.revision, 8);
  streams[0]!.end(new Error('cannot reach the wgmesh node'));
  assert.equal(source.lastError(), 'cannot reach the wgmesh node');
  assert.deepEqual(events.map((e) => e.kind), ['status', 'error']);
  const deadline = Date.now() + 2000;
  while (streams.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.equal(streams.length, 2, 'opened again');
  streams[1]!.push(sampleStatus({ revision: 9 }));
  assert.equal(source.lastError(), undefined);
  source.stop();
  assert.equal(streams[1]!.cancelled, true);
});

test('a node that does not answer fails the start', async () => {
  const { feed } = fakeFeed();
  const source = new StatusSource({ ...feed, info: () => Promise.reject(new Error('cannot reach the wgmesh node on /run/wgmesh.sock')) });
  await assert.rejects(source.start(), /cannot reach the wgmesh node/);
});
