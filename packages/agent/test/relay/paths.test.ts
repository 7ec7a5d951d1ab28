import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { netmapFromNodes, type MeshNode } from '../../src/netmap/netmap.js';
import { generateKeyPair } from '../../src/wg/keys.js';
import { MemoryWgDriver } from '../../src/wg/memory-driver.js';
import { Reconciler } from '../../src/wg/reconciler.js';
import type { WgConfigOptions } from '../../src/wg/config.js';
import { RelayPaths } from '../../src/relay/paths.js';
import { MemoryForwarding } from '../../src/relay/forwarding.js';
import { RELAY_DEFAULTS } from '../../src/relay/planner.js';
import { silentLogger } from '../../src/log.js';
import { meshNode } from '../fixtures.js';
import { SimTimers } from '../sim-timers.js';

const key = (n: number) => Buffer.alloc(32, n).toString('base64');
const self = meshNode('me', '198.18.0.1', { publicKey: key(1) });
const far = meshNode('far', '198.18.0.2', { publicKey: key(2), endpoints: [{ ip: '203.0.113.2', port: 54540, kind: 'ENDPOINT_KIND_OBSERVED' }] });
const relay = meshNode('relay', '198.18.0.3', { publicKey: key(3), relay: true, endpoints: [{ ip: '203.0.113.3', port: 54540, kind: 'ENDPOINT_KIND_LAN' }] });

/** A node's WireGuard config with relays: the reconciler, the memory driver and RelayPaths together. */
async function setup(nodes: MeshNode[] = [self, far, relay]) {
  const timers = new SimTimers();
  // SimTimers' time line, as a wall clock from now on.
  const epoch = Date.now();
  const clock = () => epoch + timers.nowMs;
  const driver = new MemoryWgDriver('wgrel');
  await driver.up({ name: 'wgrel', privateKey: generateKeyPair().privateKey, listenPort: 54540, address: '198.18.0.1/16' });
  let netmap = netmapFromNodes('me', 1, nodes);
  const answers = new Map<string, number>();
  const forwarding = new MemoryForwarding();
  let reconciler: Reconciler;
  const paths = new RelayPaths({
    driver,
    netmap: () => netmap,
    deviceUp: () => true,
    reconcile: { changed: (name) => reconciler.changed(name) },
    probes: { lastAnswerMs: (n) => answers.get(n) },
    forwarding,
    logger: silentLogger(),
    timers,
    now: clock,
  });
  const options: WgConfigOptions = { persistentKeepalive: 25, allowedIpsFor: (n) => paths.allowedIpsFor(n), keepaliveFor: (n) => paths.keepaliveFor(n) };
  reconciler = new Reconciler(driver, () => netmap, options, undefined, () => {}, { timers });
  await reconciler.full();
  const peer = async (node: MeshNode) => (await driver.read()).peers.find((p) => p.publicKey === node.publicKey);
  // The reconciler starts its passes on the next turn of the event loop: let it, then wait for it.
  const settle = async () => {
    await new Promise((resolve) => setImmediate(resolve));
    await reconciler.idle();
  };
  return { driver, paths, reconciler, answers, forwarding, timers, clock, peer, settle, setNetmap: (nodes: MeshNode[]) => { netmap = netmapFromNodes('me', 2, nodes); } };
}

describe('RelayPaths with the reconciler', () => {
  test('a peer without a direct handshake: its /32 moves to the relay\'s entry, its own entry stays with keepalive; back after a direct handshake', async () => {
    const t = await setup();
    const start = t.clock();
    t.driver.simulateHandshake(relay.publicKey, { atMs: start });
    t.answers.set('relay', start);
    assert.equal(await t.paths.review(), true, 'unsettled: far has no session');
    t.timers.advance(RELAY_DEFAULTS.relayAfterMs);
    const later = t.clock();
    t.answers.set('relay', later);
    await t.paths.review();
    await t.settle();
    assert.equal(t.paths.via('far'), 'relay');
    assert.deepEqual((await t.peer(relay))?.allowedIps, ['198.18.0.3/32', '198.18.0.2/32']);
    const farPeer = await t.peer(far);
    assert.deepEqual(farPeer?.allowedIps, []);
    assert.equal(farPeer?.endpoint, '203.0.113.2:54540', 'still configured: direct keeps being tried');
    assert.equal(farPeer?.persistentKeepalive, 25);
    assert.deepEqual(t.paths.relayed(), [{ peer: 'far', via: 'relay' }]);

    // A direct handshake: back to direct when it is due (driven by the timer RelayPaths sets).
    const handshake = Math.floor((later + 1000) / 1000) * 1000;
    t.driver.simulateHandshake(far.publicKey, { atMs: handshake });
    t.paths.start();
    t.timers.advance(1000);
    t.answers.set('relay', t.clock());
    await t.paths.review();
    assert.equal(t.paths.via('far'), 'relay', 'not yet');
    t.timers.advance(handshake + RELAY_DEFAULTS.returnDelayMs - t.clock());
    await t.settle();
    assert.equal(t.paths.via('far'), undefined);
    assert.deepEqual((await t.peer(far))?.allowedIps, ['198.18.0.2/32']);
    assert.deepEqual((await t.peer(relay))?.allowedIps, ['198.18.0.3/32']);
    t.paths.stop();
  });

  test('a full pass builds the same relayed config as the fast one', async () => {
    const t = await setup();
    const start = Date.now();
    t.driver.simulateHandshake(relay.publicKey, { atMs: start });
    t.answers.set('relay', start);
    await t.paths.review(start);
    t.answers.set('relay', start + RELAY_DEFAULTS.relayAfterMs);
    await t.paths.review(start + RELAY_DEFAULTS.relayAfterMs);
    await t.settle();
    const fast = (await t.driver.read()).peers.map((p) => [p.publicKey, p.allowedIps.join(',')]).sort();
    await t.reconciler.full();
    const full = (await t.driver.read()).peers.map((p) => [p.publicKey, p.allowedIps.join(',')]).sort();
    assert.deepEqual(full, fast);
    assert.equal(t.reconciler.stats.ops > 0, true);
  });

  test('forwarding follows the membership\'s word on this node, and is off after close', async () => {
    const t = await setup();
    t.paths.start();
    await t.paths.syncForwarding();
    assert.equal(t.forwarding.enabled, false);
    t.setNetmap([{ ...self, relay: true }, far, relay]);
    await t.paths.syncForwarding();
    assert.equal(t.forwarding.enabled, true);
    await t.paths.syncForwarding(true);
    assert.equal(t.forwarding.enables, 2, 're-applied to a re-created interface');
    t.setNetmap([self, far, relay]);
    await t.paths.syncForwarding();
    assert.equal(t.forwarding.enabled, false);
    t.setNetmap([{ ...self, relay: true }, far, relay]);
    await t.paths.syncForwarding();
    await t.paths.close();
    assert.equal(t.forwarding.enabled, false);
  });

  test('without any relay in the mesh a review reads nothing', async () => {
    const t = await setup([self, far]);
    let reads = 0;
    const read = t.driver.read.bind(t.driver);
    t.driver.read = async () => {
      reads++;
      return read();
    };
    assert.equal(await t.paths.review(Date.now() + 60_000), false);
    assert.equal(reads, 0);
  });

  test('this node relaying is not a relay for it; a peer that starts relaying is (the count follows the netmap)', async () => {
    const t = await setup([{ ...self, relay: true }, far]);
    let reads = 0;
    const read = t.driver.read.bind(t.driver);
    t.driver.read = async () => {
      reads++;
      return read();
    };
    await t.paths.review(Date.now() + 60_000);
    assert.equal(reads, 0, 'only this node relays: nothing to decide');
    t.setNetmap([{ ...self, relay: true }, { ...far, relay: true }]);
    await t.paths.review(Date.now() + 60_000);
    assert.equal(reads, 1, 'a peer offers to relay: the review reads the device');
    t.setNetmap([{ ...self, relay: true }, far]);
    await t.paths.review(Date.now() + 60_000);
    assert.equal(reads, 1, 'it stopped: nothing to read again');
  });
});

describe('RelayPaths and the traffic watch', () => {
  test('with no relay in the mesh, each review still reads the device once and hands the peers\' byte counters to the traffic watch; without a watch it reads nothing', async () => {
    const nodes = [self, far];
    const driver = new MemoryWgDriver('wgtr');
    await driver.up({ name: 'wgtr', privateKey: generateKeyPair().privateKey, listenPort: 54540, address: '198.18.0.1/16' });
    const netmap = netmapFromNodes('me', 1, nodes);
    const reconciler = new Reconciler(driver, () => netmap, { persistentKeepalive: 0 }, undefined, () => {}, { timers: new SimTimers() });
    await reconciler.full();
    let reads = 0;
    const counted = { ...driver, read: () => (reads++, driver.read()) } as unknown as MemoryWgDriver;
    const seen: ReadonlyMap<string, number>[] = [];
    const common = { driver: counted, netmap: () => netmap, deviceUp: () => true, reconcile: { changed: () => {} }, logger: silentLogger(), timers: new SimTimers() };
    const watched = new RelayPaths({ ...common, traffic: (bytes) => seen.push(bytes) });
    assert.equal(await watched.review(), false, 'settled: nothing to route');
    assert.equal(reads, 1, 'one device read');
    assert.deepEqual([...seen[0]!.keys()], ['far'], 'the peers by name, not this node');
    const unwatched = new RelayPaths(common);
    await unwatched.review();
    assert.equal(reads, 1, 'no relay, no traffic watch: no device read');
  });
});
