/**
 * The little of RFC 6455 that `wgmesh ui` needs for the original's `/api/updates`: the opening
 * handshake, unmasked text frames from the server, and reading the client's frames only to answer
 * ping and close. Written here rather than adding a library: about a hundred lines, no fragments,
 * no extensions, and the server never reads a message's content.
 */
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const OPCODE = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

/** Frames bigger than this from a client end the connection (it has nothing to say but ping/close). */
const MAX_CLIENT_PAYLOAD = 64 * 1024;

/** Sec-WebSocket-Accept for a client's Sec-WebSocket-Key (RFC 6455 section 4.2.2). */
export function acceptKey(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/** A key is 16 random bytes in base64. */
export function validKey(key: string | undefined): key is string {
  return key !== undefined && /^[A-Za-z0-9+/]{22}==$/.test(key.trim());
}

/** One unmasked, final frame as a server sends it. */
export function encodeFrame(opcode: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const n = payload.length;
  let head: Buffer;
  if (n < 126) {
    head = Buffer.from([0x80 | opcode, n]);
  } else if (n < 65536) {
    head = Buffer.alloc(4);
    head[0] = 0x80 | opcode;
    head[1] = 126;
    head.writeUInt16BE(n, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}

export function textFrame(text: string): Buffer {
  return encodeFrame(OPCODE.text, Buffer.from(text, 'utf8'));
}

export interface Frame {
  readonly fin: boolean;
  readonly opcode: number;
  readonly masked: boolean;
  /** Unmasked. */
  readonly payload: Buffer;
}

/**
 * The first complete frame in `buf` and the bytes it took, or undefined when more bytes are
 * needed. Throws on a frame larger than `max`.
 */
export function decodeFrame(buf: Buffer, max = MAX_CLIENT_PAYLOAD): { frame: Frame; size: number } | undefined {
  if (buf.length < 2) return undefined;
  const fin = (buf[0]! & 0x80) !== 0;
  const opcode = buf[0]! & 0x0f;
  const masked = (buf[1]! & 0x80) !== 0;
  let len = buf[1]! & 0x7f;
  let offset = 2;
  if (len === 126) {
    if (buf.length < 4) return undefined;
    len = buf.readUInt16BE(2);
    offset = 4;
  } else if (len === 127) {
    if (buf.length < 10) return undefined;
    const big = buf.readBigUInt64BE(2);
    if (big > BigInt(max)) throw new Error(`websocket frame of ${big} bytes`);
    len = Number(big);
    offset = 10;
  }
  if (len > max) throw new Error(`websocket frame of ${len} bytes`);
  const maskAt = offset;
  if (masked) offset += 4;
  if (buf.length < offset + len) return undefined;
  const payload = Buffer.from(buf.subarray(offset, offset + len));
  if (masked) for (let i = 0; i < len; i++) payload[i]! ^= buf[maskAt + (i % 4)]!;
  return { frame: { fin, opcode, masked, payload }, size: offset + len };
}

/** A server's end of one websocket: send text, answer ping and close, and tell when it is gone. */
export class WebSocketConnection {
  private pending = Buffer.alloc(0);
  private closed = false;

  constructor(
    private readonly socket: Socket,
    private readonly onClose: () => void,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    const gone = () => this.finish();
    socket.on('close', gone);
    socket.on('error', gone);
  }

  /** Bytes that came with the handshake, already read from the socket (the client's first frames). */
  receiveHead(head: Buffer): void {
    if (head.length > 0) this.receive(head);
  }

  /** Sends a text message; a client with more than `maxBacklog` bytes unread is disconnected instead. */
  send(text: string, maxBacklog = Number.POSITIVE_INFINITY): void {
    if (this.closed) return;
    if (this.socket.writableLength > maxBacklog) {
      this.socket.destroy();
      this.finish();
      return;
    }
    this.socket.write(textFrame(text));
  }

  /** Sends a close frame (1001: going away) and ends the connection. */
  close(code = 1001): void {
    if (this.closed) return;
    const body = Buffer.alloc(2);
    body.writeUInt16BE(code, 0);
    this.socket.end(encodeFrame(OPCODE.close, body));
    this.finish();
  }

  private receive(chunk: Buffer): void {
    this.pending = Buffer.concat([this.pending, chunk]);
    for (;;) {
      let decoded;
      try {
        decoded = decodeFrame(this.pending);
      } catch {
        this.close(1009);
        return;
      }
      if (!decoded) return;
      this.pending = this.pending.subarray(decoded.size);
      const { frame } = decoded;
      // Clients must mask what they send (RFC 6455 section 5.1).
      if (!frame.masked) {
        this.close(1002);
        return;
      }
      if (frame.opcode === OPCODE.ping) this.socket.write(encodeFrame(OPCODE.pong, frame.payload));
      else if (frame.opcode === OPCODE.close) {
        this.close(1000);
        return;
      }
      // Text, binary and pong frames are read and dropped: the API only speaks.
    }
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
  }
}
