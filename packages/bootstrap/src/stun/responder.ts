/**
 * The bootstrap's embedded STUN responder: answers RFC 5389 Binding requests on UDP with the
 * sender's address as seen here (XOR-MAPPED-ADDRESS, plus MAPPED-ADDRESS for clients that
 * predate it), so a mesh needs no third-party STUN server.
 *
 * Every datagram is checked before anything else reads it (RFC 5389 §7.3): the header, the
 * magic cookie, the length, each attribute's bounds and, when present, the FINGERPRINT. Anything
 * malformed is dropped silently and counted; nothing a peer sends can throw out of the handler.
 * Requests are decoded and answers encoded by the agent's STUN codec (the one the agent's
 * client uses: one implementation on both sides); answers always carry the request's
 * transaction id.
 *
 * Answered: Binding requests. 420 (Unknown Attribute): Binding requests carrying a
 * comprehension-required attribute that RFC 5389 does not define. 400: requests of other
 * methods (this is no TURN server). Dropped: indications, responses, RFC 3489 messages (no
 * magic cookie), malformed datagrams. Requests from IPv4 or IPv6 sources are answered alike.
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { decodeMessage, encodeBindingSuccess, encodeErrorResponse, HEADER_LENGTH, MAGIC_COOKIE, MessageType, unknownRequiredAttributes, type StunMessage } from '@wgmesh/agent/stun/codec';
import { errorMessage, silentLogger, type Logger } from '@wgmesh/agent/log';
import { StunDecodeError } from '@wgmesh/agent/errors';
import { StunBindFailed, StunPortInUse } from '../errors.js';

/** Longer datagrams are not Binding requests worth answering. */
const MAX_REQUEST_LENGTH = 1280;

export interface StunResponderInit {
  /** Local address, IPv4 or IPv6 ("0.0.0.0", "::" for both families, "127.0.0.1"). */
  bindAddr: string;
  /** UDP port; 0 picks a free one (read it back from `port` after start). The CLI's "-stun-port 0 disables" means: do not create a responder. */
  port: number;
  logger?: Logger;
  /** SOFTWARE attribute of every answer (default "wgmesh"); empty for none. */
  software?: string;
}

export interface StunResponderStats {
  /** Datagrams received. */
  received: number;
  /** Binding success responses sent. */
  answered: number;
  /** Error responses sent (400, 420). */
  errorResponses: number;
  /** Datagrams dropped as malformed or not STUN. */
  malformed: number;
  /** Well-formed STUN that needs no answer (indications, responses, RFC 3489). */
  ignored: number;
  /** Answers the socket failed to send. */
  sendFailures: number;
}

export class StunResponder {
  private readonly bindAddr: string;
  private readonly requestedPort: number;
  private readonly logger: Logger;
  private readonly software: string;
  private socket: dgram.Socket | undefined;
  private boundPort: number | undefined;
  private readonly counters: StunResponderStats = { received: 0, answered: 0, errorResponses: 0, malformed: 0, ignored: 0, sendFailures: 0 };

  constructor(init: StunResponderInit) {
    if (!Number.isInteger(init.port) || init.port < 0 || init.port > 65535) {
      throw new RangeError(`STUN port ${init.port} is not 0-65535`);
    }
    this.bindAddr = init.bindAddr;
    this.requestedPort = init.port;
    this.logger = init.logger ?? silentLogger();
    this.software = init.software ?? 'wgmesh';
  }

  /** The UDP port served: the bound one once started (so port 0 reads back the real port). */
  get port(): number {
    return this.boundPort ?? this.requestedPort;
  }

  get stats(): Readonly<StunResponderStats> {
    return { ...this.counters };
  }

  get listening(): boolean {
    return this.socket !== undefined;
  }

  async start(): Promise<void> {
    if (this.socket) throw new Error('the STUN responder is already started');
    const socket = dgram.createSocket({ type: isIPv6(this.bindAddr) ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        try {
          socket.close();
        } catch {
          // never bound
        }
        if (err.code === 'EADDRINUSE') reject(new StunPortInUse(this.bindAddr, this.requestedPort));
        else if (err.code === 'EACCES') reject(new StunBindFailed(this.bindAddr, this.requestedPort, 'permission denied (ports below 1024 need root)'));
        else if (err.code === 'EADDRNOTAVAIL') reject(new StunBindFailed(this.bindAddr, this.requestedPort, `${this.bindAddr} is not an address of this host`));
        else reject(new StunBindFailed(this.bindAddr, this.requestedPort, errorMessage(err)));
      };
      socket.once('error', onError);
      socket.bind({ address: this.bindAddr, port: this.requestedPort, exclusive: true }, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    socket.on('error', (err) => this.logger.warn('STUN socket error', { err: err.message }));
    socket.on('message', (packet, from) => this.onDatagram(socket, packet, from));
    this.socket = socket;
    this.boundPort = socket.address().port;
    this.logger.info('STUN responder listening', { endpoint: `${this.bindAddr}:${this.boundPort}` });
  }

  async stop(): Promise<void> {
    const socket = this.socket;
    if (!socket) return;
    this.socket = undefined;
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    this.logger.info('STUN responder stopped', { port: this.boundPort, ...this.counters });
  }

  private onDatagram(socket: dgram.Socket, packet: Buffer, from: dgram.RemoteInfo): void {
    this.counters.received++;
    try {
      const reply = this.answer(packet, from);
      if (!reply) return;
      socket.send(reply, from.port, from.address, (err) => {
        if (!err) return;
        this.counters.sendFailures++;
        this.logger.debug('STUN answer not sent', { endpoint: `${from.address}:${from.port}`, err: err.message });
      });
    } catch (err) {
      // A bug here must cost one answer, never the process.
      this.counters.sendFailures++;
      this.logger.warn('STUN request not answered', { endpoint: `${from.address}:${from.port}`, err: errorMessage(err) });
    }
  }

  /** The bytes to send back, or undefined to stay silent. */
  private answer(packet: Buffer, from: dgram.RemoteInfo): Buffer | undefined {
    const shape = checkShape(packet);
    if (shape === 'malformed') {
      this.counters.malformed++;
      return undefined;
    }
    if (shape === 'legacy') {
      this.counters.ignored++;
      return undefined;
    }
    // Attribute bounds, FINGERPRINT last and matching: the codec checks them as it decodes.
    let request: StunMessage;
    try {
      request = decodeMessage(packet);
    } catch (err) {
      if (!(err instanceof StunDecodeError)) throw err;
      this.counters.malformed++;
      return undefined;
    }
    const isRequest = (request.type & 0x0110) === 0;
    if (!isRequest) {
      this.counters.ignored++;
      return undefined;
    }
    if (from.port === 0) {
      this.counters.malformed++;
      return undefined;
    }
    const options = { fingerprint: true, ...(this.software ? { software: this.software } : {}) };
    if (request.type !== MessageType.BindingRequest) {
      this.counters.errorResponses++;
      return encodeErrorResponse(request.type, request.transactionId, { code: 400, reason: 'Bad Request: this server answers Binding only' }, options);
    }
    // Comprehension-required attributes (< 0x8000) RFC 5389 does not define get a 420.
    const unknown = unknownRequiredAttributes(request);
    if (unknown.length > 0) {
      this.counters.errorResponses++;
      return encodeErrorResponse(request.type, request.transactionId, { code: 420, reason: 'Unknown Attribute', unknownAttributes: unknown }, options);
    }

    const ip = unmapIPv4(from.address);
    // XOR-MAPPED-ADDRESS, and MAPPED-ADDRESS for clients that predate it.
    const response = encodeBindingSuccess(request.transactionId, { ip, port: from.port }, { ...options, mappedAddress: true });
    this.counters.answered++;
    this.logger.debug('STUN binding answered', { endpoint: `${ip}:${from.port}` });
    return response;
  }
}

/**
 * The cheap RFC 5389 §7.3 checks on the header, before decoding: 'legacy' for an RFC 3489
 * message (no magic cookie), 'malformed' for a datagram too short or long, with a first byte
 * or length field no STUN message has.
 */
function checkShape(packet: Buffer): 'ok' | 'legacy' | 'malformed' {
  if (packet.length < HEADER_LENGTH || packet.length > MAX_REQUEST_LENGTH) return 'malformed';
  if ((packet[0]! & 0xc0) !== 0) return 'malformed';
  const length = packet.readUInt16BE(2);
  if (length % 4 !== 0 || length !== packet.length - HEADER_LENGTH) return 'malformed';
  if (packet.readUInt32BE(4) !== MAGIC_COOKIE) return 'legacy';
  return 'ok';
}

/** "::ffff:192.0.2.1" (an IPv4 client on a dual-stack socket) → "192.0.2.1". */
function unmapIPv4(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}
