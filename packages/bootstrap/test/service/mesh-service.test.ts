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
