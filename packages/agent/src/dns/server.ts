import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server as TcpServer, type Socket } from 'node:net';
import { errorMessage, silentLogger, type Logger } from '../log.js';
import { respond, type Outcome } from './respond.js';
import type { MeshZone } from './zone.js';

/**
 * The node's DNS server: UDP and TCP on one address (the node's mesh IP) and port, answering
 * from a MeshZone. It moves when the mesh IP does. Bad input is answered or dropped (see
 * respond.ts), never thrown; TCP connections are bounded in number, size and idle time.
 */

export const DNS_SERVER_LIMITS = {
  /** Open TCP connections at once; more are closed at once. */
  maxTcpConnections: 64,
  /** A TCP connection silent this long is closed. */
  tcpIdleMs: 10_000,
} as const;

export type DnsCounters = Record<Outcome, number>;

export class DnsServer {
  private udp: UdpSocket | undefined;
  private tcp: TcpServer | undefined;
  private readonly connections = new Set<Socket>();
  private address: string | undefined;
  private queue: Promise<void> = Promise.resolve();
  readonly counters: DnsCounters = { answered: 0, nxdomain: 0, refused: 0, formerr: 0, notimp: 0, ignored: 0 };
  private readonly logger: Logger;

  constructor(private readonly zone: MeshZone, readonly port: number, logger?: Logger) {
    this.logger = logger ?? silentLogger();
  }

  /** Where it listens now (HOST:PORT), or undefined. */
  get listening(): string | undefined {
    if (!this.udp || !this.address) return undefined;
    return `${this.address.includes(':') ? `[${this.address}]` : this.address}:${this.boundPort()}`;
  }

  /** The port actually bound (the given one, or the one the system chose for port 0). */
  boundPort(): number {
    return this.udp?.address().port ?? this.port;
  }

  /** Listens on `address`; rejects with a message that says what to do when the port is taken. */
  start(address: string): Promise<void> {
    return this.serialized(() => this.bind(address));
  }

  /** Listens on a new address (the node's mesh IP moved). */
  moveTo(address: string): Promise<void> {
    return this.serialized(async () => {
      if (address === this.address && this.udp) return;
      await this.close();
      await this.bind(address);
    });
  }

  stop(): Promise<void> {
    return this.serialized(() => this.close());
  }

  /**
   * One start, move or stop at a time, in the order asked: two overlapping moves (re-joins in
   * quick succession) would otherwise both bind, and the sockets of one would stay open unseen
   * (on an address the node no longer has); a stop during a move would find nothing to close yet.
   */
  private serialized(work: () => Promise<void>): Promise<void> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async bind(address: string): Promise<void> {
    // Port 0 (tests): the system picks a free UDP port, which TCP may have in use; pick again.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.listen(address);
      } catch (err) {
        if (this.port !== 0 || attempt >= 5 || !/ is in use /.test((err as Error).message)) throw err;
      }
    }
  }

  private async listen(address: string): Promise<void> {
    const udp = createSocket({ type: address.includes(':') ? 'udp6' : 'udp4' });
    udp.on('message', (msg, rinfo) => {
      const { response, outcome } = respond(msg, this.zone, 'udp');
      this.counters[outcome]++;
      if (response) udp.send(response, rinfo.port, rinfo.address, () => {});
    });
    udp.on('error', (err) => this.logger.warn('DNS: UDP socket error', { error: errorMessage(err) }));
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind({ address, port: this.port, exclusive: true }, () => {
          udp.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      udp.close();
      throw bindError(err, address, this.port, 'UDP');
    }
    this.udp = udp;
    const tcp = createServer((socket) => this.serveTcp(socket));
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host: address, port: this.boundPort(), exclusive: true }, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      tcp.close();
      await this.close();
      throw bindError(err, address, this.boundPort(), 'TCP');
    }
    tcp.on('error', (err) => this.logger.warn('DNS: TCP server error', { error: errorMessage(err) }));
    this.tcp = tcp;
    this.address = address;
  }

  private async close(): Promise<void> {
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    this.address = undefined;
    for (const socket of this.connections) socket.destroy();
    this.connections.clear();
    await Promise.all([
      udp ? new Promise<void>((resolve) => udp.close(() => resolve())) : undefined,
      tcp ? new Promise<void>((resolve) => tcp.close(() => resolve())) : undefined,
    ]);
  }

  /** RFC 1035 4.2.2: each message with a two-byte length in front; several may follow each other. */
  private serveTcp(socket: Socket): void {
    if (this.connections.size >= DNS_SERVER_LIMITS.maxTcpConnections) {
      socket.destroy();
      return;
    }
    this.connections.add(socket);
    socket.setTimeout(DNS_SERVER_LIMITS.tcpIdleMs, () => socket.destroy());
    socket.on('close', () => this.connections.delete(socket));
    socket.on('error', () => socket.destroy());
    let pending: Buffer = Buffer.alloc(0);
    const serve = () => {
      while (pending.length >= 2) {
        // A client that sends and does not read is read no further until its answers have gone out:
        // queries of 30 bytes can ask for answers of 64 KiB, which would otherwise pile up here.
        if (socket.writableNeedDrain) {
          socket.pause();
          socket.once('drain', () => {
            socket.resume();
            serve();
          });
          return;
        }
        const length = pending.readUInt16BE(0);
        if (pending.length < 2 + length) break;
        const message = pending.subarray(2, 2 + length);
        pending = pending.subarray(2 + length);
        const { response, outcome } = respond(message, this.zone, 'tcp');
        this.counters[outcome]++;
        if (!response) continue;
        const framed = Buffer.alloc(2 + response.length);
        framed.writeUInt16BE(response.length, 0);
        response.copy(framed, 2);
        socket.write(framed);
      }
    };
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      serve();
    });
  }
}

function bindError(err: unknown, address: string, port: number, transport: string): Error {
  const code = (err as NodeJS.ErrnoException).code;
  const where = `${address.includes(':') ? `[${address}]` : address}:${port}`;
  if (code === 'EADDRINUSE') {
    return new Error(`DNS: ${transport} ${where} is in use (another DNS server on this host listens on all addresses?): make it listen on specific addresses (dnsmasq: bind-interfaces), or run this node with -dns=false`);
  }
  if (code === 'EACCES') return new Error(`DNS: not allowed to listen on ${transport} ${where} (port 53 needs root or CAP_NET_BIND_SERVICE); or run with -dns=false`);
  return new Error(`DNS: cannot listen on ${transport} ${where}: ${errorMessage(err)}`);
}
