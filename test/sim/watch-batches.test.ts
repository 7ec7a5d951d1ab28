import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { generateKeyPair, loadProtos, type Agent, type JoinRequest, type JoinResponse__Output, type MeshClient, type MemoryWgDriver, type WatchEvent__Output } from '@wgmesh/agent';
import { deadline, unary } from '@wgmesh/cli/local-api';
import { makeAgent, openWatch, startBootstrap, tempDir, MESH } from '../helpers/inprocess.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A wave of joins over real gRPC: a Watch stream that asked for batches gets the changes in fewer
 * messages than changes (WatchEvent.batch), every change once and in order; one that did not gets
 * a message per change, the same changes; an Agent (which asks for batches) ends with every peer.
 */

const WAVE = 80;

test(`${WAVE} nodes join at once: batches to the watchers that ask for them, a message per change to the others, and an agent applies them all`, async () => {
  const { dir, cleanup } = await tempDir();
  const { bootstrap } = await startBootstrap(path.join(dir, 'state.json'));
  const client: MeshClient = new (loadProtos().mesh.wgmesh.v1.Mesh)(`127.0.0.1:${bootstrap.port}`, grpc.credentials.createInsecure());
  const streams: grpc.ClientReadableStream<WatchEvent__Output>[] = [];
  let observer: { agent: Agent; driver: MemoryWgDriver } | undefined;
  after(async () => {
    for (const s of streams) s.cancel();
    client.close();
    await observer?.agent.stop({ leave: false });
    await bootstrap.stop();
    await cleanup();
  });
  const join = (req: JoinRequest) => unary<JoinResponse__Output>((cb) => client.join(req, deadline(30_000), cb));
  const request = (name: string, publicKey: string): JoinRequest => ({ meshName: MESH, nodeName: name, publicKey, endpoints: [{ ip: '203.0.113.9', port: 51820, kind: 'ENDPOINT_KIND_LAN' }], tags: {}, listenPort: 51820 });

  // Two watchers (one asking for batches) and an agent, all up to date before the wave.
  const watchers = await Promise.all([true, false].map(async (batches, i) => {
    const key = generateKeyPair().publicKey;
    const joined = await join(request(`watcher${i}`, key));
    const { stream, received } = await openWatch(client, { meshName: MESH, nodeName: `watcher${i}`, publicKey: key, nodeSecret: joined.nodeSecret, sinceRevision: Number(joined.revision), batches });
    streams.push(stream);
    return { batches, received };
  }));
  observer = makeAgent('observer', bootstrap.port, 0);
  await observer.agent.start();
  await waitFor('the observer to be watching', () => observer!.agent.connected);
  const table = bootstrap.table!;
  const before = table.revision;
  for (const w of watchers) w.received.length = 0;

  await Promise.all(Array.from({ length: WAVE }, (_, i) => join(request(`wave${i}`, generateKeyPair().publicKey))));
  assert.equal(table.revision, before + WAVE);

  const changesOf = (events: WatchEvent__Output[]) => events.flatMap((e) => (e.batch ? e.batch.events : [e])).map((e) => [Number(e.revision), e.upsert?.name]);
  const expected = Array.from({ length: WAVE }, (_, i) => Number(before) + 1 + i);
  for (const w of watchers) await waitFor(`watcher (batches: ${w.batches}) to receive the wave`, () => changesOf(w.received).length >= WAVE);
  const [batching, plain] = watchers as [typeof watchers[0], typeof watchers[0]];
  for (const w of watchers) {
    assert.deepEqual(changesOf(w.received).map(([revision]) => revision), expected, `every change once, in order (batches: ${w.batches})`);
  }
  assert.deepEqual(changesOf(batching.received), changesOf(plain.received), 'the same changes either way');
  assert.equal(plain.received.length, WAVE, 'a message per change without batches');
  assert.ok(plain.received.every((e) => !e.batch));
  assert.ok(batching.received.some((e) => (e.batch?.events.length ?? 0) > 1), 'changes that came together came as one message');
  assert.ok(batching.received.length < WAVE, `${batching.received.length} messages for ${WAVE} changes`);

  // The agent asked for batches too, and applied every change.
  await waitFor(`the observer to configure all ${table.size - 1} other nodes`, async () => observer!.agent.netmap.revision === table.revision && (await observer!.driver.read()).peers.length === table.size - 1, 20_000);
});
