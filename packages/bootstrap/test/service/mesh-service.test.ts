import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { generateKeyPair, loadProtos, silentLogger, type WatchEvent__Output } from '@wgmesh/agent';
import { Ipam } from '../../src/ipam/ipam.js';
import { MemberTable } from '../../src/members/table.js';
import { MemoryStateStore } from '../../src/members/store.js';
import { devAuthenticator } from '../../src/service/auth.js';
import { createMeshService } from '../../src/service/mesh-service.js';

const MESH = 'svc';

/** The parts of a server-streaming call the Watch handler uses; records what it writes. */
function fakeWatchCall(nodeName: string, publicKey: string, nodeSecret: string) {
  const written: unknown[] = [];
  const errors: { code?: number; details?: string }[] = [];
  return {
    written,
    errors,
    request: { meshName: MESH, nodeName, publicKey, nodeSecret, sinceRevision: 0 },
    getPeer: () => 'ipv4:127.0.0.1:1',
    getAuthContext: () => ({}),
    sendMetadata: () => {},
    write: (message: unknown) => written.push(message),
    on: () => {},
    once: () => {},
    removeListener: () => {},
    emit: (event: string, err: { code?: number; details?: string }) => {
      if (event === 'error') errors.push(err);
    },
  };
}

/** Live changes go out in the turn they were made in, once it ends (WatchFanout). */
const fannedOut = () => new Promise((resolve) => setImmediate(resolve));

test('a membership change is encoded once and the same bytes go to every watcher', async () => {
  const table = await MemberTable.open(new MemoryStateStore(), new Ipam('10.232.0.0/16'), { meshName: MESH });
  const service = createMeshService({ table, auth: devAuthenticator, logger: silentLogger() });
  const keys = [generateKeyPair().publicKey, generateKeyPair().publicKey, generateKeyPair().publicKey];
  const secrets: string[] = [];
  for (const [i, publicKey] of keys.entries()) {
    secrets.push((await table.join({ name: `w${i}`, identity: { publicKey }, endpoints: [], tags: {}, listenPort: 51820 })).secret);
  }
  const calls = keys.map((key, i) => fakeWatchCall(`w${i}`, key, secrets[i]!));
  for (const call of calls) service.handlers.Watch(call as never);
  for (const call of calls) assert.equal(call.written.length, 1, 'the snapshot');

  await table.join({ name: 'newcomer', identity: { publicKey: generateKeyPair().publicKey }, endpoints: [], tags: {}, listenPort: 51820 });
  await fannedOut();
  const sent = calls.map((c) => c.written[1]);
  assert.ok(Buffer.isBuffer(sent[0]), 'written as encoded bytes');
  assert.ok(sent.every((bytes) => bytes === sent[0]), 'one encoding, shared by every watcher');
  const decoded = loadProtos().mesh.wgmesh.v1.Mesh.service.Watch.responseDeserialize(sent[0] as Buffer) as WatchEvent__Output;
  assert.equal(decoded.upsert?.name, 'newcomer');
  assert.equal(Number(decoded.revision), table.revision);
  assert.equal(service.stats.eventsSent, 6);
});

test("a member's removal ends its own Watch stream with NOT_FOUND (so it re-joins at once); other watchers go on", async () => {
  const table = await MemberTable.open(new MemoryStateStore(), new Ipam('10.232.0.0/16'), { meshName: MESH });
  const service = createMeshService({ table, auth: devAuthenticator, logger: silentLogger() });
  const keys = [generateKeyPair().publicKey, generateKeyPair().publicKey];
  const secrets: string[] = [];
  for (const [i, publicKey] of keys.entries()) secrets.push((await table.join({ name: `w${i}`, identity: { publicKey }, endpoints: [], tags: {}, listenPort: 51820 })).secret);
  const [removed, other] = keys.map((key, i) => fakeWatchCall(`w${i}`, key, secrets[i]!));
  service.handlers.Watch(removed as never);
  service.handlers.Watch(other as never);

  await table.remove('w0');
  await fannedOut();

  assert.equal(removed!.errors.length, 1, 'the removed node is told');
  assert.equal(grpc.status[removed!.errors[0]!.code!], 'NOT_FOUND');
  assert.match(removed!.errors[0]!.details!, /"w0" is not a member/);
  assert.equal(other!.errors.length, 0, 'the other watcher is not');
  assert.equal(other!.written.length, 2, 'it got the snapshot and the removal');
});

test('a fresh RTT matrix writes RttWanted to every open Watch stream, outside the membership: no revision, nothing a resume replays', async () => {
  const table = await MemberTable.open(new MemoryStateStore(), new Ipam('10.232.0.0/16'), { meshName: MESH });
  const service = createMeshService({ table, auth: devAuthenticator, logger: silentLogger() });
  const keys = [generateKeyPair().publicKey, generateKeyPair().publicKey];
  const secrets: string[] = [];
  for (const [i, publicKey] of keys.entries()) secrets.push((await table.join({ name: `w${i}`, identity: { publicKey }, endpoints: [], tags: {}, listenPort: 51820 })).secret);
  const calls = keys.map((key, i) => fakeWatchCall(`w${i}`, key, secrets[i]!));
  for (const call of calls) service.handlers.Watch(call as never);
  const revision = table.revision;

  // Step 1: asked with a short wait (nobody reports here): every watcher is told.
  await table.freshRttMatrix(50);
  const decode = loadProtos().mesh.wgmesh.v1.Mesh.service.Watch.responseDeserialize;
  for (const call of calls) {
    assert.equal(call.written.length, 2, 'the snapshot, then RttWanted');
    const event = decode(call.written[1] as Buffer) as WatchEvent__Output;
    assert.ok(Number(event.rttWanted?.untilMs) > Date.now(), 'probe often until a moment to come');
    assert.equal(Number(event.revision), 0, 'no revision');
  }
  assert.equal(table.revision, revision, 'the membership did not change');

  // Step 2: a watcher resuming from an old revision gets the membership changes only.
  const resumed = fakeWatchCall('w0', keys[0]!, secrets[0]!);
  service.handlers.Watch(resumed as never);
  assert.ok(resumed.written.every((bytes) => !(decode(bytes as Buffer) as WatchEvent__Output).rttWanted), 'nothing replayed');
});

test('changes made together reach a watcher that asked for batches as one message, encoded once for all such watchers; one that did not gets a message per change', async () => {
  const table = await MemberTable.open(new MemoryStateStore(), new Ipam('10.232.0.0/16'), { meshName: MESH });
  const service = createMeshService({ table, auth: devAuthenticator, logger: silentLogger() });
  const keys = [generateKeyPair().publicKey, generateKeyPair().publicKey, generateKeyPair().publicKey];
  const secrets: string[] = [];
  for (const [i, publicKey] of keys.entries()) secrets.push((await table.join({ name: `w${i}`, identity: { publicKey }, endpoints: [], tags: {}, listenPort: 51820 })).secret);
  const calls = keys.map((key, i) => fakeWatchCall(`w${i}`, key, secrets[i]!));
  const [batching, alsoBatching, plain] = calls as [ReturnType<typeof fakeWatchCall>, ReturnType<typeof fakeWatchCall>, ReturnType<typeof fakeWatchCall>];
  (batching.request as { batches?: boolean }).batches = true;
  (alsoBatching.request as { batches?: boolean }).batches = true;
  for (const call of calls) service.handlers.Watch(call as never);
  const before = table.revision;

  // Five joins in one turn of the event loop (a wave).
  await Promise.all([0, 1, 2, 3, 4].map((i) => table.join({ name: `n${i}`, identity: { publicKey: generateKeyPair().publicKey }, endpoints: [], tags: {}, listenPort: 51820 })));
  assert.equal(table.revision, before + 5);
  for (const call of calls) assert.equal(call.written.length, 1, 'nothing before the turn ends');
  await fannedOut();

  const decode = loadProtos().mesh.wgmesh.v1.Mesh.service.Watch.responseDeserialize;
  assert.equal(batching.written.length, 2, 'the snapshot, then one batch');
  assert.equal(alsoBatching.written[1], batching.written[1], 'the batch encoded once, the same bytes to both');
  const batch = decode(batching.written[1] as Buffer) as WatchEvent__Output;
  assert.equal(Number(batch.revision), before + 5, "the batch's revision is its last change's");
  assert.deepEqual(batch.batch?.events.map((e) => [Number(e.revision), e.upsert?.name]), [0, 1, 2, 3, 4].map((i) => [before + 1 + i, `n${i}`]));
  assert.equal(plain.written.length, 6, 'the snapshot, then a message per change');
  const singles = plain.written.slice(1).map((b) => decode(b as Buffer) as WatchEvent__Output);
  assert.deepEqual(singles.map((e) => [Number(e.revision), e.upsert?.name]), [0, 1, 2, 3, 4].map((i) => [before + 1 + i, `n${i}`]));
  // The batch carries each change's own message, byte for byte.
  assert.deepEqual(batch.batch?.events, singles);
  assert.equal(service.stats.eventsSent, 3 + 15, 'counted per change, batched or not');

  // One change on its own is the plain message, for every watcher: its bytes are what they always were.
  // (Right after a fan-out the next waits DEFAULTS.watchFlushMinGapMs.)
  const counts = calls.map((c) => c.written.length);
  await table.remove('n0');
  const deadline = Date.now() + 5000;
  while (calls.some((c, i) => c.written.length === counts[i]) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 2));
  for (const call of calls) {
    const last = decode(call.written.at(-1) as Buffer) as WatchEvent__Output;
    assert.equal(last.remove?.name, 'n0');
    assert.equal(last.batch, undefined);
  }
  assert.equal(batching.written.at(-1), plain.written.at(-1), 'the same bytes');
});
