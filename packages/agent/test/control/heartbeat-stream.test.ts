import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { loadProtos, type HeartbeatAnswer, type HeartbeatMessage__Output, type UpdateRequest__Output, type UpdateResponse } from '../../src/proto/index.js';
import { createGrpcControlClient } from '../../src/control/client.js';
import { HeartbeatStream, HEARTBEAT_STREAM_BACKOFF_MS, HEARTBEAT_STREAM_RETRY_UNIMPLEMENTED_MS } from '../../src/control/heartbeat-stream.js';
import { ControlCallError } from '../../src/errors.js';

type HeartbeatCall = grpc.ServerDuplexStream<HeartbeatMessage__Output, HeartbeatAnswer>;

/** A Mesh server with only the handlers a test gives (the others answer UNIMPLEMENTED), on a loopback port. */
async function server(handlers: Partial<grpc.UntypedServiceImplementation>): Promise<{ address: string; stop(): void }> {
  const s = new grpc.Server();
  s.addService(loadProtos().mesh.wgmesh.v1.Mesh.service, handlers as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) => s.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { address: `127.0.0.1:${port}`, stop: () => s.forceShutdown() };
}

/** What a server saw: unary Updates and heartbeat messages (node name and tags), in order. */
function recorder() {
  const seen: { via: 'unary' | 'stream'; node: string; tags: Record<string, string> }[] = [];
  const streams: HeartbeatCall[] = [];
  let revision = 0;
  return {
    seen,
    streams,
    Update(call: grpc.ServerUnaryCall<UpdateRequest__Output, UpdateResponse>, cb: grpc.sendUnaryData<UpdateResponse>) {
      seen.push({ via: 'unary', node: call.request.nodeName, tags: call.request.tags });
      cb(null, { revision: ++revision, relayPairs: 0 });
    },
    Heartbeat(call: HeartbeatCall) {
      streams.push(call);
      call.on('data', (msg: HeartbeatMessage__Output) => {
        seen.push({ via: 'stream', node: msg.update!.nodeName, tags: msg.update!.tags });
        if (msg.update!.tags.refuse) call.write({ seq: msg.seq, code: grpc.status.INVALID_ARGUMENT, message: 'invalid tags: refused by the test' });
        else call.write({ seq: msg.seq, response: { revision: ++revision, relayPairs: 3 } });
      });
      call.on('end', () => call.end());
    },
  };
}

const req = (tags: Record<string, string> = {}) => ({ meshName: 'm', nodeName: 'n1', publicKey: 'k', nodeSecret: 's', endpoints: [], tags, rtt: [], relayed: [] });

describe('HeartbeatStream (agent side of Mesh.Heartbeat)', () => {
  const stops: (() => void)[] = [];
  after(() => stops.forEach((s) => s()));

  test('updates go as messages on one stream, answered in order with the unary response; a refused one fails with its code and the stream goes on', async () => {
    const rec = recorder();
    const srv = await server({ Update: rec.Update, Heartbeat: rec.Heartbeat });
    stops.push(srv.stop);
    const control = createGrpcControlClient({ address: srv.address, credentials: grpc.credentials.createInsecure() });
    stops.push(() => control.close());

    // Sent without waiting: the answers still come back to the right callers, in order.
    const answers = await Promise.allSettled([control.update(req({ n: '1' })), control.update(req({ refuse: 'x' })), control.update(req({ n: '3' }))]);
    assert.equal(answers[0].status, 'fulfilled');
    assert.deepEqual((answers[0] as PromiseFulfilledResult<UpdateResponse>).value, { revision: 1, relayPairs: 3 });
    assert.equal(answers[1].status, 'rejected');
    const refused = (answers[1] as PromiseRejectedResult).reason;
    assert.ok(refused instanceof ControlCallError);
    assert.equal(refused.code, grpc.status.INVALID_ARGUMENT);
    assert.match(refused.message, /refused by the test/);
    assert.equal((answers[2] as PromiseFulfilledResult<UpdateResponse>).value.revision, 2, 'the refused one took no revision');
    assert.deepEqual(rec.seen.map((s) => `${s.via}:${JSON.stringify(s.tags)}`), ['stream:{"n":"1"}', 'stream:{"refuse":"x"}', 'stream:{"n":"3"}']);
    assert.equal(rec.streams.length, 1, 'one stream for all of them');
    await control.update(req({ n: '4' }));
    assert.equal(rec.streams.length, 1, 'still the same stream after a refused message');
  });

  test('a bootstrap without Mesh.Heartbeat (UNIMPLEMENTED): the update goes as a unary Update at once, and so do the next ones; the stream is tried again later', async () => {
    const rec = recorder();
    const srv = await server({ Update: rec.Update });
    stops.push(srv.stop);
    const Mesh = loadProtos().mesh.wgmesh.v1.Mesh;
    const client = new Mesh(srv.address, grpc.credentials.createInsecure());
    stops.push(() => client.close());
    let now = 1_000_000;
    let opened = 0;
    const hb = new HeartbeatStream({
      open: () => {
        opened++;
        return client.heartbeat();
      },
      unary: (r) => new Promise((resolve, reject) => client.update(r, (err, res) => (err ? reject(err) : resolve(res!)))),
      timeoutMs: 5000,
      now: () => now,
    });
    assert.equal((await hb.update(req({ a: '1' }))).revision, 1);
    assert.equal((await hb.update(req({ a: '2' }))).revision, 2);
    assert.deepEqual(rec.seen.map((s) => s.via), ['unary', 'unary']);
    assert.equal(opened, 1, 'not asked again at every heartbeat');
    assert.equal(hb.stats.unimplemented, 1);
    now += HEARTBEAT_STREAM_RETRY_UNIMPLEMENTED_MS + 1;
    await hb.update(req({ a: '3' }));
    assert.equal(opened, 2, 'asked again after the wait (the bootstrap may have been upgraded)');
    assert.deepEqual(rec.seen.map((s) => s.via), ['unary', 'unary', 'unary']);
  });

  test('a broken stream: the update on it fails as a cut-off call would; unary Updates until the backoff has passed, then a new stream', async () => {
    const rec = recorder();
    let breakNext = true;
    const srv = await server({
      Update: rec.Update,
      Heartbeat(call: HeartbeatCall) {
        if (breakNext) {
          breakNext = false;
          call.on('data', () => call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'bootstrap going away' }));
          return;
        }
        rec.Heartbeat(call);
      },
    });
    stops.push(srv.stop);
    const Mesh = loadProtos().mesh.wgmesh.v1.Mesh;
    const client = new Mesh(srv.address, grpc.credentials.createInsecure());
    stops.push(() => client.close());
    let now = 1_000_000;
    const hb = new HeartbeatStream({
      open: () => client.heartbeat(),
      unary: (r) => new Promise((resolve, reject) => client.update(r, (err, res) => (err ? reject(err) : resolve(res!)))),
      timeoutMs: 5000,
      now: () => now,
      random: () => 0.5,
    });
    await assert.rejects(hb.update(req({ a: '1' })), (err: unknown) => err instanceof ControlCallError && err.code === grpc.status.UNAVAILABLE);
    assert.equal(hb.open, false);
    await hb.update(req({ a: '2' }));
    assert.deepEqual(rec.seen.map((s) => s.via), ['unary'], 'within the backoff: unary');
    now += HEARTBEAT_STREAM_BACKOFF_MS + 1;
    await hb.update(req({ a: '3' }));
    assert.equal(hb.open, true, 'reopened');
    assert.deepEqual(rec.seen.map((s) => s.via), ['unary', 'stream']);
    assert.equal(hb.stats.broken, 1);
  });

  test('no answer within the timeout: DEADLINE_EXCEEDED, and the stream is given up', async () => {
    const srv = await server({ Heartbeat: () => {} });
    stops.push(srv.stop);
    const Mesh = loadProtos().mesh.wgmesh.v1.Mesh;
    const client = new Mesh(srv.address, grpc.credentials.createInsecure());
    stops.push(() => client.close());
    const hb = new HeartbeatStream({ open: () => client.heartbeat(), unary: () => Promise.reject(new Error('not used')), timeoutMs: 200 });
    await assert.rejects(hb.update(req()), (err: unknown) => err instanceof ControlCallError && err.code === grpc.status.DEADLINE_EXCEEDED);
    assert.equal(hb.open, false);
  });
});
