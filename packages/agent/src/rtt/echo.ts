import dgram from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { isIP } from 'node:net';
import { errorMessage, silentLogger, type Logger } from '../log.js';
import { RttConfigError } from '../errors.js';

/** RTT probing settings. The port is mesh-internal: probes travel inside the tunnel, to mesh IPs. */
export const RTT_DEFAULTS = {
  port: 54541,
  intervalMs: 1000,
  timeoutMs: 1000,
  /** Timed probes per peer the samples are computed over: the last ten rounds. */
  window: 30,
  /** Timed probes per round and peer (after one untimed probe that wakes the path). */
  timedProbes: 3,
} as const;

/** The largest window accepted: state per peer stays small whatever the configuration. */
export const RTT_WINDOW_MAX = 1000;
/** A burst longer than this would be a flood, not a probe. */
export const RTT_TIMED_PROBES_MAX = 10;
/** Senders whose probe packets the echo counts at most (see EchoResponder.packetsWith). */
const ECHO_SENDERS_MAX = 65_536;

// ---------------------------------------------------------------------------------------------
// The packet: 20 bytes, big-endian.
//   0  4  magic "WGMR"
//   4  1  version (1)
//   5  1  type: 1 probe, 2 reply
//   6  2  reserved, 0
//   8  4  sequence number (uint32)
//  12  8  sender's timestamp (uint64, monotonic ns): echoed unchanged, doubles as a nonce
// Anything else (other length, magic, version, type, non-zero reserved) is not a probe packet.
// ---------------------------------------------------------------------------------------------

export const PROBE_MAGIC = 'WGMR';
export const PROBE_VERSION = 1;
export const PROBE_SIZE = 20;

const TYPE_CODES = { probe: 1, reply: 2 } as const;
export type ProbeType = keyof typeof TYPE_CODES;

export interface ProbePacket {
  readonly type: ProbeType;
  /** uint32 */
  readonly seq: number;
  /** uint64 */
  readonly timestamp: bigint;
}

const MAGIC_BYTES = Buffer.from(PROBE_MAGIC, 'ascii');
const UINT64_MAX = (1n << 64n) - 1n;

export function encodeProbe(packet: ProbePacket): Buffer {
  if (!Number.isInteger(packet.seq) || packet.seq < 0 || packet.seq > 0xffffffff) throw new RangeError(`probe seq ${packet.seq} is not a uint32`);
  if (packet.timestamp < 0n || packet.timestamp > UINT64_MAX) throw new RangeError(`probe timestamp ${packet.timestamp} is not a uint64`);
  const buf = Buffer.alloc(PROBE_SIZE);
  MAGIC_BYTES.copy(buf, 0);
  buf.writeUInt8(PROBE_VERSION, 4);
  buf.writeUInt8(TYPE_CODES[packet.type], 5);
  buf.writeUInt32BE(packet.seq, 8);
  buf.writeBigUInt64BE(packet.timestamp, 12);
  return buf;
}

/** The packet, or undefined for anything that is not exactly a well-formed probe or reply. */
export function decodeProbe(data: Uint8Array): ProbePacket | undefined {
  if (data.length !== PROBE_SIZE) return undefined;
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (!buf.subarray(0, 4).equals(MAGIC_BYTES)) return undefined;
  if (buf.readUInt8(4) !== PROBE_VERSION) return undefined;
  if (buf.readUInt16BE(6) !== 0) return undefined;
  const code = buf.readUInt8(5);
  const type: ProbeType | undefined = code === TYPE_CODES.probe ? 'probe' : code === TYPE_CODES.reply ? 'reply' : undefined;
  if (!type) return undefined;
  return { type, seq: buf.readUInt32BE(8), timestamp: buf.readBigUInt64BE(12) };
}

// ---------------------------------------------------------------------------------------------
// The socket the RTT parts use: a small promise-friendly slice of a UDP socket, so tests can
// pass a fake one. The default wraps node:dgram.
// ---------------------------------------------------------------------------------------------

export interface PacketAddress {
  readonly address: string;
  readonly port: number;
}

export type SocketFamily = 'udp4' | 'udp6';

export interface PacketSocket {
  /** Resolves once bound; rejects (e.g. EADDRNOTAVAIL, EADDRINUSE) otherwise. */
  bind(port: number, address?: string): Promise<void>;
  address(): PacketAddress;
  /** Fire and forget; `done` gets the send error, if any. */
  send(packet: Uint8Array, port: number, address: string, done?: (err: Error | null) => void): void;
  onMessage(listener: (packet: Buffer, from: PacketAddress) => void): void;
  /** Errors after bind (the socket stays usable unless closed). */
  onError(listener: (err: Error) => void): void;
  close(): void;
}

export type SocketFactory = (family: SocketFamily) => PacketSocket;

export const dgramSocketFactory: SocketFactory = (family) => {
  // Addresses here are IP literals: resolving them on the spot (instead of dgram's default
  // dns.lookup, which answers on the next tick) sends a probe within the send() call, so the
  // timestamp taken just before it is not inflated by a trip around the event loop.
  const socket = dgram.createSocket({ type: family, reuseAddr: false, lookup: literalLookup });
  const errorListeners: ((err: Error) => void)[] = [];
  let binding: ((err: Error) => void) | undefined;
  let closed = false;
  // Always listening for 'error': an unhandled one would crash the process.
  socket.on('error', (err) => {
    if (binding) binding(err);
    else for (const l of errorListeners) l(err);
  });
  return {
    bind: (port, address) =>
      new Promise<void>((resolve, reject) => {
        binding = (err) => {
          binding = undefined;
          reject(err);
        };
        socket.bind({ port, ...(address ? { address } : {}), exclusive: true }, () => {
          binding = undefined;
          resolve();
        });
      }),
    address: () => {
      const a = socket.address();
      return { address: a.address, port: a.port };
    },
    send: (packet, port, address, done) => {
      try {
        socket.send(packet, port, address, (err) => done?.(err ?? null));
      } catch (err) {
        // Closed meanwhile, or an argument Node refuses synchronously.
        done?.(err instanceof Error ? err : new Error(String(err)));
      }
    },
    onMessage: (listener) => {
      socket.on('message', (msg, rinfo) => listener(msg, { address: rinfo.address, port: rinfo.port }));
    },
    onError: (listener) => {
      errorListeners.push(listener);
    },
    close: () => {
      if (closed) return;
      closed = true;
      try {
        socket.close();
      } catch {
        // Never bound, or already closed by a failed bind: nothing to release.
      }
    },
  };
};

function literalLookup(address: string, options: LookupOneOptions, callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void {
  const family = isIP(address);
  if (family) callback(null, address, family);
  else dnsLookup(address, options, callback);
}

export function socketFamilyOf(ip: string): SocketFamily | undefined {
  const v = isIP(ip);
  return v === 4 ? 'udp4' : v === 6 ? 'udp6' : undefined;
}

// ---------------------------------------------------------------------------------------------
// The responder.
// ---------------------------------------------------------------------------------------------

export interface EchoResponderComponents {
  readonly socketFactory?: SocketFactory;
  readonly logger?: Logger;
}

export interface EchoResponderInit {
  /** This node's mesh IP: probes arrive through the tunnel only. */
  readonly bindAddr: string;
  /** Default 54541; 0 picks a free port (tests). */
  readonly port?: number;
}

export interface EchoResponderStats {
  echoed: number;
  rejected: number;
}

/**
 * Answers RTT probes: every well-formed probe goes back to its sender as a reply of the same
 * size, carrying the same sequence number and timestamp. Anything else is counted and dropped,
 * never answered (so two responders can never ping-pong, and nothing is amplified).
 */
export class EchoResponder {
  readonly stats: EchoResponderStats = { echoed: 0, rejected: 0 };
  /** Packets exchanged per sender's address (a probe in and its reply out: 2), for the prober's traffic accounting. */
  private readonly bySender = new Map<string, number>();
  private socket: PacketSocket | undefined;
  private readonly socketFactory: SocketFactory;
  private readonly logger: Logger;
  private readonly family: SocketFamily;
  private readonly requestedPort: number;

  constructor(components: EchoResponderComponents, private readonly init: EchoResponderInit) {
    this.socketFactory = components.socketFactory ?? dgramSocketFactory;
    this.logger = components.logger ?? silentLogger();
    const family = socketFamilyOf(init.bindAddr);
    if (!family) throw new RttConfigError(`RTT echo bind address "${init.bindAddr}" is not an IP address`);
    this.family = family;
    this.requestedPort = init.port ?? RTT_DEFAULTS.port;
    if (!Number.isInteger(this.requestedPort) || this.requestedPort < 0 || this.requestedPort > 65535) {
      throw new RttConfigError(`RTT port ${this.requestedPort} is not a UDP port number (0-65535, 0 picks a free one)`);
    }
  }

  /** The bound port (useful after binding port 0), or 0 when not running. */
  get port(): number {
    return this.socket?.address().port ?? 0;
  }

  async start(): Promise<void> {
    if (this.socket) return;
    const socket = this.socketFactory(this.family);
    socket.onMessage((packet, from) => this.onPacket(socket, packet, from));
    socket.onError((err) => this.logger.warn('RTT echo socket error', { err: errorMessage(err) }));
    try {
      await socket.bind(this.requestedPort, this.init.bindAddr);
    } catch (err) {
      socket.close();
      throw new RttConfigError(`cannot answer RTT probes on ${this.init.bindAddr} port ${this.requestedPort}: ${errorMessage(err)}`);
    }
    this.socket = socket;
    this.logger.debug('answering RTT probes', { meshIp: this.init.bindAddr, port: this.port });
  }

  async stop(): Promise<void> {
    this.socket?.close();
    this.socket = undefined;
  }

  private onPacket(socket: PacketSocket, packet: Buffer, from: PacketAddress): void {
    const probe = decodeProbe(packet);
    if (!probe || probe.type !== 'probe' || from.port === 0) {
      this.stats.rejected++;
      return;
    }
    socket.send(encodeProbe({ type: 'reply', seq: probe.seq, timestamp: probe.timestamp }), from.port, from.address, (err) => {
      if (err) this.logger.debug('RTT echo reply not sent', { endpoint: `${from.address}:${from.port}`, err: errorMessage(err) });
    });
    this.stats.echoed++;
    // Senders are mesh IPs (the socket is bound to this node's); the bound only guards a flood of spoofed ones.
    if (this.bySender.size >= ECHO_SENDERS_MAX && !this.bySender.has(from.address)) this.bySender.clear();
    this.bySender.set(from.address, (this.bySender.get(from.address) ?? 0) + 2);
  }

  /** Probe packets exchanged with `address` so far (in and out). */
  packetsWith(address: string): number {
    return this.bySender.get(address) ?? 0;
  }
}
