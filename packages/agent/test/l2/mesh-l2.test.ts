import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { applyDelta, netmapFromNodes, type MeshNode, type Netmap, type NetmapDelta } from '../../src/netmap/netmap.js';
import type { JoinResponse__Output } from '../../src/proto/index.js';
import { MeshL2 } from '../../src/l2/mesh-l2.js';
import { MemoryL2Driver } from '../../src/l2/memory-driver.js';
import { meshNode } from '../fixtures.js';

const SELF = meshNode('me', '198.18.0.1');
const peer = (i: number): MeshNode => meshNode(`p${i}`, `198.18.0.${i + 1}`);

/** What MeshL2 follows, driven by hand: the agent's netmap, its join answer and its events. */
class FakeMembership extends EventEmitter {
  netmap: Netmap;
  joined: JoinResponse__Output | undefined;
  constructor(peers: number, l2 = true) {
    super();
    const nodes = [SELF, ...Array.from({ length: peers }, (_, k) => peer(k + 1))];
    this.netmap = netmapFromNodes('me', 1, nodes);
    this.joined = {
      nodeName: 'me', meshIp: SELF.meshIp, meshCidr: '198.18.0.0/16', meshCreatedMs: 1, revision: 1, nodes, nodeSecret: '', presharedKeys: false,
      l2: l2 ? { enabled: true, vni: 4242, port: 4789 } : null,
    };
  }
  /** One Watch delta, as the agent passes it on: netmap first, then 'members' with the name, then 'change'. */
  apply(delta: NetmapDelta): void {
    this.netmap = applyDelta(this.netmap, delta);
    this.emit('members', delta.kind === 'snapshot' ? [] : [delta.kind === 'upsert' ? delta.node.name : delta.name], delta.kind === 'snapshot');
    this.emit('change');
  }
}

async function started(peers: number, init: { l2?: boolean; keepInterface?: boolean; bridgeIfs?: string[]; address?: string; fullPassMs?: number } = {}) {
  const membership = new FakeMembership(peers, init.l2 ?? true);
  const driver = new MemoryL2Driver({ wgme: 1420 });
  const l2 = new MeshL2(membership, driver, {
    meshName: 'me', wgInterface: 'wgme', fullPassMs: init.fullPassMs ?? 0,
    ...(init.keepInterface ? { keepInterface: true } : {}),
    ...(init.bridgeIfs ? { bridgeIfs: init.bridgeIfs } : {}),
    ...(init.address ? { address: init.address } : {}),
  });
  await l2.start();
  return { membership, driver, l2 };
}

describe('MeshL2: the flood list follows the membership', () => {
  test('a mesh without L2 makes no devices and shows none', async () => {
    const { driver, l2 } = await started(3, { l2: false });
    assert.equal(driver.config, undefined);
    assert.equal(l2.status(), null);
    await l2.stop();
  });

  test('at start: the bridge and VXLAN device with the mesh\'s VNI, port and MTU, and one entry per peer', async () => {
    const { driver, l2 } = await started(3, { bridgeIfs: ['veth0'], address: '10.99.0.1/24' });
    assert.deepEqual(driver.config, {
      bridge: 'brme', vxlan: 'vxme', vni: 4242, port: 4789, local: '198.18.0.1', mtu: 1370, bridgeIfs: ['veth0'], address: '10.99.0.1/24',
    });
    assert.deepEqual([...driver.flood].sort(), ['198.18.0.2', '198.18.0.3', '198.18.0.4']);
    const status = l2.status()!;
    assert.equal(status.up, true);
    assert.equal(status.mtu, 1370);
    assert.equal(status.floodEntries, 3);
    assert.deepEqual(status.bridgeIfs, ['veth0']);
    await l2.stop();
  });

  test('a join adds exactly one entry and a leave removes exactly one, without reading the device back', async () => {
    const { membership, driver, l2 } = await started(50);
    const reads = driver.reads;
    driver.ops.length = 0;
    membership.apply({ kind: 'upsert', revision: 2, node: peer(60) });
    await l2.idle();
    assert.deepEqual(driver.ops, [{ op: 'add', dst: '198.18.0.61' }]);
    membership.apply({ kind: 'remove', revision: 3, name: 'p7' });
    await l2.idle();
    assert.deepEqual(driver.ops, [{ op: 'add', dst: '198.18.0.61' }, { op: 'del', dst: '198.18.0.8' }]);
    assert.equal(driver.reads, reads, 'no read back for a single change');
    assert.equal(driver.flood.size, 50);
    // A member's other changes (tags, endpoints) touch nothing.
    membership.apply({ kind: 'upsert', revision: 4, node: { ...peer(3), tags: { role: 'db' } } });
    await l2.idle();
    assert.equal(driver.ops.length, 2);
    await l2.stop();
  });

  test('a peer that moved to another mesh IP: its old entry goes, the new one comes', async () => {
    const { membership, driver, l2 } = await started(2);
    driver.ops.length = 0;
    membership.apply({ kind: 'upsert', revision: 2, node: meshNode('p1', '198.18.0.99') });
    await l2.idle();
    assert.deepEqual(driver.ops, [{ op: 'del', dst: '198.18.0.2' }, { op: 'add', dst: '198.18.0.99' }]);
    await l2.stop();
  });

  test('one batch where a leaver\'s address goes to a joiner keeps that address\'s entry, whatever order the batch names them in', async () => {
    const { membership, driver, l2 } = await started(3);
    // p3 (198.18.0.4) leaves and p9 gets its address, both in one batch, p9 named first.
    membership.netmap = applyDelta(applyDelta(membership.netmap, { kind: 'remove', revision: 2, name: 'p3' }), { kind: 'upsert', revision: 3, node: meshNode('p9', '198.18.0.4') });
    membership.emit('members', ['p9', 'p3'], false);
    await l2.idle();
    assert.deepEqual([...driver.flood].sort(), ['198.18.0.2', '198.18.0.3', '198.18.0.4']);
    assert.equal(l2.status()!.floodEntries, 3);
    await l2.stop();
  });

  test('a snapshot (re-join) reads the device back and repairs drift: an entry someone removed, one nobody owns', async () => {
    const { membership, driver, l2 } = await started(3);
    driver.flood.delete('198.18.0.3');
    driver.flood.add('198.18.0.77');
    membership.apply({ kind: 'snapshot', revision: 9, nodes: [...membership.netmap.nodes.values()] });
    await l2.idle();
    assert.deepEqual([...driver.flood].sort(), ['198.18.0.2', '198.18.0.3', '198.18.0.4']);
    await l2.stop();
  });

  test('L2 appearing in a re-join (the bootstrap got -l2 later) brings the devices up then', async () => {
    const { membership, driver, l2 } = await started(2, { l2: false });
    assert.equal(driver.config === undefined, true);
    membership.joined = { ...membership.joined!, l2: { enabled: true, vni: 7, port: 4789 } };
    membership.emit('change');
    await l2.idle();
    assert.equal(driver.config?.vni, 7);
    assert.equal(driver.flood.size, 2);
    await l2.stop();
  });

  test('a mesh without L2 wakes nothing for full passes; L2 from a re-join starts them, and stop ends them', async () => {
    const { membership, driver, l2 } = await started(2, { l2: false, fullPassMs: 20 });
    // Absence can only be watched for a while: ten periods.
    await sleep(200);
    assert.equal(l2.stats.wakeups, 0, 'no full-pass timer in a mesh without L2');

    membership.joined = { ...membership.joined!, l2: { enabled: true, vni: 7, port: 4789 } };
    membership.emit('change');
    await l2.idle();
    const reads = driver.reads;
    const deadline = Date.now() + 5_000;
    while (l2.stats.wakeups < 3 && Date.now() < deadline) await sleep(10);
    await l2.idle();
    assert.ok(l2.stats.wakeups >= 3, `full passes every 20 ms once the mesh has L2 (${l2.stats.wakeups} wake-ups)`);
    assert.ok(driver.reads > reads, 'each reads the flood list back');

    await l2.stop();
    const stopped = l2.stats.wakeups;
    await sleep(100);
    assert.equal(l2.stats.wakeups, stopped, 'none after stop');
  });

  test('a new mesh IP (address event) re-makes the devices with it as their source', async () => {
    const { membership, driver, l2 } = await started(2);
    membership.joined = { ...membership.joined!, meshIp: '198.18.0.50' };
    membership.emit('address', '198.18.0.50');
    await l2.idle();
    assert.equal(driver.config?.local, '198.18.0.50');
    assert.equal(driver.flood.size, 2);
    await l2.stop();
  });

  test('a start during a move of the wg interface (a restart whose re-join got a new mesh IP) waits for it and comes up on the new IP', async () => {
    const membership = new FakeMembership(2) as FakeMembership & { addressMove?: Promise<void> };
    const driver = new MemoryL2Driver({ wgme: 1420 });
    // The agent has closed the device to bring it up on the new IP: for now it does not exist.
    let deviceGone = true;
    const mtuOf = driver.mtuOf.bind(driver);
    driver.mtuOf = async (iface) => {
      if (deviceGone) throw new Error(`ip -j link show dev ${iface}: Device "${iface}" does not exist.`);
      return mtuOf(iface);
    };
    let moveDone = () => {};
    membership.addressMove = new Promise<void>((resolve) => (moveDone = resolve));
    const l2 = new MeshL2(membership, driver, { meshName: 'me', wgInterface: 'wgme', fullPassMs: 0 });
    const start = l2.start();
    // The first bring-up has run into the missing device by now.
    while (l2.status()?.error === '') await sleep(1);
    assert.match(l2.status()!.error, /does not exist/);
    // The move ends as Agent.rejoined ends it: device up, new IP adopted, 'address', then the promise.
    deviceGone = false;
    membership.joined = { ...membership.joined!, meshIp: '198.18.0.50' };
    membership.emit('address', '198.18.0.50');
    membership.addressMove = undefined;
    moveDone();
    await start;
    assert.equal(driver.config?.local, '198.18.0.50', 'the devices are up, on the new mesh IP');
    assert.equal(l2.status()?.up, true);
    assert.equal(driver.flood.size, 2);
    await l2.stop();
  });

  test('stop removes the devices, or leaves them with keepInterface', async () => {
    const plain = await started(2);
    await plain.l2.stop();
    assert.equal(plain.driver.closed, true);
    assert.equal(plain.driver.config, undefined);
    const kept = await started(2, { keepInterface: true });
    await kept.l2.stop();
    assert.equal(kept.driver.closed, true);
    assert.equal(kept.driver.flood.size, 2);
  });

  test('devices made half-way by a start that failed (a -l2-bridge-if that does not exist) are removed at stop', async () => {
    const membership = new FakeMembership(2);
    const driver = new MemoryL2Driver({ wgme: 1420 });
    // As IpL2Driver does: the VXLAN device and the bridge exist when putting the named interface in fails.
    driver.up = async (config) => {
      driver.config = config;
      throw new Error('ip link set dev eth9 master brme up: Cannot find device "eth9"');
    };
    const l2 = new MeshL2(membership, driver, { meshName: 'me', wgInterface: 'wgme', fullPassMs: 0, bridgeIfs: ['eth9'] });
    await assert.rejects(l2.start(), /eth9/);
    await l2.stop();
    assert.equal(driver.closed, true, 'the driver was told to remove what it made');
    assert.equal(driver.config, undefined);
  });

  test('a driver that fails a change is repaired by a full pass at the next one', async () => {
    const { membership, driver, l2 } = await started(2);
    const apply = driver.apply.bind(driver);
    let fail = true;
    driver.apply = async (ops) => {
      if (fail) {
        fail = false;
        throw new Error('RTNETLINK answers: No buffer space available');
      }
      return apply(ops);
    };
    membership.apply({ kind: 'upsert', revision: 2, node: peer(5) });
    await l2.idle();
    assert.match(l2.status()!.error, /No buffer space/);
    membership.apply({ kind: 'upsert', revision: 3, node: peer(6) });
    await l2.idle();
    assert.deepEqual([...driver.flood].sort(), ['198.18.0.2', '198.18.0.3', '198.18.0.6', '198.18.0.7']);
    assert.equal(l2.status()!.error, '');
    await l2.stop();
  });
});
