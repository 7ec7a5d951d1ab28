/**
 * STUN client: asks STUN servers, in order, for this node's public (server-reflexive) IPv4
 * address, with short retransmission timeouts and fallback to the next server.
 *
 * Which port the answer is about. For NAT discovery the Binding request should leave from the
 * WireGuard listen port, since that is the mapping peers need; but WireGuard owns that port.
 * So requests leave from an ephemeral port (or `localPort`), and the caller pairs the
 * discovered IP with its own WireGuard listen port. That pairing is right behind a
 * port-preserving NAT (the common home-router case) and wrong behind one that rewrites ports;
 * there, the endpoint the bootstrap *observes* in its WireGuard peer table carries the real
 * mapped port, which is why candidates are tried LAN, then observed, then STUN.
 *
 * The wire is `codecTransport`: this package's pure codec (codec.ts, which the bootstrap's
 * responder uses too) over node:dgram, with RFC 5389 retransmission. Tests inject a fake one.
 */
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIPv4 } from 'node:net';
import { errorMessage, silentLogger, type Logger } from '../log.js';
import { StunFailed, type StunServerFailure } from '../errors.js';
import { parseHostPort } from '../endpoints/endpoints.js';
import {
  decodeMessage, encodeBindingRequest, errorCodeOf, looksLikeStun, mappedAddressOf, MessageType, newTransactionId,
} from './codec.js';
import { StunDecodeError } from '../errors.js';

export const STUN_DEFAULTS = {
  /** RFC 5389's default port. */
  port: 3478,
  /** Initial retransmission timeout (RFC 5389 suggests 500 ms; a dead server must not hold up the others). */
  timeoutMs: 200,
  /** Retransmission timeouts double up to this. */
  maxTimeoutMs: 400,
  /** Retransmissions after the first request; 200/400/3 gives up on a dead server after 1.4 s. */
  retries: 3,
  localAddress: '0.0.0.0',
} as const;

/** How one Binding transaction retransmits (RFC 5389 §7.2.1, with short defaults). */
export interface Retransmission {
  timeoutMs: number;
  maxTimeoutMs: number;
  retries: number;
}

/** The longest one server can take before it counts as dead: the sum of every wait. */
export function transactionBudgetMs(r: Retransmission): number {
  let total = 0;
  for (let i = 0; i <= r.retries; i++) total += Math.min(r.timeoutMs * 2 ** i, r.maxTimeoutMs);
  return total;
}

export interface PublicEndpoint {
  /** The public (server-reflexive) IPv4 address. */
  ip: string;
  /**
   * The mapped port of the request's source port (`localPort`), not of WireGuard's listen
   * port: see the module comment before using it as a WireGuard endpoint port.
   */
  port: number;
  /** The server that answered, as given. */
  server: string;
  /** The local UDP port the request left from. */
  localPort: number;
}


/** One open UDP socket that Binding transactions are run over, one server at a time. */
export interface StunSession {
  /** The local port requests leave from. */
  readonly localPort: number;
  /** One Binding transaction (with retransmissions) to host:port; resolves the reflexive address. */
  bind(host: string, port: number): Promise<{ ip: string; port: number }>;
  close(): void;
}

export interface StunTransportInit {
  localAddress: string;
  /** 0: an ephemeral port. */
  localPort: number;
  retransmission: Retransmission;
  logger: Logger;
}

/** The wire behind the client; injectable so the fallback logic can be tested without sockets. */
export interface StunTransport {
  readonly name: string;
  open(init: StunTransportInit): Promise<StunSession>;
}

export interface DiscoverOptions {
  /** Initial retransmission timeout per server, ms (default 200). */
  timeoutMs?: number;
  /** Largest retransmission timeout, ms (default 2 × timeoutMs, i.e. 400). */
  maxTimeoutMs?: number;
  /** Retransmissions per server after the first request (default 3). */
  retries?: number;
  /** Local UDP port to send from; default 0, an ephemeral port. */
  localPort?: number;
  /** Local address to bind; default 0.0.0.0. */
  localAddress?: string;
  logger?: Logger;
  /** Default: `codecTransport`. */
  transport?: StunTransport;
}

/**
 * Tries each server ("HOST:PORT", "HOST" for port 3478; an optional "stun:" prefix is
 * accepted) in order and returns the first answer. Throws StunFailed naming every server and
 * why it failed. A dead server costs `transactionBudgetMs` (1.4 s with the defaults).
 */
export async function discoverPublicEndpoint(servers: readonly string[], options: DiscoverOptions = {}): Promise<PublicEndpoint> {
  const logger = options.logger ?? silentLogger();
  const timeoutMs = options.timeoutMs ?? STUN_DEFAULTS.timeoutMs;
  const retransmission: Retransmission = {
    timeoutMs,
    maxTimeoutMs: options.maxTimeoutMs ?? (options.timeoutMs === undefined ? STUN_DEFAULTS.maxTimeoutMs : 2 * timeoutMs),
    retries: options.retries ?? STUN_DEFAULTS.retries,
  };
  if (!(retransmission.timeoutMs > 0) || !(retransmission.maxTimeoutMs > 0) || !Number.isInteger(retransmission.retries) || retransmission.retries < 0) {
    throw new RangeError(`STUN timeouts must be positive and retries a whole number ≥ 0 (got ${JSON.stringify(retransmission)})`);
  }
  if (servers.length === 0) throw new StunFailed([]);

  const failures: StunServerFailure[] = [];
  type Target = { server: string; host: string; port: number } | { server: string; invalid: string };
  const targets = servers.map((server): Target => {
    try {
      return { server, ...parseServer(server) };
    } catch (err) {
      return { server, invalid: errorMessage(err) };
    }
  });
  if (targets.every((t) => 'invalid' in t)) {
    throw new StunFailed(targets.map((t) => ({ server: t.server, reason: 'invalid' in t ? t.invalid : '' })));
  }

  const transport = options.transport ?? codecTransport;
  const localAddress = options.localAddress ?? STUN_DEFAULTS.localAddress;
  const localPort = options.localPort ?? 0;
  let session: StunSession;
  try {
    session = await transport.open({ localAddress, localPort, retransmission, logger });
  } catch (err) {
    const reason = `cannot open a UDP socket on ${localAddress}:${localPort}: ${errorMessage(err)}`;
    throw new StunFailed(
      targets.map((t) => ({ server: t.server, reason: 'invalid' in t ? t.invalid : reason })),
      `${reason}${localPort !== 0 ? '; pick another local port, or 0 for an ephemeral one' : ''}`,
    );
  }

  try {
    for (const target of targets) {
      if ('invalid' in target) {
        failures.push({ server: target.server, reason: target.invalid });
        continue;
      }
      logger.debug('STUN binding request', { server: target.server, localPort: session.localPort, transport: transport.name });
      try {
        const mapped = await session.bind(target.host, target.port);
        if (!isIPv4(mapped.ip)) throw new Error(`answered with ${mapped.ip}, not an IPv4 address`);
        const endpoint = { ip: mapped.ip, port: mapped.port, server: target.server, localPort: session.localPort };
        logger.info('STUN discovered public address', { server: target.server, endpoint: `${endpoint.ip}:${endpoint.port}`, localPort: endpoint.localPort });
        return endpoint;
      } catch (err) {
        const reason = errorMessage(err);
        failures.push({ server: target.server, reason });
        logger.warn('STUN server failed; trying the next', { server: target.server, err: reason });
      }
    }
  } finally {
    session.close();
  }
  throw new StunFailed(failures);
}

/** "HOST:PORT", "HOST" (port 3478), with an optional "stun:" / "stun://" prefix; IPv4 or a DNS name. */
function parseServer(server: string): { host: string; port: number } {
  const { host, port } = parseHostPort(server.trim().replace(/^stuns?:(\/\/)?/i, ''), STUN_DEFAULTS.port);
  if (!isIPv4(host) && !/^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/.test(host)) {
    throw new Error(`"${server}" is not HOST:PORT with an IPv4 address or a DNS name (STUN here is IPv4 only)`);
  }
  return { host, port };
}

/**
 * The wire: the pure codec in codec.ts over node:dgram, with RFC 5389 retransmission. Stray
 * datagrams (not STUN, malformed, or another transaction's) are ignored, not failed on.
 */
export const codecTransport: StunTransport = {
  name: 'codec',
  async open(init) {
    const socket = await bindSocket(init.localAddress, init.localPort);
    let onPacket: ((packet: Buffer, from: dgram.RemoteInfo) => void) | undefined;
    let socketError: ((err: Error) => void) | undefined;
    socket.on('message', (packet, from) => onPacket?.(packet, from));
    socket.on('error', (err) => {
      if (socketError) socketError(err);
      else init.logger.debug('STUN socket error outside a transaction', { err: err.message });
    });
    const { timeoutMs, maxTimeoutMs, retries } = init.retransmission;
    const budget = transactionBudgetMs(init.retransmission);
    return {
      localPort: socket.address().port,
      async bind(host, port) {
        const ip = isIPv4(host) ? host : (await lookup(host, { family: 4 })).address;
        const transactionId = newTransactionId();
        const request = encodeBindingRequest(transactionId);
        return new Promise((resolve, reject) => {
          let sent = 0;
          let timer: NodeJS.Timeout | undefined;
          const finish = (err: Error | undefined, value?: { ip: string; port: number }) => {
            clearTimeout(timer);
            onPacket = undefined;
            socketError = undefined;
            if (err) reject(err);
            else resolve(value!);
          };
          const attempt = () => {
            if (sent > retries) {
              finish(new Error(`no answer within ${budget} ms (${sent} requests)`));
              return;
            }
            const wait = Math.min(timeoutMs * 2 ** sent, maxTimeoutMs);
            sent++;
            socket.send(request, port, ip);
            timer = setTimeout(attempt, wait);
          };
          socketError = (err) => finish(err);
          onPacket = (packet) => {
            if (!looksLikeStun(packet)) return;
            try {
              const message = decodeMessage(packet);
              if (!message.transactionId.equals(transactionId)) return;
              if (message.type === MessageType.BindingError) {
                const e = errorCodeOf(message);
                finish(new Error(e ? `error response ${e.code} ${e.reason}` : 'error response without ERROR-CODE'));
              } else if (message.type === MessageType.BindingSuccess) {
                const mapped = mappedAddressOf(message);
                if (!mapped) finish(new Error('the answer has no XOR-MAPPED-ADDRESS or MAPPED-ADDRESS'));
                else finish(undefined, { ip: mapped.ip, port: mapped.port });
              }
            } catch (err) {
              if (!(err instanceof StunDecodeError)) throw err;
              init.logger.debug('STUN malformed answer ignored', { err: err.message });
            }
          };
          attempt();
        });
      },
      close() {
        onPacket = undefined;
        socket.close();
      },
    };
  },
};

function bindSocket(address: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    const onError = (err: Error) => {
      try {
        socket.close();
      } catch {
        // already closed
      }
      reject(err);
    };
    socket.once('error', onError);
    socket.bind({ address, port, exclusive: true }, () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}
