import dgram from 'node:dgram';
import { PortMapAnswerInvalid, PortMappingFailed } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { PortMapProtocolName } from './types.js';

/** PCP's largest message (RFC 6887 §7); NAT-PMP's are smaller. Anything bigger is not an answer. */
export const UDP_ANSWER_MAX = 1100;
/** Ignored answers logged per exchange; the rest only counted (a flood must not flood the log). */
const IGNORED_LOGGED_MAX = 5;

export interface UdpExchangeInit {
  readonly protocol: PortMapProtocolName;
  /** Answers count only from this address and port. */
  readonly gateway: string;
  readonly port: number;
  /** Waits before each retransmission; the request is sent length times in all. */
  readonly retransmitMs: readonly number[];
  readonly logger: Logger;
  readonly signal: AbortSignal;
}

/**
 * One request to the gateway over UDP with retransmission (RFC 6886 §3.1's doubling, shortened),
 * resolving what `decode` makes of the first acceptable answer. Datagrams from any other address
 * or port, oversize ones, and those `decode` rejects with PortMapAnswerInvalid are logged and
 * ignored (a genuine answer may still come); PortMappingFailed from `decode` (the router said
 * no) ends the exchange. Rejects with PortMappingFailed when no acceptable answer came.
 */
export async function udpExchange<T>(init: UdpExchangeInit, request: Buffer, decode: (packet: Buffer) => T): Promise<T> {
  if (init.signal.aborted) throw new PortMappingFailed(init.protocol, 'stopped');
  const socket = await boundUdpSocket();
  let ignored = 0;
  let lastIgnored: string | undefined;
  const ignore = (reason: string, from: string) => {
    ignored++;
    lastIgnored = reason;
    if (ignored <= IGNORED_LOGGED_MAX) init.logger.warn('port mapping: answer ignored', { protocol: init.protocol, from, reason });
  };
  try {
    return await new Promise<T>((resolve, reject) => {
      let sent = 0;
      let timer: NodeJS.Timeout | undefined;
      const finish = (err: Error | undefined, value?: T) => {
        clearTimeout(timer);
        init.signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(value as T);
      };
      const onAbort = () => finish(new PortMappingFailed(init.protocol, 'stopped'));
      init.signal.addEventListener('abort', onAbort);
      socket.on('error', (err) => finish(new PortMappingFailed(init.protocol, `socket: ${err.message}`)));
      socket.on('message', (packet, rinfo) => {
        const from = `${rinfo.address}:${rinfo.port}`;
        if (rinfo.address !== init.gateway || rinfo.port !== init.port) return ignore(`not from the gateway ${init.gateway}:${init.port}`, from);
        if (packet.length > UDP_ANSWER_MAX) return ignore(`${packet.length} bytes, more than ${UDP_ANSWER_MAX}`, from);
        try {
          finish(undefined, decode(packet));
        } catch (err) {
          if (err instanceof PortMapAnswerInvalid) ignore(err.reason, from);
          else finish(err as Error);
        }
      });
      const attempt = () => {
        if (sent >= init.retransmitMs.length) {
          const total = init.retransmitMs.reduce((a, b) => a + b, 0);
          const why = lastIgnored ? `no acceptable answer from ${init.gateway}:${init.port} within ${total} ms (${ignored} ignored, last: ${lastIgnored})` : `no answer from ${init.gateway}:${init.port} within ${total} ms`;
          finish(new PortMappingFailed(init.protocol, why));
          return;
        }
        const wait = init.retransmitMs[sent]!;
        sent++;
        socket.send(request, init.port, init.gateway);
        timer = setTimeout(attempt, wait);
      };
      attempt();
    });
  } finally {
    if (ignored > IGNORED_LOGGED_MAX) init.logger.warn('port mapping: more answers ignored', { protocol: init.protocol, count: ignored - IGNORED_LOGGED_MAX });
    socket.close();
  }
}

/** A UDP socket on an ephemeral port, bound. */
export async function boundUdpSocket(): Promise<dgram.Socket> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return socket;
}

/**
 * A map answer's lifetime and external port, checked the same way for NAT-PMP and PCP: a map
 * must grant both, a delete must answer with lifetime 0.
 */
export function checkMapLifetime(answer: { readonly lifetimeSec: number; readonly externalPort: number }, deleting: boolean): void {
  if (!deleting) {
    if (answer.lifetimeSec === 0) throw new PortMapAnswerInvalid('lifetime 0 in the answer to a map request');
    if (answer.externalPort === 0) throw new PortMapAnswerInvalid('external port 0 in the answer to a map request');
  } else if (answer.lifetimeSec !== 0) {
    throw new PortMapAnswerInvalid(`lifetime ${answer.lifetimeSec} in the answer to a delete`);
  }
}
