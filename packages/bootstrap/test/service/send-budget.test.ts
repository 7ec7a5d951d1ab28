import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { generateKeyPair, loadProtos, nodeSecretFromPrivate, silentLogger, type JoinResponse__Output, type MeshClient } from '@wgmesh/agent';
import { Ipam } from '../../src/ipam/ipam.js';
import { MemberTable } from '../../src/members/table.js';
import { MemoryStateStore } from '../../src/members/store.js';
import { devAuthenticator } from '../../src/service/auth.js';
import { createMeshService } from '../../src/service/mesh-service.js';
import { JoinServer } from '../../src/service/server.js';
import { SendBudget } from '../../src/service/send-budget.js';

/** Waits (polling, up to 5 s) for a condition, failing with `what`. */
async function waitFor(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('SendBudget', () => {
  test('answers go at once while they fit, then wait in order until earlier ones give their bytes back', () => {
    const budget = new SendBudget(100);
    const started: string[] = [];
    const a = budget.take(60, () => started.push('a'));
    const b = budget.take(60, () => started.push('b'));
    const c = budget.take(30, () => started.push('c'));
    assert.deepEqual(started, ['a'], 'b does not fit beside a, and c waits behind b (in order)');
    assert.equal(budget.bytesInFlight, 60);
    a();
    assert.deepEqual(started, ['a', 'b', 'c']);
    assert.equal(budget.bytesInFlight, 90);
    a();
    assert.equal(budget.bytesInFlight, 90, 'a second release of the same grant does nothing');
    b();
    c();
    assert.equal(budget.bytesInFlight, 0);
    assert.equal(budget.stats.peakBytes, 90);
  });

  test('one answer larger than the whole budget goes when nothing else is out; a wait dropped (call cancelled) never starts', () => {
    const budget = new SendBudget(100);
    const started: string[] = [];
    const small = budget.take(10, () => started.push('small'));
    const big = budget.take(500, () => started.push('big'));
    const dropped = budget.take(10, () => started.push('dropped'));
    dropped();
    assert.deepEqual(started, ['small']);
    small();
    assert.deepEqual(started, ['small', 'big']);
    big();
    assert.deepEqual(started, ['small', 'big'], 'the dropped wait did not start');
    assert.equal(budget.bytesInFlight, 0);
  });
});

describe('Join answers through the budget (JoinServer)', () => {
  const stops: (() => Promise<void>)[] = [];
  after(async () => {
    for (const s of stops) await s();
  });

  test('with room for one membership at a time, every concurrent Join is still answered whole, and the bytes all come back', async () => {
    const table = await MemberTable.open(new MemoryStateStore(), new Ipam('10.232.0.0/16'), { meshName: 'sb' });
    for (let i = 0; i < 50; i++) await table.join({ name: `m${i}`, identity: { publicKey: generateKeyPair().publicKey }, endpoints: [], tags: {}, listenPort: 51820 });
    const service = createMeshService({ table, auth: devAuthenticator, logger: silentLogger() });
    // About one membership's bytes (50 members): a second answer waits for the first.
    const server = new JoinServer(service.handlers, { bindAddr: '127.0.0.1', port: 0, credentials: grpc.ServerCredentials.createInsecure(), joinAnswersInFlightMaxBytes: 1000 });
    await server.start();
    const Mesh = loadProtos().mesh.wgmesh.v1.Mesh;
    const clients: MeshClient[] = [];
    stops.push(async () => {
      for (const c of clients) c.close();
      await server.stop();
    });
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => {
      const c = new Mesh(`127.0.0.1:${server.boundPort}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
      clients.push(c);
      const key = generateKeyPair();
      return new Promise<JoinResponse__Output>((resolve, reject) => c.join(
        { meshName: 'sb', nodeName: `j${i}`, publicKey: key.publicKey, nodeSecret: nodeSecretFromPrivate(key.privateKey), listenPort: 51820 },
        { deadline: Date.now() + 10_000 },
        (err, res) => (err ? reject(err) : resolve(res!)),
      ));
    }));
    for (const a of answers) assert.ok(a.nodes.length >= 51, `a whole membership (${a.nodes.length} nodes)`);
    assert.equal(server.joinAnswers.bytesInFlight, 0, 'every answer gave its bytes back');
  });

  test('a caller that does not read holds its answer\'s bytes, so the next Join waits; its call cancelled, the next one is answered', async () => {
    const table = await MemberTable.open(new MemoryStateStore(), new Ipam('10.232.0.0/16'), { meshName: 'sb' });
    for (let i = 0; i < 50; i++) await table.join({ name: `m${i}`, identity: { publicKey: generateKeyPair().publicKey }, endpoints: [], tags: {}, listenPort: 51820 });
    const service = createMeshService({ table, auth: devAuthenticator, logger: silentLogger() });
    const server = new JoinServer(service.handlers, { bindAddr: '127.0.0.1', port: 0, credentials: grpc.ServerCredentials.createInsecure(), joinAnswersInFlightMaxBytes: 1000 });
    await server.start();
    stops.push(() => server.stop());
    // A raw HTTP/2 caller with a flow-control window of 0: the bootstrap can send it nothing.
    const req = joinAsStuckCaller(server.boundPort, stops);
    await waitFor(() => server.joinAnswers.bytesInFlight > 0, 'the stuck caller\'s answer handed out');

    const Mesh = loadProtos().mesh.wgmesh.v1.Mesh;
    const c = new Mesh(`127.0.0.1:${server.boundPort}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    stops.push(async () => c.close());
    const k2 = generateKeyPair();
    let answered: JoinResponse__Output | undefined;
    const next = new Promise<JoinResponse__Output>((resolve, reject) => c.join(
      { meshName: 'sb', nodeName: 'next', publicKey: k2.publicKey, nodeSecret: nodeSecretFromPrivate(k2.privateKey), listenPort: 51820 },
      { deadline: Date.now() + 10_000 },
      (err, res) => (err ? reject(err) : resolve((answered = res!))),
    ));
    await waitFor(() => server.joinAnswers.stats.waited === 1, 'the next answer waiting for room');
    assert.equal(answered, undefined, 'not answered while the stuck one holds the bytes');
    req.close(http2.constants.NGHTTP2_CANCEL);
    const res = await next;
    assert.ok(res.nodes.length >= 52);
    await waitFor(() => server.joinAnswers.bytesInFlight === 0, 'every byte given back');
  });

  test('Watch snapshots share the budget: a snapshot waits while a caller that does not read holds a Join answer, and goes once that call is cancelled', async () => {
    const table = await MemberTable.open(new MemoryStateStore(), new Ipam('10.232.0.0/16'), { meshName: 'sb' });
    for (let i = 0; i < 50; i++) await table.join({ name: `m${i}`, identity: { publicKey: generateKeyPair().publicKey }, endpoints: [], tags: {}, listenPort: 51820 });
    const answers = new SendBudget(1000);
    const service = createMeshService({ table, auth: devAuthenticator, logger: silentLogger() }, { answers });
    const server = new JoinServer(service.handlers, { bindAddr: '127.0.0.1', port: 0, credentials: grpc.ServerCredentials.createInsecure(), joinAnswers: answers });
    await server.start();
    stops.push(() => server.stop());
    const Mesh = loadProtos().mesh.wgmesh.v1.Mesh;
    const c = new Mesh(`127.0.0.1:${server.boundPort}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    stops.push(async () => c.close());
    // The watcher is a member (its own join answered while nothing else is out).
    const wk = generateKeyPair();
    const watcher = { meshName: 'sb', nodeName: 'watcher', publicKey: wk.publicKey, nodeSecret: nodeSecretFromPrivate(wk.privateKey) };
    await new Promise<void>((resolve, reject) => c.join({ ...watcher, listenPort: 51820 }, { deadline: Date.now() + 10_000 }, (err) => (err ? reject(err) : resolve())));
    await waitFor(() => answers.bytesInFlight === 0, 'the watcher\'s own answer flushed');

    // A raw HTTP/2 caller with a flow-control window of 0 holds its Join answer's bytes.
    const req = joinAsStuckCaller(server.boundPort, stops);
    await waitFor(() => answers.bytesInFlight > 0, 'the stuck caller\'s answer handed out');

    // A new Watch from revision 0 starts with a snapshot: it waits for room.
    const stream = c.watch({ ...watcher, sinceRevision: 0 });
    stops.push(async () => stream.cancel());
    stream.on('error', () => {});
    let snapshotNodes = -1;
    stream.on('data', (e: { snapshot?: { nodes: unknown[] } }) => {
      if (e.snapshot) snapshotNodes = e.snapshot.nodes.length;
    });
    await waitFor(() => answers.stats.waited === 1, 'the snapshot waiting for room');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(snapshotNodes, -1, 'no snapshot while the stuck answer holds the bytes');
    req.close(http2.constants.NGHTTP2_CANCEL);
    await waitFor(() => snapshotNodes >= 52, 'the snapshot, whole');
    await waitFor(() => answers.bytesInFlight === 0, 'every byte given back');
  });
});

/**
 * Joins as node "stuck" over a raw HTTP/2 connection whose flow-control window is 0: the
 * bootstrap answers, but can send none of the answer's bytes, which stay in its budget. Returns
 * the call (closing it cancels the answer).
 */
function joinAsStuckCaller(port: number, stops: (() => Promise<void>)[]): http2.ClientHttp2Stream {
  const stuck = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 0 } });
  stops.push(async () => void stuck.destroy());
  const key = generateKeyPair();
  const body = loadProtos().mesh.wgmesh.v1.Mesh.service.Join.requestSerialize({ meshName: 'sb', nodeName: 'stuck', publicKey: key.publicKey, nodeSecret: nodeSecretFromPrivate(key.privateKey), listenPort: 51820 });
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  body.copy(frame, 5);
  const req = stuck.request({ ':method': 'POST', ':path': '/wgmesh.v1.Mesh/Join', 'content-type': 'application/grpc', te: 'trailers' });
  req.on('error', () => {});
  req.end(frame);
  return req;
}
