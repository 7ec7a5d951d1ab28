import { test } from 'node:test';
import assert from 'node:assert/strict';
import { netmapFromNodes, type Netmap } from '../../src/netmap/netmap.js';
import { addressOfReverseName, defaultDnsDomain, MeshZone, normalizeDnsDomain, reverseNameOf, serviceFromTag } from '../../src/dns/zone.js';
import { meshNode } from '../fixtures.js';

const ZONE = 'lab.internal';

function zoneOf(netmap: Netmap, cidr = '198.18.0.0/16'): MeshZone {
  return new MeshZone({ netmap: () => netmap, meshCidr: () => cidr }, ZONE);
}

const mesh = netmapFromNodes('h1', 7, [
  meshNode('h1', '198.18.0.1', { isBootstrap: true }),
  meshNode('h2', '198.18.0.2', { tags: { 'svc:web': 'port=80', 'svc:dns': 'port=5353,proto=udp' } }),
  meshNode('h3', '198.18.0.3', { tags: { 'svc:web': 'port=8080,proto=tcp,env=prod' } }),
  meshNode('h4', '198.18.0.4', { status: 'NODE_STATUS_FAILED', tags: { 'svc:web': 'port=81' } }),
]);

test('NODE.ZONE answers the node\'s mesh IP, in any letter case', () => {
  const a = zoneOf(mesh).answer({ name: 'H2.Lab.Internal', type: 'A', class: 'IN' });
  assert.equal(a.rcode, 'NOERROR');
  assert.equal(a.authoritative, true);
  assert.deepEqual(a.answers.map((r) => [r.type, r.name, 'data' in r ? r.data : undefined]), [['A', 'h2.lab.internal', '198.18.0.2']]);
});

test('a node without an address of the asked type is NODATA with the SOA; an unknown name is NXDOMAIN', () => {
  const nodata = zoneOf(mesh).answer({ name: 'h2.lab.internal', type: 'AAAA', class: 'IN' });
  assert.equal(nodata.rcode, 'NOERROR');
  assert.equal(nodata.answers.length, 0);
  assert.deepEqual(nodata.authorities.map((r) => r.type), ['SOA']);
  const missing = zoneOf(mesh).answer({ name: 'h9.lab.internal', type: 'A', class: 'IN' });
  assert.equal(missing.rcode, 'NXDOMAIN');
  assert.deepEqual(missing.authorities.map((r) => r.type), ['SOA']);
});

test('an IPv6 mesh answers AAAA', () => {
  const v6 = netmapFromNodes('a', 1, [meshNode('a', 'fd00:18::5')]);
  const a = zoneOf(v6, 'fd00:18::/64').answer({ name: 'a.lab.internal', type: 'AAAA', class: 'IN' });
  assert.deepEqual(a.answers.map((r) => ('data' in r ? r.data : undefined)), ['fd00:18::5']);
  const ptr = zoneOf(v6, 'fd00:18::/64').answer({ name: reverseNameOf('fd00:18::5'), type: 'PTR', class: 'IN' });
  assert.deepEqual(ptr.answers.map((r) => ('data' in r ? r.data : undefined)), ['a.lab.internal']);
});

test('names outside the zone, other classes and reverse names outside the mesh are refused', () => {
  for (const q of [
    { name: 'example.com', type: 'A' as const, class: 'IN' as const },
    { name: 'internal', type: 'A' as const, class: 'IN' as const },
    { name: 'xlab.internal', type: 'A' as const, class: 'IN' as const },
    { name: 'h2.lab.internal', type: 'TXT' as const, class: 'CH' as const },
    { name: '1.0.0.10.in-addr.arpa', type: 'PTR' as const, class: 'IN' as const },
  ]) {
    const a = zoneOf(mesh).answer(q);
    assert.equal(a.rcode, 'REFUSED', q.name);
    assert.equal(a.answers.length, 0);
  }
});

test('PTR for a member\'s address; NXDOMAIN for a free mesh address', () => {
  const ptr = zoneOf(mesh).answer({ name: '3.0.18.198.in-addr.arpa', type: 'PTR', class: 'IN' });
  assert.deepEqual(ptr.answers.map((r) => ('data' in r ? r.data : undefined)), ['h3.lab.internal']);
  assert.equal(zoneOf(mesh).answer({ name: '99.0.18.198.in-addr.arpa', type: 'PTR', class: 'IN' }).rcode, 'NXDOMAIN');
});

test('SRV lists the nodes that offer a service over that protocol, with their ports; failed nodes are left out', () => {
  const web = zoneOf(mesh).answer({ name: '_web._tcp.lab.internal', type: 'SRV', class: 'IN' });
  assert.deepEqual(web.answers.map((r) => ('data' in r ? r.data : undefined)), [
    { priority: 0, weight: 1, port: 80, target: 'h2.lab.internal' },
    { priority: 0, weight: 1, port: 8080, target: 'h3.lab.internal' },
  ]);
  assert.deepEqual(web.additionals.map((r) => [r.name, 'data' in r ? r.data : undefined]), [['h2.lab.internal', '198.18.0.2'], ['h3.lab.internal', '198.18.0.3']]);
  const udp = zoneOf(mesh).answer({ name: '_dns._udp.lab.internal', type: 'SRV', class: 'IN' });
  assert.deepEqual(udp.answers.map((r) => ('data' in r ? (r.data as { port: number }).port : undefined)), [5353]);
  assert.equal(zoneOf(mesh).answer({ name: '_dns._tcp.lab.internal', type: 'SRV', class: 'IN' }).rcode, 'NXDOMAIN');
});

test('the apex answers its SOA, serial = the membership revision', () => {
  const soa = zoneOf(mesh).answer({ name: 'lab.internal', type: 'SOA', class: 'IN' });
  assert.equal(soa.rcode, 'NOERROR');
  assert.equal((soa.answers[0] as { data: { serial: number } }).data.serial, 7);
});

test('answers follow the netmap as it changes', () => {
  let current = mesh;
  const zone = new MeshZone({ netmap: () => current, meshCidr: () => '198.18.0.0/16' }, ZONE);
  assert.equal(zone.answer({ name: 'h5.lab.internal', type: 'A', class: 'IN' }).rcode, 'NXDOMAIN');
  current = netmapFromNodes('h1', 8, [...mesh.nodes.values(), meshNode('h5', '198.18.0.5')]);
  assert.equal(zone.answer({ name: 'h5.lab.internal', type: 'A', class: 'IN' }).rcode, 'NOERROR');
});

test('svc: tags: port required (1-65535), proto tcp or udp, other pairs ignored', () => {
  assert.deepEqual(serviceFromTag('svc:web', 'port=80,proto=tcp,env=prod'), { name: 'web', port: 80, proto: 'tcp' });
  assert.deepEqual(serviceFromTag('svc:DNS', 'proto=udp,port=53'), { name: 'dns', port: 53, proto: 'udp' });
  assert.equal(serviceFromTag('svc:web', 'proto=tcp'), undefined);
  assert.equal(serviceFromTag('svc:web', 'port=70000'), undefined);
  assert.equal(serviceFromTag('svc:web', 'port=80,proto=sctp'), undefined);
  assert.equal(serviceFromTag('role', 'port=80'), undefined);
});

test('reverse names both ways; the default zone and a given one', () => {
  assert.equal(reverseNameOf('198.18.0.5'), '5.0.18.198.in-addr.arpa');
  assert.equal(addressOfReverseName('5.0.18.198.in-addr.arpa'), '198.18.0.5');
  assert.equal(addressOfReverseName('5.0.18.in-addr.arpa'), undefined);
  assert.equal(addressOfReverseName('256.0.18.198.in-addr.arpa'), undefined);
  assert.equal(addressOfReverseName(reverseNameOf('fd00::1')), 'fd00::1');
  assert.equal(defaultDnsDomain('Lab'), 'lab.internal');
  assert.equal(normalizeDnsDomain('Corp.Example.'), 'corp.example');
  assert.throws(() => normalizeDnsDomain('bad domain'), /not a DNS domain/);
  assert.throws(() => normalizeDnsDomain('a..b'), /not a DNS domain/);
});

test('_tcp.ZONE and _udp.ZONE, parents of service names, exist (NODATA), so resolvers do not cut the services off below an NXDOMAIN', () => {
  for (const name of ['_tcp.lab.internal', '_UDP.lab.internal']) {
    const answer = zoneOf(mesh).answer({ name, type: 'A', class: 'IN' });
    assert.equal(answer.rcode, 'NOERROR', `${name}: an empty non-terminal is not NXDOMAIN (RFC 8020)`);
    assert.equal(answer.answers.length, 0);
    assert.deepEqual(answer.authorities.map((r) => r.type), ['SOA']);
  }
  const webOnly = netmapFromNodes('h1', 2, [meshNode('h1', '198.18.0.1', { tags: { 'svc:web': 'port=80' } })]);
  assert.equal(zoneOf(webOnly).answer({ name: '_udp.lab.internal', type: 'SRV', class: 'IN' }).rcode, 'NXDOMAIN', 'no UDP service: nothing below _udp');
  assert.equal(zoneOf(mesh).answer({ name: '_sctp.lab.internal', type: 'A', class: 'IN' }).rcode, 'NXDOMAIN');
});
