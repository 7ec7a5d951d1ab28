import { meshNode } from '../fixtures.js';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { netmapFromNodes, type MeshNode } from '../../src/netmap/netmap.js';
import { diffWgConfig, peerOps, wgConfigFromNetmap, type DesiredWgConfig } from '../../src/wg/config.js';
import { MemoryWgDriver } from '../../src/wg/memory-driver.js';
import { generateKeyPair } from '../../src/wg/keys.js';
import type { Endpoint__Output } from '../../src/proto/index.js';
import type { WgPeerConfig, WgPeerState } from '../../src/wg/types.js';

const node = (name: string, meshIp: string, endpoints: Endpoint__Output[] = []): MeshNode =>
  meshNode(name, meshIp, { publicKey: generateKeyPair().publicKey, endpoints });

const ep = (ip: string, port: number, kind: Endpoint__Output['kind']): Endpoint__Output => ({ ip, port, kind });
const state = (peer: WgPeerConfig): WgPeerState => ({ ...peer, latestHandshakeMs: 0, rxBytes: 0, txBytes: 0 });

describe('wgConfigFromNetmap', () => {
  test('every node but self is a peer (in no particular order), with its mesh IP as /32', () => {
    const me = node('me', '10.232.0.2');
    const zulu = node('zulu', '10.232.0.9');
    const alpha = node('alpha', '10.232.0.3');
    const config = wgConfigFromNetmap(netmapFromNodes('me', 1, [zulu, me, alpha]));
    const byIp = [...config.peers].sort((a, b) => a.allowedIps[0]!.localeCompare(b.allowedIps[0]!));
    assert.deepEqual(byIp, [
      { publicKey: alpha.publicKey, allowedIps: ['10.232.0.3/32'] },
      { publicKey: zulu.publicKey, allowedIps: ['10.232.0.9/32'] },
    ]);
  });

  test('an IPv6 mesh IP is a /128', () => {
    const v6 = node('v6', 'fd00:232::7');
    const config = wgConfigFromNetmap(netmapFromNodes('me', 1, [node('me', 'fd00:232::1'), v6]));
    assert.deepEqual(config.peers[0]?.allowedIps, ['fd00:232::7/128']);
  });

  test('a node with no key or no IP yet is not a peer', () => {
    const keyless = { ...node('keyless', '10.232.0.5'), publicKey: '' };
    const ipless = { ...node('ipless', ''), meshIp: '' };
    const config = wgConfigFromNetmap(netmapFromNodes('me', 1, [node('me', '10.232.0.2'), keyless, ipless]));
    assert.deepEqual(config.peers, []);
  });

  test('the endpoint is chosen CONFIGURED, then LAN, then OBSERVED, then STUN, whatever the order given', () => {
    const configured = ep('192.0.2.1', 1001, 'ENDPOINT_KIND_CONFIGURED');
    const lan = ep('192.0.2.2', 1002, 'ENDPOINT_KIND_LAN');
    const observed = ep('198.51.100.3', 1003, 'ENDPOINT_KIND_OBSERVED');
    const stun = ep('203.0.113.4', 1004, 'ENDPOINT_KIND_STUN');
    const chosen = (endpoints: Endpoint__Output[]) =>
      wgConfigFromNetmap(netmapFromNodes('me', 1, [node('me', '10.232.0.2'), node('p', '10.232.0.3', endpoints)])).peers[0]?.endpoint;

    assert.equal(chosen([stun, observed, lan, configured]), '192.0.2.1:1001');
    assert.equal(chosen([stun, observed, lan]), '192.0.2.2:1002');
    assert.equal(chosen([stun, observed]), '198.51.100.3:1003');
    assert.equal(chosen([stun]), '203.0.113.4:1004');
    assert.equal(chosen([]), undefined);
    assert.equal(chosen([ep('2001:db8::5', 1005, 'ENDPOINT_KIND_LAN')]), '[2001:db8::5]:1005', 'IPv6 endpoints in brackets');
  });

  test('a peer without any endpoint has no endpoint field (it will reach us)', () => {
    const config = wgConfigFromNetmap(netmapFromNodes('me', 1, [node('me', '10.232.0.2'), node('p', '10.232.0.3')]));
    assert.ok(!('endpoint' in config.peers[0]!));
  });

  test('persistent keepalive is set on every peer when asked, and absent otherwise', () => {
    const netmap = netmapFromNodes('me', 1, [node('me', '10.232.0.2'), node('a', '10.232.0.3'), node('b', '10.232.0.4')]);
    assert.deepEqual(wgConfigFromNetmap(netmap, { persistentKeepalive: 25 }).peers.map((p) => p.persistentKeepalive), [25, 25]);
    assert.ok(wgConfigFromNetmap(netmap).peers.every((p) => !('persistentKeepalive' in p)));
    assert.ok(wgConfigFromNetmap(netmap, { persistentKeepalive: 0 }).peers.every((p) => !('persistentKeepalive' in p)));
  });

  test('endpointFor overrides the choice (the agent trying candidates in turn)', () => {
    const p = node('p', '10.232.0.3', [ep('192.0.2.2', 1002, 'ENDPOINT_KIND_LAN'), ep('203.0.113.4', 1004, 'ENDPOINT_KIND_STUN')]);
    const config = wgConfigFromNetmap(netmapFromNodes('me', 1, [node('me', '10.232.0.2'), p]), { endpointFor: () => '203.0.113.4:1004' });
    assert.equal(config.peers[0]?.endpoint, '203.0.113.4:1004');
  });

  test('it is pure: the same netmap gives an equal config, and the netmap is untouched', () => {
    const netmap = netmapFromNodes('me', 1, [node('me', '10.232.0.2'), node('p', '10.232.0.3', [ep('192.0.2.2', 1, 'ENDPOINT_KIND_STUN'), ep('192.0.2.3', 2, 'ENDPOINT_KIND_LAN')])]);
    const before = JSON.stringify([...netmap.nodes.values()]);
    assert.deepEqual(wgConfigFromNetmap(netmap), wgConfigFromNetmap(netmap));
    assert.equal(JSON.stringify([...netmap.nodes.values()]), before, 'endpoint ranking did not reorder the node’s list');
  });
});

describe('diffWgConfig', () => {
  const a: WgPeerConfig = { publicKey: generateKeyPair().publicKey, endpoint: '192.0.2.1:51820', allowedIps: ['10.232.0.3/32'] };
  const b: WgPeerConfig = { publicKey: generateKeyPair().publicKey, endpoint: '192.0.2.2:51820', allowedIps: ['10.232.0.4/32'] };
  const c: WgPeerConfig = { publicKey: generateKeyPair().publicKey, allowedIps: ['10.232.0.5/32'] };

  test('no changes is an empty list', () => {
    assert.deepEqual(diffWgConfig({ peers: [state(a), state(b)] }, { peers: [a, b] }), []);
    assert.deepEqual(diffWgConfig({ peers: [] }, { peers: [] }), []);
  });

  test('peer order and allowed-IP order do not matter', () => {
    const multi: WgPeerConfig = { ...a, allowedIps: ['10.232.0.3/32', 'fd00:232::3/128'] };
    const actual = { peers: [state(b), state({ ...multi, allowedIps: ['fd00:232::3/128', '10.232.0.3/32'] })] };
    assert.deepEqual(diffWgConfig(actual, { peers: [multi, b] }), []);
  });

  test('a new peer is one set-peer', () => {
    assert.deepEqual(diffWgConfig({ peers: [state(a)] }, { peers: [a, c] }), [{ op: 'set-peer', peer: c }]);
  });

  test('a peer gone from the netmap is one remove-peer', () => {
    assert.deepEqual(diffWgConfig({ peers: [state(a), state(b)] }, { peers: [a] }), [{ op: 'remove-peer', publicKey: b.publicKey }]);
  });

  test('a changed endpoint is one set-peer', () => {
    const moved = { ...b, endpoint: '203.0.113.9:40000' };
    assert.deepEqual(diffWgConfig({ peers: [state(a), state(b)] }, { peers: [a, moved] }), [{ op: 'set-peer', peer: moved }]);
  });

  test('changed allowed IPs are one set-peer', () => {
    const readdressed = { ...a, allowedIps: ['10.232.0.33/32'] };
    assert.deepEqual(diffWgConfig({ peers: [state(a), state(b)] }, { peers: [readdressed, b] }), [{ op: 'set-peer', peer: readdressed }]);
    const extra = { ...a, allowedIps: ['10.232.0.3/32', '10.232.0.34/32'] };
    assert.deepEqual(diffWgConfig({ peers: [state(a)] }, { peers: [extra] }), [{ op: 'set-peer', peer: extra }]);
  });

  test('a changed keepalive is one set-peer', () => {
    const kept = { ...a, persistentKeepalive: 25 };
    assert.deepEqual(diffWgConfig({ peers: [state(a)] }, { peers: [kept] }), [{ op: 'set-peer', peer: kept }]);
    assert.deepEqual(diffWgConfig({ peers: [state(kept)] }, { peers: [a] }), [{ op: 'set-peer', peer: a }]);
  });

  test('an endpoint the device learned by roaming is kept when the netmap has none for that peer', () => {
    assert.deepEqual(diffWgConfig({ peers: [state({ ...c, endpoint: '198.51.100.7:1234' })] }, { peers: [c] }), []);
  });

  test('a peer with a live session keeps its endpoint: a change to it goes without one, and wg leaves it as it is', () => {
    const now = 1_800_000_000_000;
    const live: WgPeerState = { ...state(a), endpoint: '198.51.100.7:1234', latestHandshakeMs: now - 5_000 };
    assert.deepEqual(diffWgConfig({ peers: [live] }, { peers: [{ ...a, endpoint: '203.0.113.1:1' }] }, now), [], 'a new candidate alone: nothing to do');
    const readdressed = { ...a, allowedIps: ['10.232.0.33/32'] };
    const { endpoint: _endpoint, ...withoutEndpoint } = readdressed;
    assert.deepEqual(diffWgConfig({ peers: [live] }, { peers: [readdressed] }, now), [{ op: 'set-peer', peer: withoutEndpoint }]);
    assert.deepEqual(peerOps(live, readdressed, now), [{ op: 'set-peer', peer: withoutEndpoint }], 'the one rule both passes use');
    assert.deepEqual(peerOps(live, undefined, now), [{ op: 'remove-peer', publicKey: a.publicKey }]);
    assert.deepEqual(peerOps(undefined, undefined, now), []);
  });

  test('add, change and remove at once: exactly one op each', () => {
    const moved = { ...a, endpoint: '203.0.113.1:1' };
    const ops = diffWgConfig({ peers: [state(a), state(b)] }, { peers: [moved, c] });
    assert.equal(ops.length, 3);
    assert.deepEqual(new Set(ops.map((o) => (o.op === 'set-peer' ? `set ${o.peer.publicKey}` : `remove ${o.publicKey}`))),
      new Set([`set ${a.publicKey}`, `set ${c.publicKey}`, `remove ${b.publicKey}`]));
  });

  test('applying the diff to a device makes the next diff empty', async () => {
    const driver = new MemoryWgDriver('wgtest');
    await driver.up({ name: 'wgtest', privateKey: generateKeyPair().privateKey, listenPort: 51820, address: '10.232.0.2/16' });
    const desired: DesiredWgConfig = { peers: [a, b, c] };
    await driver.apply(diffWgConfig(await driver.read(), desired));
    assert.equal(driver.operations.length, 3);
    assert.deepEqual(diffWgConfig(await driver.read(), desired), []);

    const next: DesiredWgConfig = { peers: [{ ...a, endpoint: '203.0.113.1:1' }, c] };
    await driver.apply(diffWgConfig(await driver.read(), next));
    assert.equal(driver.operations.length, 5, 'one change and one removal');
    assert.deepEqual(diffWgConfig(await driver.read(), next), []);
  });
});

describe('preshared keys (bootstrap -psk)', () => {
  const me = node('me', '10.232.0.2');
  const alpha = node('alpha', '10.232.0.3');
  const bravo = node('bravo', '10.232.0.4');
  const psk = (n: MeshNode) => Buffer.alloc(32, n.name.charCodeAt(0)).toString('base64');

  test("each peer carries its pair's key; a peer whose key is pending is left out", () => {
    const config = wgConfigFromNetmap(netmapFromNodes('me', 1, [me, alpha, bravo]), {
      presharedKeyFor: (n) => (n === alpha ? psk(n) : undefined),
      presharedKeyPending: (n) => n === bravo,
    });
    assert.deepEqual(config.peers, [{ publicKey: alpha.publicKey, allowedIps: ['10.232.0.3/32'], presharedKey: psk(alpha) }]);
  });

  test('the memory driver keeps the key; a set without one keeps it; a new key is a change', async () => {
    const driver = new MemoryWgDriver('wgpsk');
    await driver.up({ name: 'wgpsk', privateKey: generateKeyPair().privateKey, listenPort: 51820, address: '10.232.0.2/16' });
    const withKey: DesiredWgConfig = wgConfigFromNetmap(netmapFromNodes('me', 1, [me, alpha]), { presharedKeyFor: psk });
    await driver.apply(diffWgConfig(await driver.read(), withKey));
    assert.equal((await driver.read()).peers[0]?.presharedKey, psk(alpha));
    assert.deepEqual(diffWgConfig(await driver.read(), withKey), [], 'in place: nothing to do');

    await driver.apply([{ op: 'set-peer', peer: { publicKey: alpha.publicKey, allowedIps: ['10.232.0.3/32'] } }]);
    assert.equal((await driver.read()).peers[0]?.presharedKey, psk(alpha), 'as `wg set` without preshared-key');
    assert.deepEqual(diffWgConfig(await driver.read(), wgConfigFromNetmap(netmapFromNodes('me', 1, [me, alpha]))), [], 'no key wanted: the one there stays');

    const rotated = Buffer.alloc(32, 99).toString('base64');
    const ops = diffWgConfig(await driver.read(), wgConfigFromNetmap(netmapFromNodes('me', 1, [me, alpha]), { presharedKeyFor: () => rotated }));
    assert.equal(ops.length, 1);
    await driver.apply(ops);
    assert.equal((await driver.read()).peers[0]?.presharedKey, rotated);
  });
});
