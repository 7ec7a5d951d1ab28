import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { MeshNode, WgPeerState } from '../../src/index.js';
import ipaddr from 'ipaddr.js';
import { CANDIDATE_TRIAL_MS, EndpointSelector, ipv4Number, LocalSubnets, rankCandidates, type LocalNetwork } from '../../src/endpoints/selector.js';
import { seededRandom } from '../fixtures.js';
import { diffWgConfig } from '../../src/wg/config.js';

const LAN: LocalNetwork[] = [{ address: '198.51.100.10', prefixLength: 24 }];

function node(endpoints: MeshNode['endpoints']): MeshNode {
  return { name: 'b', publicKey: 'B'.repeat(43) + '=', meshIp: '198.18.0.2', endpoints, tags: {}, status: 'NODE_STATUS_ALIVE', joinedAtMs: 0, lastSeenMs: 0, statusChangedMs: 0, isBootstrap: false, listenPort: 54540, relay: false };
}

const B = node([
  { ip: '198.51.100.66', port: 54540, kind: 'ENDPOINT_KIND_LAN' },   // same LAN as us
  { ip: '10.9.9.9', port: 54540, kind: 'ENDPOINT_KIND_LAN' },        // another LAN
  { ip: '203.0.113.7', port: 61000, kind: 'ENDPOINT_KIND_STUN' },
  { ip: '203.0.113.7', port: 40000, kind: 'ENDPOINT_KIND_OBSERVED' },
]);

function peer(latestHandshakeMs: number): WgPeerState {
  return { publicKey: B.publicKey, allowedIps: ['198.18.0.2/32'], latestHandshakeMs, rxBytes: 0, txBytes: 0 };
}

describe('endpoint candidates', () => {
  test('ranked: same LAN, then observed, then STUN, then other LANs', () => {
    assert.deepEqual(rankCandidates(B, LAN), ['198.51.100.66:54540', '203.0.113.7:40000', '203.0.113.7:61000', '10.9.9.9:54540']);
  });

  test('LocalSubnets: an address is on our LAN when a subnet of its own family holds it; bad entries never match', () => {
    const subnets = new LocalSubnets([
      { address: '198.51.100.10', prefixLength: 24 },
      { address: '2001:db8:1::5', prefixLength: 64 },
      { address: 'fe80::1%eth0', prefixLength: 64 },
      { address: 'not-an-address', prefixLength: 8 },
    ]);
    assert.equal(subnets.contains('198.51.100.200'), true);
    assert.equal(subnets.contains('198.51.101.1'), false);
    assert.equal(subnets.contains('2001:db8:1::99'), true);
    assert.equal(subnets.contains('2001:db8:2::1'), false);
    assert.equal(subnets.contains('::ffff:198.51.100.7'), true, 'an IPv4-mapped address counts as IPv4');
    assert.equal(subnets.contains('bogus'), false);
    assert.equal(new LocalSubnets([]).contains('198.51.100.1'), false);
    assert.deepEqual(rankCandidates(B, new LocalSubnets(LAN)), rankCandidates(B, LAN), 'the same ranking from a parsed set as from the list');
  });

  test('a configured endpoint beats everything; duplicates collapse', () => {
    const n = node([{ ip: '203.0.113.7', port: 40000, kind: 'ENDPOINT_KIND_OBSERVED' }, { ip: '203.0.113.7', port: 40000, kind: 'ENDPOINT_KIND_STUN' }, { ip: '192.0.2.9', port: 1, kind: 'ENDPOINT_KIND_CONFIGURED' }]);
    assert.deepEqual(rankCandidates(n, []), ['192.0.2.9:1', '203.0.113.7:40000']);
  });

  test('no handshake within a trial: the next candidate; a live one is kept; all tried: round again', () => {
    let now = 1_000_000;
    const s = new EndpointSelector(() => LAN, () => now);
    assert.equal(s.endpointFor(B), '198.51.100.66:54540');
    assert.deepEqual(s.review([peer(0)]), [], 'still within the trial');
    now += CANDIDATE_TRIAL_MS;
    assert.deepEqual(s.review([peer(0)]), [B.publicKey]);
    assert.equal(s.endpointFor(B), '203.0.113.7:40000');
    // A handshake arrives: kept however long it lives.
    now += 1000;
    assert.deepEqual(s.review([peer(now - 10)]), []);
    now += 100_000;
    assert.deepEqual(s.review([peer(now - 50_000)]), []);
    assert.equal(s.endpointFor(B), '203.0.113.7:40000');
    // It stops working: past the session lifetime and a trial, the search moves on and wraps around.
    now += 200_000;
    assert.deepEqual(s.review([peer(now - 200_000)]), [B.publicKey]);
    assert.equal(s.endpointFor(B), '203.0.113.7:61000');
    now += CANDIDATE_TRIAL_MS;
    s.review([peer(0)]);
    now += CANDIDATE_TRIAL_MS;
    s.review([peer(0)]);
    assert.equal(s.endpointFor(B), '198.51.100.66:54540', 'back to the first after the last');
  });

  test('a port mapping ranks before what the bootstrap observed, and is tried as soon as it appears', () => {
    let now = 1_000_000;
    const s = new EndpointSelector(() => [], () => now);
    const before = node([{ ip: '203.0.113.7', port: 61000, kind: 'ENDPOINT_KIND_STUN' }, { ip: '203.0.113.7', port: 40000, kind: 'ENDPOINT_KIND_OBSERVED' }]);
    assert.equal(s.endpointFor(before), '203.0.113.7:40000');
    now += 1000;
    const mapped = node([...before.endpoints, { ip: '203.0.113.7', port: 47000, kind: 'ENDPOINT_KIND_MAPPED' }]);
    assert.deepEqual(rankCandidates(mapped, []), ['203.0.113.7:47000', '203.0.113.7:40000', '203.0.113.7:61000']);
    assert.equal(s.endpointFor(mapped), '203.0.113.7:47000', 'not after the current trial: at once');
    // A change that brings nothing better keeps the candidate on trial.
    now += 1000;
    const moreStun = node([...mapped.endpoints, { ip: '203.0.113.8', port: 1, kind: 'ENDPOINT_KIND_STUN' }]);
    assert.equal(s.endpointFor(moreStun), '203.0.113.7:47000');
    s.review([{ ...peer(0), publicKey: moreStun.publicKey }]);
    now += CANDIDATE_TRIAL_MS;
    s.review([{ ...peer(0), publicKey: moreStun.publicKey }]);
    const withLan = node([...moreStun.endpoints.slice(0, 3)]);
    assert.equal(s.endpointFor(withLan), '203.0.113.7:40000', 'moved on after its trial; the next list (one fewer) keeps that one');
  });

  test('a single candidate never needs review', () => {
    const s = new EndpointSelector(() => [], () => 0);
    s.endpointFor(node([{ ip: '192.0.2.9', port: 54540, kind: 'ENDPOINT_KIND_LAN' }]));
    assert.equal(s.hasChoices(), false);
    s.endpointFor(B);
    assert.equal(s.hasChoices(), true);
  });

  test('hasChoices follows trials as they come, change and go, and costs the same with 20,000 peers (it was a pass over all of them, asked for every peer)', () => {
    const s = new EndpointSelector(() => [], () => 0);
    const key = (i: number) => { const k = Buffer.alloc(32); k.writeUInt32BE(i + 1); return k.toString('base64'); };
    const one = (i: number) => ({ ...node([{ ip: '192.0.2.9', port: 1000 + (i % 50_000), kind: 'ENDPOINT_KIND_LAN' }]), publicKey: key(i) });
    const two = (i: number) => ({ ...node([{ ip: '192.0.2.9', port: 1000, kind: 'ENDPOINT_KIND_LAN' }, { ip: '203.0.113.9', port: 2000, kind: 'ENDPOINT_KIND_STUN' }]), publicKey: key(i) });
    for (let i = 0; i < 20_000; i++) s.endpointFor(one(i));
    assert.equal(s.hasChoices(), false);
    s.endpointFor(two(7));
    assert.equal(s.hasChoices(), true, 'a peer with two candidates');
    s.endpointFor(one(7));
    assert.equal(s.hasChoices(), false, 'back to one');
    s.endpointFor(two(8));
    // A review drops trials of peers the device no longer has.
    s.review([{ ...peer(0), publicKey: key(9) }]);
    assert.equal(s.hasChoices(), false, 'the peer with two candidates is gone');
    for (let i = 0; i < 20_000; i++) s.endpointFor(one(i));
    // No peer with a choice (the common case: the answer a pass over all of them would take longest to give).
    const t0 = performance.now();
    for (let i = 0; i < 20_000; i++) assert.equal(s.hasChoices(), false);
    const ms = performance.now() - t0;
    // A pass over 20,000 trials per call: 4·10^8 steps, seconds; counted: well under a millisecond per thousand calls.
    assert.ok(ms < 250, `${ms.toFixed(1)} ms for 20,000 calls`);
  });

  test('reconcile leaves a live session on the endpoint WireGuard roamed to', () => {
    const now = 5_000_000;
    const roamed = { ...peer(now - 1000), endpoint: '203.0.113.99:1234' };
    const desired = { peers: [{ publicKey: B.publicKey, allowedIps: ['198.18.0.2/32'], endpoint: '198.51.100.66:54540' }] };
    assert.deepEqual(diffWgConfig({ peers: [roamed] }, desired, now), [], 'live: endpoint untouched');
    const stale = { ...peer(now - 400_000), endpoint: '203.0.113.99:1234' };
    assert.equal(diffWgConfig({ peers: [stale] }, desired, now).length, 1, 'dead session: our candidate is set');
  });
});

describe('LocalSubnets: IPv4 compared as numbers', () => {
  test('ipv4Number reads plain dotted quads and nothing else', () => {
    assert.equal(ipv4Number('0.0.0.0'), 0);
    assert.equal(ipv4Number('255.255.255.255'), 2 ** 32 - 1);
    assert.equal(ipv4Number('198.51.100.10'), ((198 * 256 + 51) * 256 + 100) * 256 + 10);
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '1.2.3.256', '01.2.3.4', '1.2.3.04', '1..3.4', '1.2.3.', '.1.2.3', 'a.b.c.d', '1.2.3.4 ', '::ffff:1.2.3.4', '1234.1.1.1', '0x1.2.3.4']) {
      assert.equal(ipv4Number(bad), undefined, bad);
    }
  });

  test('contains() says what ipaddr.js says, for seeded random addresses, subnets and prefix lengths (v4, v6, v4-mapped, not addresses)', () => {
    const random = seededRandom(19);
    const octet = () => Math.floor(random() * 256);
    const v4 = () => `${octet()}.${octet()}.${octet()}.${octet()}`;
    const nearby = (base: string) => base.split('.').map((o, i) => (i < 2 || random() < 0.6 ? o : String(octet()))).join('.');
    const reference = (nets: LocalNetwork[], ip: string) => {
      if (!ipaddr.isValid(ip)) return false;
      const addr = ipaddr.process(ip);
      return nets.filter((n) => ipaddr.isValid(n.address)).some((n) => {
        const net = ipaddr.process(n.address);
        return net.kind() === addr.kind() && addr.match(net, n.prefixLength);
      });
    };
    let inside = 0;
    let outside = 0;
    for (let round = 0; round < 300; round++) {
      const base = v4();
      const nets: LocalNetwork[] = [
        { address: base, prefixLength: Math.floor(random() * 33) },
        { address: `::ffff:${v4()}`, prefixLength: 96 + Math.floor(random() * 33) },
        { address: `2001:db8:${Math.floor(random() * 65536).toString(16)}::1`, prefixLength: 48 + Math.floor(random() * 17) },
      ];
      const subnets = new LocalSubnets(nets);
      for (const ip of [nearby(base), nearby(base), v4(), `::ffff:${nearby(base)}`, '2001:db8::5', `2001:db8:${Math.floor(random() * 65536).toString(16)}::9`, 'not-an-ip', '010.1.1.1']) {
        const expected = reference(nets, ip);
        assert.equal(subnets.contains(ip), expected, `${ip} in ${JSON.stringify(nets)}`);
        if (expected) inside++;
        else outside++;
      }
    }
    // Both answers were exercised, many times.
    assert.ok(inside > 200 && outside > 200, `inside ${inside}, outside ${outside}`);
  });
});
