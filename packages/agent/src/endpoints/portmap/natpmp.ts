/**
 * NAT-PMP (RFC 6886): a pure codec and a client of one gateway. Two exchanges map a port: the
 * external address (opcode 0) and the UDP mapping (opcode 1); a mapping request with lifetime 0
 * deletes it. Every answer is checked strictly: exact size, version 0, the answering opcode
 * (request + 128), our internal port; a failing result code ends the attempt.
 */
import { isIPv4 } from 'node:net';
import { PortMapAnswerInvalid, PortMappingFailed } from '../../errors.js';
import { checkMapLifetime, udpExchange } from './udp.js';
import type { Mapping, PortMapContext, PortMapProtocol } from './types.js';

/** The gateway's port for NAT-PMP and PCP alike. */
export const NATPMP_PORT = 5351;

const RESULT_NAMES: Record<number, string> = {
  1: 'unsupported version',
  2: 'not authorized or refused',
  3: 'network failure',
  4: 'out of resources',
  5: 'unsupported opcode',
};

export function encodeExternalAddressRequest(): Buffer {
  return Buffer.from([0, 0]);
}

/** Opcode 1 (UDP). Deleting: lifetime 0 and suggested external port 0 (RFC 6886 §3.4). */
export function encodeMapRequest(internalPort: number, suggestedExternalPort: number, lifetimeSec: number): Buffer {
  const b = Buffer.alloc(12);
  b[0] = 0;
  b[1] = 1;
  b.writeUInt16BE(internalPort, 4);
  b.writeUInt16BE(suggestedExternalPort, 6);
  b.writeUInt32BE(lifetimeSec, 8);
  return b;
}

function checkHeader(packet: Buffer, size: number, opcode: number): void {
  if (packet.length !== size) throw new PortMapAnswerInvalid(`${packet.length} bytes, a NAT-PMP answer to opcode ${opcode - 128} has ${size}`);
  if (packet[0] !== 0) throw new PortMapAnswerInvalid(`version ${packet[0]}, NAT-PMP is 0`);
  if (packet[1] !== opcode) throw new PortMapAnswerInvalid(`opcode ${packet[1]}, expected ${opcode}`);
  const result = packet.readUInt16BE(2);
  if (result !== 0) throw new PortMappingFailed('NAT-PMP', `the router answered result ${result} (${RESULT_NAMES[result] ?? 'unknown'})`);
}

export function decodeExternalAddress(packet: Buffer): { epoch: number; ip: string } {
  checkHeader(packet, 12, 128);
  return { epoch: packet.readUInt32BE(4), ip: `${packet[8]}.${packet[9]}.${packet[10]}.${packet[11]}` };
}

export interface NatPmpMapAnswer {
  epoch: number;
  internalPort: number;
  externalPort: number;
  lifetimeSec: number;
}

/** A UDP mapping answer for `internalPort`; `deleting` when the request had lifetime 0. */
export function decodeMapAnswer(packet: Buffer, internalPort: number, deleting: boolean): NatPmpMapAnswer {
  checkHeader(packet, 16, 129);
  const answer = { epoch: packet.readUInt32BE(4), internalPort: packet.readUInt16BE(8), externalPort: packet.readUInt16BE(10), lifetimeSec: packet.readUInt32BE(12) };
  if (answer.internalPort !== internalPort) throw new PortMapAnswerInvalid(`internal port ${answer.internalPort}, the request was for ${internalPort}`);
  checkMapLifetime(answer, deleting);
  return answer;
}

export interface NatPmpInit extends PortMapContext {
  /** Default NATPMP_PORT. */
  readonly serverPort?: number;
  readonly retransmitMs: readonly number[];
}

export class NatPmpClient implements PortMapProtocol {
  readonly name = 'NAT-PMP' as const;
  private externalPort: number | undefined;

  constructor(private readonly init: NatPmpInit) {}

  async map(signal: AbortSignal): Promise<Mapping> {
    const exchange = this.exchangeInit(signal);
    const external = await udpExchange(exchange, encodeExternalAddressRequest(), decodeExternalAddress);
    if (!isIPv4(external.ip)) throw new PortMappingFailed(this.name, `external address ${external.ip} is not IPv4`);
    const { internalPort, lifetimeSec } = this.init;
    const answer = await udpExchange(exchange, encodeMapRequest(internalPort, this.externalPort ?? this.init.suggestedExternalPort, lifetimeSec), (p) => decodeMapAnswer(p, internalPort, false));
    this.externalPort = answer.externalPort;
    return { externalIp: external.ip, externalPort: answer.externalPort, lifetimeSec: answer.lifetimeSec };
  }

  async unmap(signal: AbortSignal): Promise<void> {
    const { internalPort } = this.init;
    await udpExchange(this.exchangeInit(signal), encodeMapRequest(internalPort, 0, 0), (p) => decodeMapAnswer(p, internalPort, true));
    this.externalPort = undefined;
  }

  private exchangeInit(signal: AbortSignal) {
    return { protocol: this.name, gateway: this.init.gateway, port: this.init.serverPort ?? NATPMP_PORT, retransmitMs: this.init.retransmitMs, logger: this.init.logger, signal };
  }
}
