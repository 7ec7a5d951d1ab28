import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { netmapFromNodes, type MeshNode, type Netmap } from '../../src/netmap/netmap.js';
import { generateKeyPair } from '../../src/wg/keys.js';
import { MemoryWgDriver } from '../../src/wg/memory-driver.js';
import { Reconciler } from '../../src/wg/reconciler.js';
import type { WgDeviceState, WgDriver, WgInterfaceConfig, WgOp } from '../../src/wg/types.js';
import type { Logger } from '../../src/log.js';
import { meshNode } from '../fixtures.js';
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

/**
 * A test double: the in-memory device (which refuses unresolvable endpoints itself, as `wg set`
 * does), also refusing any call that touches the listed keys, or every call when gone. Records
 * every op it was asked to apply, refused or not.
 */
class RefusingDriver implements WgDriver {
  readonly kind = 'memory' as const;
  readonly refuse = new Set<string>();
  readonly attempted: WgOp[] = [];
  gone = false;
  constructor(readonly inner: MemoryWgDriver) {}
  get name(): string {
    return this.inner.name;
  }
  up(config: WgInterfaceConfig): Promise<void> {
    return this.inner.up(config);
  }
  async read(): Promise<WgDeviceState> {
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
  close(): Promise<void> {
    return this.inner.close();
  }
}
