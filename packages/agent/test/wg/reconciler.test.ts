import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyDelta, netmapFromNodes, type MeshNode, type Netmap, type NetmapDelta } from '../../src/netmap/netmap.js';
import { handshakeAlive } from '../../src/endpoints/selector.js';
import { generateKeyPair } from '../../src/wg/keys.js';
import { MemoryWgDriver } from '../../src/wg/memory-driver.js';
import { Reconciler } from '../../src/wg/reconciler.js';
import { wgConfigFromNetmap } from '../../src/wg/config.js';
import type { WgDeviceState, WgDriver, WgInterfaceConfig, WgOp, WgPeerState } from '../../src/wg/types.js';
import type { Endpoint__Output } from '../../src/proto/index.js';
import type { Logger } from '../../src/log.js';
import { meshNode, seededRandom } from '../fixtures.js';
import { SimTimers } from '../sim-timers.js';

interface LogLine {
  level: string;
  message: string;
  meta: Record<string, unknown>;
}

function recordingLogger(lines: LogLine[]): Logger {
  const at = (level: string) => (message: string, meta: Record<string, unknown> = {}) => void lines.push({ level, message, meta });
  const logger: Logger = { error: at('error'), warn: at('warn'), info: at('info'), debug: () => {}, child: () => logger };
  return logger;
}

/** An endpoint `wg set` cannot resolve: a zone naming no interface (accepted by the bootstrap as a LAN candidate). */
const UNRESOLVABLE = 'fe80::1%zzz';
const SELF: MeshNode = meshNode('me', '198.18.0.1', { publicKey: generateKeyPair().publicKey });

/** A mesh of `count` peers p1..pN, each with its own key and one LAN endpoint (an unresolvable one for `bad`). */
function peers(count: number, bad?: number): MeshNode[] {
  return Array.from({ length: count }, (_, k) => peerNode(k + 1, k + 1 === bad ? UNRESOLVABLE : undefined));
}

const keys = new Map<number, string>();
function peerNode(i: number, ip = `192.0.2.${i}`): MeshNode {
  if (!keys.has(i)) keys.set(i, generateKeyPair().publicKey);
  return meshNode(`p${i}`, `198.18.0.${i + 1}`, { publicKey: keys.get(i)!, endpoints: [{ ip, port: 51820, kind: 'ENDPOINT_KIND_LAN' }] });
}

async function setup() {
  const memory = new MemoryWgDriver('wgrec');
  const device = new RefusingDriver(memory);
  await device.up({ name: 'wgrec', privateKey: generateKeyPair().privateKey, listenPort: 51820, address: '198.18.0.1/16' });
  const timers = new SimTimers();
  const log: LogLine[] = [];
  const state = { netmap: netmapFromNodes('me', 1, [SELF]) as Netmap };
  const reconciler = new Reconciler(device, () => state.netmap, {}, recordingLogger(log), () => {}, { timers, initialMs: 1000, maxMs: 60_000 });
  return {
    memory,
    device,
    timers,
    log,
    reconciler,
    warnings: () => log.filter((l) => l.level === 'warn'),
    /** Replaces the membership; the named nodes are reported changed (a delta), none: a snapshot. */
    membership(nodes: MeshNode[], changed?: string[]) {
      state.netmap = netmapFromNodes('me', state.netmap.revision + 1, [SELF, ...nodes]);
      if (changed) for (const name of changed) reconciler.changed(name);
    },
    async devicePeers(): Promise<string[]> {
      return (await memory.read()).peers.map((p) => [...keys].find(([, key]) => key === p.publicKey)?.[0]).map((i) => `p${i}`).sort();
    },
    /** Attempts so far to configure peer i on the device, refused or not. */
    attempts: (i: number) => device.attempted.filter((op) => op.op === 'set-peer' && op.peer.publicKey === keys.get(i)).length,
  };
}

/** Lets the pass a change scheduled (on the next turn of the event loop) run, and waits for it. */
async function settle(reconciler: Reconciler): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  await reconciler.idle();
}

const names = (from: number, to: number, except?: number) => Array.from({ length: to - from + 1 }, (_, k) => `p${from + k}`).filter((n) => n !== `p${except}`).sort();

describe('Reconciler: one bad peer never stops the others', () => {
  test('fast pass: 19 of 20 new peers are configured, the bad one is retried with backoff and fixed by a later delta', async () => {
    const mesh = await setup();
    await mesh.reconciler.full();

    // Step 1: twenty peers arrive in one batch of deltas; p7's only endpoint cannot be resolved.
    mesh.membership(peers(20, 7), names(1, 20));
    await settle(mesh.reconciler);
    assert.deepEqual(await mesh.devicePeers(), names(1, 20, 7), 'the other 19 are on the device after one pass');
    assert.equal(mesh.reconciler.stats.fastPasses, 1);
    assert.equal(mesh.reconciler.stats.failingPeers, 1);
    const [warning, ...more] = mesh.warnings();
    assert.deepEqual(more, [], 'one warning');
    assert.equal(warning!.meta.node, 'p7');
    assert.equal(warning!.meta.publicKey, keys.get(7));
    assert.match(String(warning!.meta.err), /fe80::1%zzz/);

    // Step 2: it is retried after 1 s, then 2 s; failing the same way it is not logged again.
    const tried = mesh.attempts(7);
    mesh.timers.advance(1000);
    await settle(mesh.reconciler);
    assert.equal(mesh.attempts(7), tried + 1, 'retried after 1 s');
    mesh.timers.advance(1999);
    await settle(mesh.reconciler);
    assert.equal(mesh.attempts(7), tried + 1, 'the next retry waits 2 s');
    mesh.timers.advance(1);
    await settle(mesh.reconciler);
    assert.equal(mesh.attempts(7), tried + 2);
    assert.equal(mesh.warnings().length, 1, 'the same error is logged once');

    // Step 3: other changes go through meanwhile, without waiting for p7.
    mesh.membership([...peers(20, 7).filter((n) => n.name !== 'p3'), peerNode(3, '192.0.2.103')], ['p3']);
    await settle(mesh.reconciler);
    assert.equal((await mesh.memory.read()).peers.find((p) => p.publicKey === keys.get(3))?.endpoint, '192.0.2.103:51820');
    assert.equal(mesh.attempts(7), tried + 2, 'a pass for p3 does not retry p7 early');

    // Step 4: p7's corrected endpoint arrives as a delta and is applied at once, before any retry.
    mesh.membership([...peers(20).filter((n) => n.name !== 'p3'), peerNode(3, '192.0.2.103')], ['p7']);
    await settle(mesh.reconciler);
    assert.deepEqual(await mesh.devicePeers(), names(1, 20));
    assert.equal(mesh.reconciler.stats.failingPeers, 0);
    assert.equal(mesh.timers.pending, 0, 'no retry left');
    assert.ok(mesh.log.some((l) => l.level === 'info' && l.meta.node === 'p7'), 'its recovery is logged');
    assert.equal(mesh.log.filter((l) => l.level === 'error').length, 0, 'no pass failed as a whole');
  });

  test('full pass: 19 of 20 peers are configured, a later full pass retries only the bad one, and a later delta fixes it', async () => {
    const mesh = await setup();

    // Step 1: a node starting up (or restarted) reconciles twenty peers at once; p12 is bad.
    mesh.membership(peers(20, 12));
    await mesh.reconciler.full();
    assert.deepEqual(await mesh.devicePeers(), names(1, 20, 12), 'the other 19 are on the device after one pass');
    assert.equal(mesh.reconciler.stats.failingPeers, 1);
    assert.equal(mesh.warnings().length, 1);
    assert.equal(mesh.warnings()[0]!.meta.node, 'p12');

    // Step 2: the periodic full pass tries p12 alone (the rest already match) and stays quiet about it.
    const [attempted, tried] = [mesh.device.attempted.length, mesh.attempts(12)];
    await mesh.reconciler.full();
    assert.equal(mesh.device.attempted.length - attempted, 1, 'one op: p12 alone');
    assert.equal(mesh.attempts(12), tried + 1);
    assert.equal(mesh.reconciler.stats.failingPeers, 1);
    assert.equal(mesh.warnings().length, 1);

    // Step 3: its backoff retry (a fast pass for that peer) fails too, and the failure stays counted.
    mesh.timers.advance(60_000);
    await settle(mesh.reconciler);
    assert.equal(mesh.reconciler.stats.failingPeers, 1);

    // Step 4: the corrected endpoint arrives as a delta and is applied at once.
    mesh.membership(peers(20), ['p12']);
    await settle(mesh.reconciler);
    assert.deepEqual(await mesh.devicePeers(), names(1, 20));
    assert.equal(mesh.reconciler.stats.failingPeers, 0);
    assert.equal(mesh.timers.pending, 0);
  });

  test('a stale peer the device will not remove is retried through full passes while the rest is configured', async () => {
    const mesh = await setup();
    const refusing = mesh.device;
    const device = mesh.memory;
    const stale = generateKeyPair().publicKey;
    await device.apply([{ op: 'set-peer', peer: { publicKey: stale, allowedIps: ['198.18.9.9/32'] } }]);
    refusing.refuse.add(stale);

    mesh.membership(peers(5));
    await mesh.reconciler.full();
    const onDevice = (await device.read()).peers.map((p) => p.publicKey);
    assert.equal(onDevice.length, 6, 'five peers configured, the stale one still there');
    assert.ok(onDevice.includes(stale));
    assert.equal(mesh.reconciler.stats.failingPeers, 1);
    const warning = mesh.warnings()[0]!;
    assert.equal(warning.meta.publicKey, stale);
    assert.equal(warning.meta.node, undefined, 'no node has that key');

    refusing.refuse.clear();
    const fullPasses = mesh.reconciler.stats.fullPasses;
    mesh.timers.advance(1000);
    await settle(mesh.reconciler);
    assert.equal(mesh.reconciler.stats.fullPasses, fullPasses + 1, 'retried with a full pass');
    assert.equal((await device.read()).peers.length, 5);
    assert.equal(mesh.reconciler.stats.failingPeers, 0);
  });

  test('a device that is gone is no peer\'s fault: the pass fails as a whole and the next one reads the device back', async () => {
    const mesh = await setup();
    const refusing = mesh.device;
    await mesh.reconciler.full();
    refusing.gone = true;
    mesh.membership(peers(3), names(1, 3));
    await settle(mesh.reconciler);
    assert.equal(mesh.reconciler.stats.failingPeers, 0, 'no peer blamed');
    assert.deepEqual(mesh.warnings(), []);
    assert.equal(mesh.log.filter((l) => l.level === 'error').length, 1);

    refusing.gone = false;
    const fullPasses = mesh.reconciler.stats.fullPasses;
    mesh.reconciler.changed('p1');
    await settle(mesh.reconciler);
    assert.equal(mesh.reconciler.stats.fullPasses, fullPasses + 1);
    assert.equal((await refusing.inner.read()).peers.length, 3);
  });
});

describe('Reconciler.restartPeer', () => {
  test('the peer goes and comes back with the same config in one batch; its handshake state is gone', async () => {
    const env = await setup();
    env.membership(peers(2), ['p1', 'p2']);
    await settle(env.reconciler);
    await env.memory.simulateHandshake(keys.get(1)!, { atMs: 1_700_000_000_000 });
    const before = (await env.memory.read()).peers.find((p) => p.publicKey === keys.get(1))!;
    const attemptsBefore = env.device.attempted.length;
    await env.reconciler.restartPeer('p1');
    const batch = env.device.attempted.slice(attemptsBefore);
    assert.deepEqual(batch.map((op) => op.op), ['remove-peer', 'set-peer']);
    const after = (await env.memory.read()).peers.find((p) => p.publicKey === keys.get(1))!;
    assert.equal(after.latestHandshakeMs, 0, 'a fresh peer: no handshake');
    assert.deepEqual({ ...after, latestHandshakeMs: before.latestHandshakeMs }, before, 'the same config');
    assert.deepEqual(await env.devicePeers(), ['p1', 'p2']);
    // A name the node does not have (any more) is left alone.
    const n = env.device.attempted.length;
    await env.reconciler.restartPeer('p9');
    assert.equal(env.device.attempted.length, n);
  });
});

describe('Reconciler: a fast pass applies the same rule as a full pass', () => {
  test('a peer with a live session keeps the endpoint it roamed to when a delta changes its candidate or its address', async () => {
    const mesh = await setup();
    const endpointOf = async (i: number) => (await mesh.memory.read()).peers.find((p) => p.publicKey === keys.get(i))?.endpoint;

    // Step 1: p1, p2 and p3 are configured at their LAN addresses.
    mesh.membership(peers(3));
    await mesh.reconciler.full();

    // Step 2: p1 handshakes from behind a NAT (WireGuard follows it to that address); p2 has a
    // session from its own address; p3 roamed too, but 200 s ago (its session is over). The
    // periodic full pass reads this back.
    const now = Date.now();
    mesh.memory.simulateHandshake(keys.get(1)!, { atMs: now - 5_000, endpoint: '203.0.113.1:40001' });
    mesh.memory.simulateHandshake(keys.get(2)!, { atMs: now - 5_000 });
    mesh.memory.simulateHandshake(keys.get(3)!, { atMs: now - 200_000, endpoint: '203.0.113.3:40003' });
    await mesh.reconciler.full();
    assert.equal(await endpointOf(1), '203.0.113.1:40001', 'a full pass keeps the roamed endpoint');
    const reads = mesh.device.reads;

    // Step 3: all three get a new best candidate, as one batch of deltas (a fast pass).
    mesh.membership([peerNode(1, '192.0.2.101'), peerNode(2, '192.0.2.102'), peerNode(3, '192.0.2.103')], ['p1', 'p2', 'p3']);
    await settle(mesh.reconciler);
    assert.equal(mesh.reconciler.stats.fastPasses, 1);
    assert.equal(await endpointOf(1), '203.0.113.1:40001', 'the live session keeps the endpoint it roamed to');
    assert.equal(await endpointOf(2), '192.0.2.2:51820', 'the live session keeps the endpoint it works at');
    assert.equal(await endpointOf(3), '192.0.2.103:51820', 'a session that is over gets the new candidate');

    // Step 4: p1 moves to another mesh IP: its allowed IPs change, its endpoint still does not.
    const moved = meshNode('p1', '198.18.0.99', { publicKey: keys.get(1)!, endpoints: [{ ip: '192.0.2.101', port: 51820, kind: 'ENDPOINT_KIND_LAN' }] });
    mesh.membership([moved, peerNode(2, '192.0.2.102'), peerNode(3, '192.0.2.103')], ['p1']);
    await settle(mesh.reconciler);
    const p1 = (await mesh.memory.read()).peers.find((p) => p.publicKey === keys.get(1));
    assert.deepEqual(p1?.allowedIps, ['198.18.0.99/32']);
    assert.equal(p1?.endpoint, '203.0.113.1:40001');
    assert.equal(mesh.device.reads, reads, 'the fast passes read nothing back');

    // Step 5: a full pass now finds nothing to do: the fast passes did what it would have.
    const ops = mesh.reconciler.stats.ops;
    await mesh.reconciler.full();
    assert.equal(mesh.reconciler.stats.ops, ops);
  });

  test('property: 200 seeded random sequences of 30 deltas leave the device, after every fast pass, as a full pass leaves it', async () => {
    for (let seed = 1; seed <= 200; seed++) await fastEqualsFull(seed, 30);
  });
});

const PRIVATE_KEY = generateKeyPair().privateKey;

/**
 * One random history, run twice in lockstep: device F follows it through fast passes (one per
 * batch of 1-3 deltas, as the agent batches what arrives in one turn), device R through a full
 * pass after every batch. Both see the same handshakes and roams. After every batch, F must read
 * back exactly as R (endpoints, allowed IPs, keepalive, handshakes). The fast path learns of a
 * handshake only from a full read (the periodic one, every 30 s), so one follows each handshake
 * (on both devices); the deltas themselves all go through fast passes on F.
 * At the end, F also matches a fresh device brought to the final netmap by one full pass, but for
 * the endpoints of live sessions, which F keeps where WireGuard roamed them, and of peers with no
 * endpoint candidate, which keep whatever endpoint they had.
 */
async function fastEqualsFull(seed: number, deltas: number): Promise<void> {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const chance = (p: number) => random() < p;
  const fakeKey = () => Buffer.from(Array.from({ length: 32 }, () => Math.floor(random() * 256))).toString('base64');
  const options = { persistentKeepalive: chance(0.5) ? 25 : 0 };
  const self = meshNode('self', '198.18.0.1', { publicKey: fakeKey() });
  const names = Array.from({ length: 8 }, (_, i) => `n${i + 1}`);
  const lastKey = new Map<string, string>();
  const usedIps = new Set<string>();
  const freshIp = (): string => {
    for (;;) {
      const ip = `198.18.0.${2 + Math.floor(random() * 40)}`;
      if (!usedIps.has(ip)) return ip;
    }
  };
  const endpoints = (): Endpoint__Output[] =>
    Array.from({ length: Math.floor(random() * 3) }, () => ({
      ip: `192.0.2.${1 + Math.floor(random() * 20)}`,
      port: pick([51820, 51821]),
      kind: pick(['ENDPOINT_KIND_LAN', 'ENDPOINT_KIND_OBSERVED', 'ENDPOINT_KIND_STUN'] as const),
    }));

  let netmap: Netmap = netmapFromNodes('self', 1, [self]);
  const start = async (name: string) => {
    const memory = new MemoryWgDriver(name);
    const device = new RefusingDriver(memory);
    await device.up({ name, privateKey: PRIVATE_KEY, listenPort: 51820, address: '198.18.0.1/16' });
    const reconciler = new Reconciler(device, () => netmap, options, undefined, () => {}, { timers: new SimTimers() });
    await reconciler.full();
    return { memory, device, reconciler };
  };
  const F = await start('wgfast');
  const R = await start('wgfull');
  const where = (step: number) => `seed ${seed}, step ${step}`;

  let step = 0;
  while (step < deltas) {
    // Now and then WireGuard does something by itself: a handshake, maybe from a new address.
    const onDevice = (await F.memory.read()).peers.map((p) => p.publicKey);
    if (onDevice.length > 0 && chance(0.25)) {
      const publicKey = pick(onDevice);
      const handshake = {
        atMs: Date.now() - (chance(0.7) ? Math.floor(random() * 60_000) : 200_000 + Math.floor(random() * 800_000)),
        ...(chance(0.6) ? { endpoint: `203.0.113.${1 + Math.floor(random() * 50)}:${40000 + Math.floor(random() * 1000)}` } : {}),
      };
      F.memory.simulateHandshake(publicKey, handshake);
      R.memory.simulateHandshake(publicKey, handshake);
      await F.reconciler.full();
      await R.reconciler.full();
    }

    // A batch of 1-3 deltas: adds (some re-adding a removed node under its old key), removes, and
    // upserts with a new endpoint candidate list, key, mesh IP (or none: not a peer yet) or nothing new.
    const batch: Exclude<NetmapDelta, { kind: 'snapshot' }>[] = [];
    for (let k = 1 + Math.floor(random() * 3); k > 0 && step < deltas; k--, step++) {
      const name = pick(names);
      const node = netmap.nodes.get(name);
      let delta: Exclude<NetmapDelta, { kind: 'snapshot' }>;
      if (!node) {
        const publicKey = lastKey.has(name) && chance(0.5) ? lastKey.get(name)! : fakeKey();
        delta = { kind: 'upsert', revision: netmap.revision + 1, node: meshNode(name, freshIp(), { publicKey, endpoints: endpoints() }) };
      } else if (chance(0.2)) {
        delta = { kind: 'remove', revision: netmap.revision + 1, name };
      } else {
        const change = pick(['endpoints', 'key', 'ip', 'nothing'] as const);
        const changed: MeshNode =
          change === 'endpoints' ? { ...node, endpoints: endpoints() }
          : change === 'key' ? { ...node, publicKey: fakeKey() }
          : change === 'ip' ? { ...node, meshIp: chance(0.15) ? '' : freshIp() }
          : { ...node, tags: { touched: String(step) } };
        delta = { kind: 'upsert', revision: netmap.revision + 1, node: changed };
      }
      netmap = applyDelta(netmap, delta);
      batch.push(delta);
      usedIps.clear();
      for (const n of netmap.nodes.values()) {
        if (n.meshIp) usedIps.add(n.meshIp);
        lastKey.set(n.name, n.publicKey);
      }
    }

    const reads = F.device.reads;
    for (const delta of batch) F.reconciler.changed(delta.kind === 'upsert' ? delta.node.name : delta.name);
    await settle(F.reconciler);
    assert.equal(F.device.reads, reads, `${where(step)}: a fast pass reads nothing back`);
    await R.reconciler.full();
    assert.deepEqual(sortedPeers(await F.memory.read()), sortedPeers(await R.memory.read()), `${where(step)}: after ${JSON.stringify(batch)}`);
  }

  // The end: a full pass on F finds nothing to do, and a fresh device agrees, but for the
  // endpoints of live sessions and of peers the netmap names none for (wg set cannot clear one).
  const ops = F.reconciler.stats.ops;
  await F.reconciler.full();
  assert.equal(F.reconciler.stats.ops, ops, `${where(step)}: a full pass after the fast passes changes nothing`);
  const fresh = await start('wgfresh');
  const now = Date.now();
  const final = sortedPeers(await F.memory.read());
  const live = new Set(final.filter((p) => handshakeAlive(p, now)).map((p) => p.publicKey));
  const withoutEndpoint = new Set(wgConfigFromNetmap(netmap, options).peers.filter((p) => p.endpoint === undefined).map((p) => p.publicKey));
  const endpointOf = (p: WgPeerState) => (live.has(p.publicKey) ? 'live session: kept' : withoutEndpoint.has(p.publicKey) ? 'none desired: wg keeps any' : p.endpoint);
  const configuredPart = (peers: readonly WgPeerState[]) =>
    peers.map((p) => ({ publicKey: p.publicKey, endpoint: endpointOf(p), allowedIps: p.allowedIps, persistentKeepalive: p.persistentKeepalive }));
  assert.deepEqual(configuredPart(final), configuredPart(sortedPeers(await fresh.memory.read())), `${where(step)}: as a fresh device`);
  for (const r of [F, R, fresh]) r.reconciler.close();
}

function sortedPeers(state: WgDeviceState): WgPeerState[] {
  return [...state.peers].map((p) => ({ ...p, allowedIps: [...p.allowedIps].sort() })).sort((a, b) => a.publicKey.localeCompare(b.publicKey));
}

/**
 * A test double: the in-memory device (which refuses unresolvable endpoints itself, as `wg set`
 * does), also refusing any call that touches the listed keys, or every call when gone. Records
 * every op it was asked to apply, refused or not.
 */
class RefusingDriver implements WgDriver {
  readonly kind = 'memory' as const;
  readonly refuse = new Set<string>();
  readonly attempted: WgOp[] = [];
  /** Reads of the device so far. */
  reads = 0;
  gone = false;
  constructor(readonly inner: MemoryWgDriver) {}
  get name(): string {
    return this.inner.name;
  }
  up(config: WgInterfaceConfig): Promise<void> {
    return this.inner.up(config);
  }
  setAddress(address: string): Promise<void> {
    return this.inner.setAddress(address);
  }
  async read(): Promise<WgDeviceState> {
    this.reads++;
    if (this.gone) throw new Error('no such device');
    return this.inner.read();
  }
  async apply(ops: readonly WgOp[]): Promise<void> {
    if (this.gone) throw new Error('no such device');
    this.attempted.push(...ops);
    const key = ops.map((op) => (op.op === 'set-peer' ? op.peer.publicKey : op.publicKey)).find((k) => this.refuse.has(k));
    if (key) throw new Error(`peer ${key}: refused`);
    return this.inner.apply(ops);
  }
  setPrivateKey(privateKey: string): Promise<void> {
    return this.inner.setPrivateKey(privateKey);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
