/**
 * PCP (RFC 6887), the MAP opcode for one UDP port over IPv4: a pure codec and a client of one
 * gateway. The nonce is kept for renewals and the delete (lifetime 0), as §11.2 requires. Answers
 * are checked strictly: size (60 to 1100 bytes, a multiple of 4), version 2, the response bit and
 * opcode, our nonce, protocol and internal port, an IPv4-mapped external address; a failing result
 * code ends the attempt. A NAT-PMP-only router answers version 0 "unsupported version" at once.
 */
import { randomBytes } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { PortMapAnswerInvalid, PortMappingFailed } from '../../errors.js';
import { checkMapLifetime, udpExchange, UDP_ANSWER_MAX } from './udp.js';
import { NATPMP_PORT } from './natpmp.js';
import type { Mapping, PortMapContext, PortMapProtocol } from './types.js';

const VERSION = 2;
const OPCODE_MAP = 1;
const UDP = 17;
const MAP_SIZE = 60;

const RESULT_NAMES: Record<number, string> = {
  1: 'UNSUPP_VERSION', 2: 'NOT_AUTHORIZED', 3: 'MALFORMED_REQUEST', 4: 'UNSUPP_OPCODE', 5: 'UNSUPP_OPTION', 6: 'MALFORMED_OPTION',
  7: 'NETWORK_FAILURE', 8: 'NO_RESOURCES', 9: 'UNSUPP_PROTOCOL', 10: 'USER_EX_QUOTA', 11: 'CANNOT_PROVIDE_EXTERNAL', 12: 'ADDRESS_MISMATCH',
  13: 'EXCESSIVE_REMOTE_PEERS',
};

function writeMappedV4(b: Buffer, offset: number, ip: string): void {
  b.fill(0, offset, offset + 10);
  b[offset + 10] = 0xff;
  b[offset + 11] = 0xff;
  ip.split('.').forEach((o, i) => (b[offset + 12 + i] = Number(o)));
}

export interface PcpMapRequest {
  nonce: Buffer;
  clientIp: string;
  internalPort: number;
  suggestedExternalPort: number;
  suggestedExternalIp: string;
  lifetimeSec: number;
}

export function encodeMapRequest(r: PcpMapRequest): Buffer {
  const b = Buffer.alloc(MAP_SIZE);
  b[0] = VERSION;
  b[1] = OPCODE_MAP;
  b.writeUInt32BE(r.lifetimeSec, 4);
  writeMappedV4(b, 8, r.clientIp);
  r.nonce.copy(b, 24, 0, 12);
  b[36] = UDP;
  b.writeUInt16BE(r.internalPort, 40);
  b.writeUInt16BE(r.suggestedExternalPort, 42);
  writeMappedV4(b, 44, r.suggestedExternalIp);
  return b;
}

export interface PcpMapAnswer {
  lifetimeSec: number;
  epoch: number;
  externalPort: number;
  externalIp: string;
}

/** The answer to `request`; `deleting` when it asked for lifetime 0. */
export function decodeMapAnswer(packet: Buffer, request: PcpMapRequest, deleting: boolean): PcpMapAnswer {
  if (packet.length >= 4 && packet[0] === 0) {
    // A NAT-PMP server's answer to a version it does not know (RFC 6887 §9).
    if (packet.readUInt16BE(2) === 1) throw new PortMappingFailed('PCP', 'the router speaks NAT-PMP only (it answered version 0, unsupported version)');
    throw new PortMapAnswerInvalid('version 0 (NAT-PMP) answer that is not "unsupported version"');
  }
  if (packet.length < MAP_SIZE || packet.length > UDP_ANSWER_MAX || packet.length % 4 !== 0) {
    throw new PortMapAnswerInvalid(`${packet.length} bytes, a PCP MAP answer has 60 to 1100, a multiple of 4`);
  }
  if (packet[0] !== VERSION) throw new PortMapAnswerInvalid(`version ${packet[0]}, PCP is 2`);
  if (packet[1] !== (0x80 | OPCODE_MAP)) throw new PortMapAnswerInvalid(`opcode byte 0x${packet[1]!.toString(16)}, expected 0x81 (MAP response)`);
  if (!packet.subarray(24, 36).equals(request.nonce)) throw new PortMapAnswerInvalid('another request\'s nonce');
  const result = packet[3]!;
  if (result !== 0) throw new PortMappingFailed('PCP', `the router answered result ${result} (${RESULT_NAMES[result] ?? 'unknown'})`);
  if (packet[36] !== UDP) throw new PortMapAnswerInvalid(`protocol ${packet[36]}, the request was for UDP (17)`);
  const internalPort = packet.readUInt16BE(40);
  if (internalPort !== request.internalPort) throw new PortMapAnswerInvalid(`internal port ${internalPort}, the request was for ${request.internalPort}`);
  const ext = packet.subarray(44, 60);
  if (!ext.subarray(0, 10).equals(Buffer.alloc(10)) || ext[10] !== 0xff || ext[11] !== 0xff) throw new PortMapAnswerInvalid('external address is not an IPv4-mapped address');
  const answer = { lifetimeSec: packet.readUInt32BE(4), epoch: packet.readUInt32BE(8), externalPort: packet.readUInt16BE(42), externalIp: [...ext.subarray(12)].join('.') };
  checkMapLifetime(answer, deleting);
  return answer;
}

export interface PcpInit extends PortMapContext {
  /** Default 5351. */
  readonly serverPort?: number;
  readonly retransmitMs: readonly number[];
}

export class PcpClient implements PortMapProtocol {
  readonly name = 'PCP' as const;
  private readonly nonce = randomBytes(12);
  private last: Mapping | undefined;

  constructor(private readonly init: PcpInit) {
    if (!isIPv4(init.localIp)) throw new PortMappingFailed(this.name, `client address ${init.localIp} is not IPv4`);
  }

  async map(signal: AbortSignal): Promise<Mapping> {
    const request = this.request(this.init.lifetimeSec);
    const answer = await udpExchange(this.exchangeInit(signal), encodeMapRequest(request), (p) => decodeMapAnswer(p, request, false));
    this.last = { externalIp: answer.externalIp, externalPort: answer.externalPort, lifetimeSec: answer.lifetimeSec };
    return this.last;
  }

  async unmap(signal: AbortSignal): Promise<void> {
    const request = this.request(0);
    await udpExchange(this.exchangeInit(signal), encodeMapRequest(request), (p) => decodeMapAnswer(p, request, true));
    this.last = undefined;
  }

  /** A renewal (and the delete) suggests what was granted before. */
  private request(lifetimeSec: number): PcpMapRequest {
    return {
      nonce: this.nonce,
      clientIp: this.init.localIp,
      internalPort: this.init.internalPort,
      suggestedExternalPort: this.last?.externalPort ?? this.init.suggestedExternalPort,
      suggestedExternalIp: this.last?.externalIp ?? '0.0.0.0',
      lifetimeSec,
    };
  }

  private exchangeInit(signal: AbortSignal) {
    return { protocol: this.name, gateway: this.init.gateway, port: this.init.serverPort ?? NATPMP_PORT, retransmitMs: this.init.retransmitMs, logger: this.init.logger, signal };
  }
}
