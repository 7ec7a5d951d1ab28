import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  FileAgentStateStore, generateKeyPair, loadProtos, type Agent, type RttSource, type JoinRequest, type JoinResponse__Output, type MeshClient, type MemoryWgDriver, type WatchEvent__Output, type WgKeyPair, type WgOp,
} from '@wgmesh/agent';
import type { Bootstrap } from '@wgmesh/bootstrap';
import { deadline, unary } from '@wgmesh/cli/local-api';
import { MeshNames } from '@wgmesh/agent/dns/names';
import { makeAgent, openWatch, startBootstrap, tempDir, MESH } from '../helpers/inprocess.js';
import { waitFor } from '../helpers/wait.js';

/**
 * "One membership change costs O(1) driver operations, whatever the mesh size": an agent in a
 * mesh of 500 members is charged exactly one WireGuard operation per join, leave or endpoint
 * change, its RTT prober is told of that one peer only, its mesh names (DNS index, -hosts-file
 * block) follow the change without a pass over every node, its saved state grows by the change
 * (a journal line) instead of being rewritten whole, and the bootstrap sends each watcher
 * exactly one message per change made on its own (changes that come together may share one:
 * watch-batches.test.ts). With -psk: psk-scale.test.ts.
 */

/** An RTT prober that records what it is told (the agent's RttSource), probing nothing. */
class TellingRtt implements RttSource {
  /** Peers handed over, as whole lists (setPeers) and as changes (updatePeers): names each. */
  readonly told: { list?: number; peers?: string[]; removed?: string[] }[] = [];
  setPeers(peers: readonly { name: string }[]): void {
    this.told.push({ list: peers.length });
  }
  updatePeers(peers: readonly { name: string }[], removed: readonly string[]): void {
    this.told.push({ peers: peers.map((p) => p.name), removed: [...removed] });
  }
  samples() {
    return [];
  }
}

const MEMBERS = 500;
const WATCHERS = 5;

const memberName = (i: number) => `m${i}`;
const memberEndpoint = (i: number) => ({ ip: `203.0.${Math.floor(i / 250)}.${(i % 250) + 1}`, port: 51820, kind: 'ENDPOINT_KIND_LAN' as const });

test(`an agent in a mesh of ${MEMBERS} members pays one driver operation per membership change`, async (t) => {
  const { dir, cleanup } = await tempDir();
  const { bootstrap, driver: bootstrapDriver } = await startBootstrap(path.join(dir, 'state.json'));
  const client: MeshClient = new (loadProtos().mesh.wgmesh.v1.Mesh)(`127.0.0.1:${bootstrap.port}`, grpc.credentials.createInsecure());
  const keys: WgKeyPair[] = Array.from({ length: MEMBERS }, () => generateKeyPair());
  const streams: grpc.ClientReadableStream<WatchEvent__Output>[] = [];
  let observer: { agent: Agent; driver: MemoryWgDriver } | undefined;
  let names: MeshNames | undefined;
  after(async () => {
    for (const s of streams) s.cancel();
    client.close();
    await names?.stop();
    await observer?.agent.stop({ leave: false });
    await bootstrap.stop();
    await cleanup();
  });

  const table = () => (bootstrap as Bootstrap).table!;
  /** Each member's node secret from its join: its later calls carry it. */
  const secrets: string[] = [];
  const joinRequest = (i: number, key: WgKeyPair): JoinRequest => ({
    meshName: MESH, nodeName: memberName(i), publicKey: key.publicKey, endpoints: [memberEndpoint(i)], tags: {}, listenPort: 51820,
  });

  await t.test(`${MEMBERS} members join through the Mesh service`, async () => {
    for (let start = 0; start < MEMBERS; start += 50) {
      const batch = keys.slice(start, start + 50).map((key, j) => unary<JoinResponse__Output>((cb) => client.join(joinRequest(start + j, key), deadline(30_000), cb)));
      for (const [j, response] of (await Promise.all(batch)).entries()) secrets[start + j] = response.nodeSecret;
    }
    assert.equal(table().size, MEMBERS + 1, 'the members and the bootstrap');
  });

  const rtt = new TellingRtt();
  /** The observer's state on disk: a join writes it whole, a change appends to its journal. */
  const stateStore = new FileAgentStateStore(path.join(dir, 'agent.json'));
  await t.test(`an agent joining now configures all ${MEMBERS + 1} other nodes`, async () => {
    observer = makeAgent('observer', bootstrap.port, 0, { rtt, stateStore });
    await observer.agent.start();
    await waitFor(`the observer's device to hold ${MEMBERS + 1} peers`, async () => (await observer!.driver.read()).peers.length === MEMBERS + 1, 20_000);
    await waitFor('the observer to be watching', () => observer!.agent.connected);
    // Its mesh names (DNS index and -hosts-file block) follow the changes too: built once here.
    names = new MeshNames(observer.agent, { domain: 'sim.internal', hostsFile: path.join(dir, 'hosts') });
    await names.start();
    assert.equal(names.zone.answer({ name: 'm7.sim.internal', type: 'A', class: 'IN' }).answers.length, 1);
  });

  /**
   * Makes one change through the Mesh service, waits until the observer's device reflects it,
   * checks a fresh reconcile finds nothing more to do, and returns the driver operations it cost.
   */
  const costOf = async (what: string, change: () => Promise<unknown>, reflected: (peers: Awaited<ReturnType<MemoryWgDriver['read']>>['peers']) => boolean) => {
    const { agent, driver } = observer!;
    const hostsBuildsBefore = names!.hostsFileBuilds!;
    const stateBefore = await readFile(stateStore.file, 'utf8');
    const journalBefore = (await stat(stateStore.journalFile).catch(() => ({ size: 0 }))).size;
    const toldBefore = rtt.told.length;
    const opsBefore = driver.operations.length;
    const bootstrapOpsBefore = bootstrapDriver.operations.length;
    await change();
    const revision = table().revision;
    await waitFor(`the observer to apply ${what}`, async () => agent.netmap.revision === revision && reflected((await driver.read()).peers));
    await waitFor(`the bootstrap's own node to apply ${what}`, async () => bootstrap.agent!.netmap.revision === revision && reflected((await bootstrapDriver.read()).peers));
    await agent.reconcile();
    await bootstrap.agent!.reconcile();
    await names!.idle(); // the hosts block is rewritten at most once a second
    await waitFor(`the observer to save ${what}`, async () => (await stat(stateStore.journalFile).catch(() => ({ size: 0 }))).size > journalBefore);
    const journalGrowth = (await stat(stateStore.journalFile)).size - journalBefore;
    assert.ok(journalGrowth < 2_000, `${what}: its saved state grew by one change (${journalGrowth} bytes), not by the mesh`);
    assert.equal(await readFile(stateStore.file, 'utf8'), stateBefore, `${what}: the ${MEMBERS}-member state file is not rewritten`);
    // A DNS query after the change is answered from the index as it followed the change.
    names!.zone.answer({ name: 'm7.sim.internal', type: 'A', class: 'IN' });
    assert.equal(names!.zone.builds, 1, `${what}: the DNS index followed it, not rebuilt from every node`);
    return { ops: driver.operations.slice(opsBefore), bootstrapOps: bootstrapDriver.operations.slice(bootstrapOpsBefore), told: rtt.told.slice(toldBefore), hostsBuilds: names!.hostsFileBuilds! - hostsBuildsBefore };
  };

  const eventsByStream: WatchEvent__Output[][] = [];
  let eventsSentBefore = 0;
  let revisionBefore = 0;

  await t.test(`${WATCHERS} members open Watch streams from the current revision and are sent nothing yet`, async () => {
    revisionBefore = table().revision;
    for (const { stream, received } of await Promise.all(Array.from({ length: WATCHERS }, (_, i) => openWatch(client, { meshName: MESH, nodeName: memberName(i), publicKey: keys[i]!.publicKey, nodeSecret: secrets[i]!, sinceRevision: revisionBefore })))) {
      streams.push(stream);
      eventsByStream.push(received);
    }
    eventsSentBefore = bootstrap.stats!.eventsSent;
    assert.equal(bootstrap.stats!.watchers, WATCHERS + 1, 'the 5 streams and the observer agent (the bootstrap’s own node is in-process)');
    assert.ok(eventsByStream.every((events) => events.length === 0), 'an up-to-date watcher gets no snapshot');
  });

  const newcomer = generateKeyPair();

  await t.test('a new node joins: one set-peer', async () => {
    const { ops, bootstrapOps, told, hostsBuilds } = await costOf('the join', () => unary((cb) => client.join({ ...joinRequest(MEMBERS, newcomer), nodeName: 'newcomer' }, deadline(30_000), cb)),
      (peers) => peers.length === MEMBERS + 2 && peers.some((p) => p.publicKey === newcomer.publicKey));
    assert.deepEqual(ops.map(describeOp), [`set-peer ${newcomer.publicKey}`]);
    assert.deepEqual(bootstrapOps.map(describeOp), [`set-peer ${newcomer.publicKey}`]);
    assert.deepEqual(told, [{ peers: ['newcomer'], removed: [] }], 'the prober is told of the new peer alone');
    assert.equal(hostsBuilds, 1, 'one new line for the hosts block');
    await names!.idle();
    assert.match(await readFile(path.join(dir, 'hosts'), 'utf8'), /\tnewcomer\.sim\.internal newcomer$/m);
    const peer = (await observer!.driver.read()).peers.find((p) => p.publicKey === newcomer.publicKey)!;
    assert.deepEqual(peer.allowedIps, [`${table().get('newcomer')!.meshIp}/32`]);
  });

  const leaver = MEMBERS - 1;

  await t.test('a node leaves: one remove-peer', async () => {
    const { ops, bootstrapOps, told, hostsBuilds } = await costOf('the leave', () => unary((cb) => client.leave({ meshName: MESH, nodeName: memberName(leaver), publicKey: keys[leaver]!.publicKey, nodeSecret: secrets[leaver]! }, deadline(30_000), cb)),
      (peers) => peers.length === MEMBERS + 1 && !peers.some((p) => p.publicKey === keys[leaver]!.publicKey));
    assert.deepEqual(ops.map(describeOp), [`remove-peer ${keys[leaver]!.publicKey}`]);
    assert.deepEqual(bootstrapOps.map(describeOp), [`remove-peer ${keys[leaver]!.publicKey}`]);
    assert.deepEqual(told, [{ peers: [], removed: [memberName(leaver)] }], 'the prober is told of the leaver alone');
    assert.equal(hostsBuilds, 1, 'one line less in the hosts block');
  });

  const mover = MEMBERS - 2;
  const moved = { ip: '198.51.100.77', port: 40_000, kind: 'ENDPOINT_KIND_LAN' as const };

  await t.test('a node reports a new endpoint: one set-peer with that endpoint', async () => {
    const { ops, bootstrapOps, told, hostsBuilds } = await costOf('the endpoint change',
      () => unary((cb) => client.update({ meshName: MESH, nodeName: memberName(mover), publicKey: keys[mover]!.publicKey, nodeSecret: secrets[mover]!, endpoints: [moved], tags: {}, rtt: [] }, deadline(30_000), cb)),
      (peers) => peers.find((p) => p.publicKey === keys[mover]!.publicKey)?.endpoint === '198.51.100.77:40000');
    assert.deepEqual(ops.map(describeOp), [`set-peer ${keys[mover]!.publicKey}`]);
    assert.deepEqual(bootstrapOps.map(describeOp), [`set-peer ${keys[mover]!.publicKey}`]);
    assert.equal((ops[0] as Extract<WgOp, { op: 'set-peer' }>).peer.endpoint, '198.51.100.77:40000');
    assert.deepEqual(told, [], 'its mesh IP did not move: nothing for the prober');
    assert.equal(hostsBuilds, 0, 'no hosts line changed: the block is not built');
  });

  await t.test('the bootstrap sent each watcher exactly one message per change', async () => {
    assert.equal(table().revision, revisionBefore + 3, 'three changes, three revisions');
    // Each change above was applied by the observer before the next was made: each went out on its own.
    const watchers = bootstrap.stats!.watchers;
    assert.equal(watchers, WATCHERS + 1);
    assert.equal(bootstrap.stats!.eventsSent - eventsSentBefore, 3 * watchers);

    await waitFor('every watcher to receive the three changes', () => eventsByStream.every((events) => events.length >= 3));
    for (const events of eventsByStream) {
      assert.deepEqual(events.map((e) => [Number(e.revision), e.event]), [
        [revisionBefore + 1, 'upsert'], [revisionBefore + 2, 'remove'], [revisionBefore + 3, 'upsert'],
      ]);
      assert.equal(events[0]!.upsert?.name, 'newcomer');
      assert.equal(events[1]!.remove?.name, memberName(leaver));
      assert.deepEqual(events[2]!.upsert?.endpoints, [moved]);
    }
    assert.equal(bootstrap.stats!.eventsSent - eventsSentBefore, 3 * watchers, 'and nothing more since');
  });
});

function describeOp(op: WgOp): string {
  return op.op === 'set-peer' ? `set-peer ${op.peer.publicKey}` : `remove-peer ${op.publicKey}`;
}
