import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyDelta, netmapFromNodes, type Netmap } from '../../src/netmap/netmap.js';
import { addressOfReverseName, defaultDnsDomain, MeshZone, normalizeDnsDomain, reverseNameOf, serviceFromTag } from '../../src/dns/zone.js';
import type { Question } from 'dns-packet';
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

test('property: an index that follows 300 seeded random batches answers every name, address and service as one built afresh, and is built once', () => {
  let seed = 19;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const tagSets: Record<string, string>[] = [{}, { 'svc:web': 'port=80' }, { 'svc:web': 'port=81' }, { 'svc:dns': 'port=53,proto=udp' }, { 'svc:web': 'port=80', 'svc:ssh': 'port=22' }];
  const tagsFor = () => tagSets[rand(tagSets.length)]!;
  const names = Array.from({ length: 40 }, (_, i) => `n${i}`);
  let netmap = netmapFromNodes('n0', 1, names.slice(0, 20).map((name, i) => meshNode(name, `198.18.0.${i + 1}`, { tags: tagsFor() })));
  const followed = new MeshZone({ netmap: () => netmap, meshCidr: () => '198.18.0.0/16' }, ZONE);
  const questions = [
    ...names.flatMap((n) => [{ name: `${n}.${ZONE}`, type: 'A' }]),
    ...Array.from({ length: 60 }, (_, i) => ({ name: reverseNameOf(`198.18.0.${i + 1}`), type: 'PTR' })),
    ...['_web._tcp', '_dns._udp', '_ssh._tcp', '_tcp', '_udp'].map((s) => ({ name: `${s}.${ZONE}`, type: 'SRV' })),
  ].map((q) => ({ ...q, class: 'IN' }) as Question);
  const answers = (zone: MeshZone) => questions.map((q) => zone.answer(q));
  answers(followed);
  let revision = 1;
  for (let round = 0; round < 300; round++) {
    const before = netmap;
    const changed = new Set<string>();
    for (let k = 1 + rand(3); k > 0; k--) {
      const name = names[rand(names.length)]!;
      changed.add(name);
      const kind = rand(4);
      const current = netmap.nodes.get(name);
      if (kind === 0 && current && name !== 'n0') netmap = applyDelta(netmap, { kind: 'remove', revision: ++revision, name });
      else {
        const status = rand(5) === 0 ? 'NODE_STATUS_FAILED' : 'NODE_STATUS_ALIVE';
        // Addresses stay unique, as the bootstrap's table keeps them: a free one for a move or a join.
        const used = new Set([...netmap.nodes.values()].map((n) => n.meshIp));
        const free = Array.from({ length: 60 }, (_, i) => `198.18.0.${i + 1}`).filter((ip) => !used.has(ip));
        const ip = kind === 1 || !current ? free[rand(free.length)]! : current.meshIp;
        netmap = applyDelta(netmap, { kind: 'upsert', revision: ++revision, node: meshNode(name, ip, { tags: tagsFor(), status }) });
      }
    }
    followed.follow(before, netmap, changed);
    assert.deepEqual(answers(followed), answers(zoneOf(netmap)), `round ${round}`);
  }
  assert.equal(followed.builds, 1, 'built once, then followed');
});

test('an index is not patched from a netmap it was not built from: it is rebuilt at the next query', () => {
  let netmap = netmapFromNodes('h1', 1, [meshNode('h1', '198.18.0.1'), meshNode('h2', '198.18.0.2')]);
  const zone = new MeshZone({ netmap: () => netmap, meshCidr: () => '198.18.0.0/16' }, ZONE);
  zone.answer({ name: `h2.${ZONE}`, type: 'A', class: 'IN' });
  const unseen = applyDelta(netmap, { kind: 'remove', revision: 2, name: 'h2' });
  netmap = applyDelta(unseen, { kind: 'upsert', revision: 3, node: meshNode('h3', '198.18.0.3') });
  zone.follow(unseen, netmap, ['h3']);
  assert.equal(zone.answer({ name: `h2.${ZONE}`, type: 'A', class: 'IN' }).rcode, 'NXDOMAIN');
  assert.equal(zone.answer({ name: `h3.${ZONE}`, type: 'A', class: 'IN' }).answers.length, 1);
  assert.equal(zone.builds, 2);
});
