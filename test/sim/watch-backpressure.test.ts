import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import {
  Agent, ControlCallError, createGrpcControlClient, generateKeyPair, loadProtos, MemoryWgDriver, type ControlClient, type MeshClient, type WatchEvent__Output,
  type WatchRequest, type WgKeyPair,
} from '@wgmesh/agent';
import { DEFAULTS, type Bootstrap } from '@wgmesh/bootstrap';
import { startBootstrap, tempDir, MESH } from '../helpers/inprocess.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Watchers that stop reading cannot make the bootstrap buffer without bound: with 200 Watch
 * streams that never read (on 10 connections, so HTTP/2 flow control really stalls them) and
 * 1,000 membership changes, each stalled stream is ended with RESOURCE_EXHAUSTED once it holds
 * more than DEFAULTS.watchQueueMaxEvents / watchQueueMaxBytes of unflushed changes, the
 * process's memory stays bounded, and a watcher that reads normally gets every change about as
 * fast as with no stalled streams at all.
 */

const STALLED = 200;
const CHANNELS = 10;
const BASELINE_CHANGES = 200;
const CHANGES = 1000;
/**
 * RSS growth allowed while the changes run (measured: 36-41 MB). The process holds both ends, so
 * this covers the bootstrap (per stalled stream: at most 16 messages handed to grpc-js, one of
 * them framed in flight, and the changes queued up to the limits until the cut; the encoded
 * changes, shared by all streams, and the state file writes) and the clients (per stalled
 * stream: 16 messages read ahead and the HTTP/2 window, about 100 KB), plus V8 heap slack.
 */
const RSS_GROWTH_MAX_MB = 100;

/** A member whose tags change: about 600 bytes per event, a node with a realistic tag set. */
const moverTags = (i: number) => ({
  role: 'db', zone: 'eu-west-1a', rack: 'r12', 'svc:http': '8080', 'svc:metrics': '9100', owner: 'team-storage',
  note: 'primary replica of the orders database, backed up nightly to the archive bucket in eu-west-1'.repeat(3), seq: String(i),
});

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

test(`${STALLED} Watch streams that never read are ended with RESOURCE_EXHAUSTED; memory stays bounded; a reading watcher keeps up`, async (t) => {
  const { dir, cleanup } = await tempDir();
  const { bootstrap } = await startBootstrap(path.join(dir, 'state.json'));
  const Mesh = loadProtos().mesh.wgmesh.v1.Mesh;
  // A local subchannel pool: each client its own TCP connection (grpc-js shares one otherwise).
  const newClient = (): MeshClient => new Mesh(`127.0.0.1:${bootstrap.port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  const fastClient = newClient();
  const stalledClients = Array.from({ length: CHANNELS }, newClient);
  const streams: grpc.ClientReadableStream<WatchEvent__Output>[] = [];
  after(async () => {
    for (const s of streams) s.cancel();
    fastClient.close();
    for (const c of stalledClients) c.close();
    await bootstrap.stop();
    await cleanup();
  });
  const table = () => (bootstrap as Bootstrap).table!;
  const stats = () => (bootstrap as Bootstrap).stats!;

  // Members: the watchers (a Watch is for members only) and the one whose tags change.
  const keys = new Map<string, WgKeyPair>();
  /** Each member's node secret: its Watch calls carry it. */
  const secrets = new Map<string, string>();
  const join = async (name: string) => {
    const key = generateKeyPair();
    keys.set(name, key);
    secrets.set(name, (await table().join({ name, identity: { publicKey: key.publicKey }, endpoints: [{ ip: '192.0.2.1', port: 51820, kind: 'ENDPOINT_KIND_LAN' }], tags: {}, listenPort: 51820 })).secret);
  };
  await join('fast');
  await join('mover');
  for (let i = 0; i < STALLED; i++) await join(`stalled${i}`);
  const watchRequest = (name: string, sinceRevision: number) => ({ meshName: MESH, nodeName: name, publicKey: keys.get(name)!.publicKey, nodeSecret: secrets.get(name)!, sinceRevision });

  // When each change was published, by revision (same clock as the watcher's receipt).
  const publishedAt = new Map<number, number>();
  table().subscribe((d) => publishedAt.set(d.revision, performance.now()));

  // The fast watcher reads everything, from the current revision on.
  const received = new Map<number, number>();
  let fastError: grpc.ServiceError | undefined;
  const fast = fastClient.watch(watchRequest('fast', table().revision));
  streams.push(fast);
  fast.on('data', (e: WatchEvent__Output) => received.set(Number(e.revision), performance.now()));
  fast.on('error', (err: grpc.ServiceError) => (fastError = err));
  await waitFor('the fast watcher to be counted', () => stats().watchers === 1);

  let seq = 0;
  const change = () => table().update('mover', undefined, { tags: moverTags(seq++) });
  const latencies = async (from: number, to: number) => {
    await waitFor(`the fast watcher to receive revision ${to}`, () => received.has(to), 20_000);
    const out: number[] = [];
    for (let r = from; r <= to; r++) {
      assert.ok(received.has(r), `the fast watcher received revision ${r}`);
      out.push(received.get(r)! - publishedAt.get(r)!);
    }
    return out;
  };

  // Baseline: the same kind of changes with no stalled streams.
  const baselineFrom = table().revision + 1;
  for (let i = 0; i < BASELINE_CHANGES; i++) await change();
  const baseline = await latencies(baselineFrom, table().revision);

  // 200 watchers that stop reading after their first event, 20 to a connection. Paused, a
  // grpc-js stream reads 16 messages ahead, then pauses its HTTP/2 stream, whose flow-control
  // window then closes: the bootstrap's writes stall. (A stream that is never read at all does
  // not stall: grpc-js then buffers every message in the client, and nothing reaches the server.)
  const endedWith = new Map<number, grpc.ServiceError>();
  const stalledRevisions: number[][] = [];
  for (let i = 0; i < STALLED; i++) {
    const s = stalledClients[i % CHANNELS]!.watch(watchRequest(`stalled${i}`, table().revision));
    const revisions: number[] = [];
    stalledRevisions.push(revisions);
    s.on('data', (e: WatchEvent__Output) => {
      revisions.push(Number(e.revision));
      if (revisions.length === 1) s.pause();
    });
    s.on('error', (err: grpc.ServiceError) => endedWith.set(i, err));
    streams.push(s);
  }
  await waitFor(`${STALLED + 1} watchers`, () => stats().watchers === STALLED + 1);

  const rssSamples: number[] = [];
  const sample = () => rssSamples.push(process.memoryUsage().rss);
  global.gc?.();
  sample();
  const sampler = setInterval(sample, 20);
  // The longest fan-out while the changes run: the next one waits at least that long (WatchFanout),
  // so on a loaded machine it is part of what a change may wait, beside the gap.
  let longestFanoutMs = 0;
  bootstrap.onFanout = (seconds) => {
    longestFanoutMs = Math.max(longestFanoutMs, seconds * 1000);
  };
  // And how late this process got to run anything (garbage collection, a machine busy with other
  // test files): the whole bootstrap and every client share this one event loop.
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  const changesFrom = table().revision + 1;
  const started = performance.now();
  for (let i = 0; i < CHANGES; i++) await change();
  bootstrap.onFanout = undefined;
  loopDelay.disable();
  const loopStallMs = loopDelay.max / 1e6;
  const changesMs = performance.now() - started;
  const during = await latencies(changesFrom, table().revision);
  clearInterval(sampler);
  sample();

  const rssGrowthMb = (Math.max(...rssSamples) - rssSamples[0]!) / 2 ** 20;
  const eventBytes = Mesh.service.Watch.responseSerialize({ revision: table().revision, upsert: table().get('mover') }).length;
  const fellBehind = stats().watchersFellBehind;
  t.diagnostic(`limits: ${DEFAULTS.watchQueueMaxEvents} changes / ${DEFAULTS.watchQueueMaxBytes} bytes per watcher; one change is ${eventBytes} bytes encoded`);
  t.diagnostic(`${CHANGES} changes in ${changesMs.toFixed(0)} ms; watchers cut off: ${fellBehind}; still open: ${stats().watchers}`);
  t.diagnostic(`RSS ${(rssSamples[0]! / 2 ** 20).toFixed(0)} MB before, peak growth ${rssGrowthMb.toFixed(1)} MB`);
  t.diagnostic(`fast watcher latency, baseline: p50 ${percentile(baseline, 50).toFixed(2)} ms, p99 ${percentile(baseline, 99).toFixed(2)} ms, max ${Math.max(...baseline).toFixed(2)} ms`);
  t.diagnostic(`fast watcher latency, with ${STALLED} stalled: p50 ${percentile(during, 50).toFixed(2)} ms, p99 ${percentile(during, 99).toFixed(2)} ms, max ${Math.max(...during).toFixed(2)} ms; longest fan-out ${longestFanoutMs.toFixed(1)} ms, longest event-loop stall ${loopStallMs.toFixed(1)} ms`);

  assert.equal(fellBehind, STALLED, 'every stalled watcher was cut off while the changes ran');
  assert.equal(stats().watchers, 1, 'only the fast watcher is still open');
  assert.equal(fastError, undefined, 'the fast watcher was never cut off');
  assert.ok(rssGrowthMb <= RSS_GROWTH_MAX_MB, `RSS grew ${rssGrowthMb.toFixed(1)} MB, at most ${RSS_GROWTH_MAX_MB}`);
  // Against the baseline measured a moment ago in this same process, so machine load moves both.
  // Changes this fast are coalesced (WatchFanout): while the 200 streams still take writes (their
  // first few messages), the fan-out's gap grows with them, up to watchFlushMaxGapMs, which the
  // slowest changes wait; once they are stalled they no longer count. A gap is also at least as
  // long as the fan-out before it took, a change made during a fan-out waits for its end, and a
  // process the machine did not run for a while is that much later with everything (CI runs test
  // files side by side: once the slowest change took 465 ms against a bound of 320 without these
  // terms). So the p99 may be the rest of one fan-out, one gap (the longer of the longest fan-out
  // and watchFlushMaxGapMs), the longest event-loop stall and the baseline's delivery; a watcher
  // held up by a stalled one (a wait for its drain) would be seconds. Measured (2026-12-03): p50
  // 6-7 ms either way; p99 10 ms baseline, 100-290 ms with the stalled streams.
  const [p50, p50Base, p99, p99Base] = [percentile(during, 50), percentile(baseline, 50), percentile(during, 99), percentile(baseline, 99)];
  assert.ok(p50 <= 2 * p50Base + 2, `median latency ${p50.toFixed(2)} ms, at most twice the baseline's ${p50Base.toFixed(2)} ms + 2 ms`);
  const gapMs = Math.max(DEFAULTS.watchFlushMaxGapMs, longestFanoutMs);
  const p99Max = 2 * p99Base + longestFanoutMs + gapMs + loopStallMs + 50;
  assert.ok(p99 <= p99Max, `p99 latency ${p99.toFixed(2)} ms, at most twice the baseline's ${p99Base.toFixed(2)} ms + the longest fan-out (${longestFanoutMs.toFixed(1)} ms) + one gap (${gapMs.toFixed(1)} ms) + the longest event-loop stall (${loopStallMs.toFixed(1)} ms) + 50 ms`);

  // The stalled watchers read at last: a prefix of the changes, in order, then the status.
  assert.equal(endedWith.size, 0, 'a stalled watcher sees nothing of its end before it reads');
  for (const s of streams.slice(1)) s.resume();
  await waitFor('every stalled watcher to see its stream end', () => endedWith.size === STALLED, 20_000);
  stalledRevisions.forEach((revisions, i) => {
    assert.deepEqual(revisions, revisions.map((_, k) => changesFrom + k), `stalled${i}: the first ${revisions.length} changes, without a gap`);
  });
  for (let i = 0; i < STALLED; i++) {
    const err = endedWith.get(i);
    assert.ok(err, `stalled${i} ended with an error status`);
    assert.equal(grpc.status[err.code], 'RESOURCE_EXHAUSTED', `stalled${i}: ${err.details}`);
    assert.match(err.details, /watcher "stalled\d+" fell behind: .*reconnecting with since_revision = the last revision received resumes from there/);
  }
  const counts = stalledRevisions.map((r) => r.length);
  t.diagnostic(`changes a stalled watcher read before its status: min ${Math.min(...counts)}, max ${Math.max(...counts)}`);

  // Reconnecting from the last revision it read, a cut-off watcher gets the rest, from the history.
  const last = stalledRevisions[0]!.at(-1)!;
  const rest: number[] = [];
  const resumed = fastClient.watch(watchRequest('stalled0', last));
  streams.push(resumed);
  resumed.on('data', (e: WatchEvent__Output) => rest.push(Number(e.revision)));
  resumed.on('error', () => {}); // CANCELLED when the test cleans up
  await waitFor('the resumed watcher to reach the current revision', () => rest.at(-1) === table().revision, 10_000);
  assert.deepEqual(rest, rest.map((_, k) => last + 1 + k), 'every change after the last one read, in order: a replay, not a snapshot');
});

test('an agent whose Watch ends with RESOURCE_EXHAUSTED reconnects from its revision, without joining again', async () => {
  const { dir, cleanup } = await tempDir();
  const { bootstrap } = await startBootstrap(path.join(dir, 'state.json'));
  const grpcControl = createGrpcControlClient({ address: `127.0.0.1:${bootstrap.port}`, credentials: grpc.credentials.createInsecure() });
  // The real client, except that the first Watch is ended as a bootstrap ends a watcher that fell behind.
  const watchRequests: WatchRequest[] = [];
  const control: ControlClient = {
    ...grpcControl,
    watch(req, callbacks) {
      watchRequests.push(req);
      if (watchRequests.length > 1) return grpcControl.watch(req, callbacks);
      const handle = grpcControl.watch(req, {
        ...callbacks,
        onOpen: () => {
          callbacks.onOpen();
          handle.cancel();
          callbacks.onEnd(new ControlCallError(grpc.status.RESOURCE_EXHAUSTED, 'watcher "subject" fell behind', 'Watch'));
        },
      });
      return handle;
    },
  };
  const driver = new MemoryWgDriver('wg-subject');
  const agent = new Agent({ control, driver }, {
    meshName: MESH, nodeName: 'subject', privateKey: generateKeyPair().privateKey, heartbeatMs: 60_000, backoffInitialMs: 50, backoffMaxMs: 500,
    endpoints: () => [{ ip: '192.0.2.60', port: 54540, kind: 'ENDPOINT_KIND_LAN' }],
  });
  after(async () => {
    await agent.stop({ leave: false });
    grpcControl.close();
    await bootstrap.stop();
    await cleanup();
  });

  await agent.start();
  await waitFor('the agent to watch again', () => agent.stats.watchConnects >= 2 && agent.connected);
  assert.equal(agent.stats.joins, 1, 'no re-join');
  assert.equal(watchRequests.length, 2);
  assert.ok(Number(watchRequests[1]!.sinceRevision) > 0, 'the reconnect resumes from a revision');
  assert.equal(Number(watchRequests[1]!.sinceRevision), agent.netmap.revision);

  // And the resumed stream carries changes.
  await bootstrap.table!.join({ name: 'late', identity: { publicKey: generateKeyPair().publicKey }, endpoints: [], tags: {}, listenPort: 51820 });
  await waitFor('the agent to see the late node', () => agent.netmap.nodes.has('late'));
});
