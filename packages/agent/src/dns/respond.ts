import * as dnsPacket from 'dns-packet';
import type { Answer, Packet } from 'dns-packet';
import type { MeshZone, Rcode } from './zone.js';

/**
 * One DNS message in, one (or none) out: the wire rules around MeshZone's answers. Never throws.
 * - A message that is not a query (QR set), or shorter than a header, gets nothing: no reflection.
 * - One that does not decode gets FORMERR as a bare header (12 bytes, never more than it sent).
 * - A refused name (outside the zone) gets at most as many bytes as the query: no amplification.
 * - Over UDP an answer is kept within 512 bytes, or the size the query's EDNS record offers (at
 *   most EDNS_MAX_PAYLOAD); what does not fit is cut, with TC set, so the client asks over TCP.
 */

const HEADER_BYTES = 12;
const UDP_DEFAULT_MAX = 512;
/** The size we offer and accept over UDP with EDNS: the DNS flag day 2020 value (no fragments). */
export const EDNS_MAX_PAYLOAD = 1232;

const FLAG_QR = 0x8000;
const FLAG_AA = 0x0400;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;
const OPCODE_MASK = 0x7800;
const RCODES: Readonly<Record<Rcode | 'FORMERR' | 'NOTIMP', number>> = { NOERROR: 0, FORMERR: 1, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };

export type Transport = 'udp' | 'tcp';

/** How the message was answered, for counters and logs. */
export type Outcome = 'answered' | 'nxdomain' | 'refused' | 'formerr' | 'notimp' | 'ignored';

export function respond(query: Buffer, zone: MeshZone, transport: Transport): { response: Buffer | undefined; outcome: Outcome } {
  if (query.length < HEADER_BYTES) return { response: undefined, outcome: 'ignored' };
  const flags = query.readUInt16BE(2);
  if (flags & FLAG_QR) return { response: undefined, outcome: 'ignored' };
  let packet: Packet;
  try {
    packet = dnsPacket.decode(query);
  } catch {
    return { response: bareHeader(query, RCODES.FORMERR), outcome: 'formerr' };
  }
  const questions = packet.questions ?? [];
  if ((flags & OPCODE_MASK) !== 0) return { response: withinQuerySize(query, packet, RCODES.NOTIMP), outcome: 'notimp' };
  if (questions.length !== 1) return { response: bareHeader(query, RCODES.FORMERR), outcome: 'formerr' };

  const answer = zone.answer(questions[0]!);
  if (answer.rcode === 'REFUSED') return { response: withinQuerySize(query, packet, RCODES.REFUSED), outcome: 'refused' };

  const opt = (packet.additionals ?? []).find((r) => r.type === 'OPT') as { udpPayloadSize?: number } | undefined;
  const limit = transport === 'tcp' ? 65_535 : opt ? Math.min(Math.max(opt.udpPayloadSize ?? UDP_DEFAULT_MAX, UDP_DEFAULT_MAX), EDNS_MAX_PAYLOAD) : UDP_DEFAULT_MAX;
  const base = (flags & FLAG_RD) | FLAG_QR | (answer.authoritative ? FLAG_AA : 0) | RCODES[answer.rcode];
  const ednsRecord: Answer[] = opt ? [{ type: 'OPT', name: '.', udpPayloadSize: EDNS_MAX_PAYLOAD, flags: 0, options: [] } as unknown as Answer] : [];
  const encode = (answers: Answer[], authorities: Answer[], additionals: Answer[], truncated: boolean) =>
    dnsPacket.encode({
      type: 'response', id: packet.id ?? 0, flags: base | (truncated ? FLAG_TC : 0),
      questions, answers, authorities, additionals: [...additionals, ...ednsRecord],
    });
  // Full answer; then without the helpful extras; then truncated (TC: ask again over TCP).
  let response = encode(answer.answers, answer.authorities, answer.additionals, false);
  if (response.length > limit) response = encode(answer.answers, answer.authorities, [], false);
  if (response.length > limit) response = encode([], [], [], true);
  return { response, outcome: answer.rcode === 'NXDOMAIN' ? 'nxdomain' : 'answered' };
}

/** The query's header turned into an answer with this rcode, no sections: 12 bytes. */
function bareHeader(query: Buffer, rcode: number): Buffer {
  const out = Buffer.alloc(HEADER_BYTES);
  query.copy(out, 0, 0, 4);
  out.writeUInt16BE((out.readUInt16BE(2) & (FLAG_RD | OPCODE_MASK)) | FLAG_QR | rcode, 2);
  return out;
}

/** The question echoed with this rcode, unless that would be longer than the query itself. */
function withinQuerySize(query: Buffer, packet: Packet, rcode: number): Buffer {
  const flags = (query.readUInt16BE(2) & (FLAG_RD | OPCODE_MASK)) | FLAG_QR | rcode;
  try {
    const echoed = dnsPacket.encode({ type: 'response', id: packet.id ?? 0, flags, questions: packet.questions ?? [] });
    if (echoed.length <= query.length) return echoed;
  } catch {
    // a question that decodes but does not encode again: the bare header says the same
  }
  return bareHeader(query, rcode);
}
