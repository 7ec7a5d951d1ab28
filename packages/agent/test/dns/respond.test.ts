import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dnsPacket from 'dns-packet';
import { netmapFromNodes } from '../../src/netmap/netmap.js';
import { respond } from '../../src/dns/respond.js';
import { MeshZone } from '../../src/dns/zone.js';
import { meshNode } from '../fixtures.js';

/** The response code dns-packet decodes (its types leave it out). */
const rcodeOf = (packet: dnsPacket.Packet): string | undefined => (packet as { rcode?: string }).rcode;

const many = Array.from({ length: 60 }, (_, i) => meshNode(`n${i}`, `198.18.1.${i + 1}`, { tags: { 'svc:web': 'port=80' } }));
const zone = new MeshZone({ netmap: () => netmapFromNodes('n0', 3, many), meshCidr: () => '198.18.0.0/16' }, 'lab.internal');

function query(name: string, type: dnsPacket.RecordType, extra: Partial<dnsPacket.Packet> = {}): Buffer {
  return dnsPacket.encode({ type: 'query', id: 4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' }], ...extra });
}

test('an answer carries the id, the question, AA and the records', () => {
  const { response, outcome } = respond(query('n5.lab.internal', 'A'), zone, 'udp');
  assert.equal(outcome, 'answered');
  const packet = dnsPacket.decode(response!);
  assert.equal(packet.id, 4242);
  assert.equal(packet.type, 'response');
  assert.equal(packet.flag_aa, true);
  assert.equal(packet.flag_rd, true, 'RD is echoed');
  assert.equal(packet.flag_ra, false, 'no recursion offered');
  assert.equal(rcodeOf(packet), 'NOERROR');
  assert.deepEqual(packet.answers!.map((a) => ('data' in a ? a.data : undefined)), ['198.18.1.6']);
});

test('a refused name is answered with no more bytes than the query, also when the query carries EDNS', () => {
  for (const q of [
    query('example.com', 'TXT'),
    query('a.very.long.name.outside.the.zone.example.org', 'TXT'),
    query('example.com', 'A', { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as unknown as dnsPacket.Answer] }),
  ]) {
    const { response, outcome } = respond(q, zone, 'udp');
    assert.equal(outcome, 'refused');
    assert.ok(response!.length <= q.length, `${response!.length} bytes answered to a ${q.length}-byte query`);
    assert.equal(rcodeOf(dnsPacket.decode(response!)), 'REFUSED');
  }
});

test('a question that uses a compression pointer (longer when re-encoded) still gets no more than it sent', () => {
  // Two questions, the second a pointer to the first: re-encoding would spell it out.
  const q = Buffer.from([0x12, 0x34, 0x01, 0x00, 0x00, 0x02, 0, 0, 0, 0, 0, 0,
    7, ...Buffer.from('example'), 3, ...Buffer.from('com'), 0, 0, 1, 0, 1,
    0xc0, 12, 0, 1, 0, 1]);
  const { response } = respond(q, zone, 'udp');
  assert.ok(response!.length <= q.length);
});

test('malformed messages: FORMERR as a bare 12-byte header, or nothing; never a throw', () => {
  const valid = query('n1.lab.internal', 'A');
  const cases: [string, Buffer][] = [
    ['truncated in the question', valid.subarray(0, valid.length - 3)],
    ['a pointer loop', Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1])],
    ['a pointer past the end', Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0, 1, 0, 1])],
    ['a label longer than the message', Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 60, 97, 98])],
    ['counts far beyond the content', Buffer.from([0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])],
    ['oversized garbage', Buffer.alloc(65_000, 0x41)],
  ];
  for (const [what, message] of cases) {
    const { response, outcome } = respond(message, zone, 'udp');
    if (response) {
      assert.ok(response.length <= Math.max(12, message.length), what);
      assert.ok(['formerr', 'refused'].includes(outcome), `${what}: ${outcome}`);
    }
  }
  assert.equal(respond(Buffer.from([1, 2, 3]), zone, 'udp').response, undefined, 'shorter than a header: nothing');
  const asResponse = Buffer.from(valid);
  asResponse[2]! |= 0x80;
  assert.equal(respond(asResponse, zone, 'udp').response, undefined, 'a response is never answered (no reflection loops)');
});

test('two questions, or another opcode, are not answered with records', () => {
  const two = dnsPacket.encode({ type: 'query', id: 1, questions: [{ name: 'n1.lab.internal', type: 'A' }, { name: 'n2.lab.internal', type: 'A' }] });
  assert.equal(respond(two, zone, 'udp').outcome, 'formerr');
  const notify = Buffer.from(query('n1.lab.internal', 'A'));
  notify.writeUInt16BE(notify.readUInt16BE(2) | (4 << 11), 2);
  assert.equal(respond(notify, zone, 'udp').outcome, 'notimp');
});

test('over UDP an answer fits 512 bytes (or the EDNS size), else TC; over TCP it is whole', () => {
  const udp = dnsPacket.decode(respond(query('_web._tcp.lab.internal', 'SRV'), zone, 'udp').response!);
  assert.equal(udp.flag_tc, true, '60 SRV records do not fit 512 bytes');
  const tcp = dnsPacket.decode(respond(query('_web._tcp.lab.internal', 'SRV'), zone, 'tcp').response!);
  assert.equal(tcp.flag_tc, false);
  assert.equal(tcp.answers!.length, 60);
  const edns = respond(query('_web._tcp.lab.internal', 'SRV', { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as unknown as dnsPacket.Answer] }), zone, 'udp').response!;
  assert.ok(edns.length <= 1232, 'EDNS answers stay within 1232 bytes');
});
