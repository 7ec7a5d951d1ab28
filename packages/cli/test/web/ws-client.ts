/** A bare websocket client for the server's tests: the handshake by hand, masked frames, and the frames it gets. */
import { connect, type Socket } from 'node:net';
import { decodeFrame, type Frame } from '../../src/web/websocket.js';

/** A frame as a client sends it: masked. */
export function clientFrame(opcode: number, payload: Buffer, mask = Buffer.from([1, 2, 3, 4])): Buffer {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | opcode, 0x80 | n]) : Buffer.from([0x80 | opcode, 0x80 | 126, n >> 8, n & 0xff]);
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([head, mask, body]);
}

export interface RawClient {
  readonly socket: Socket;
  /** The HTTP response head. */
  readonly head: string;
  readonly frames: Frame[];
  /** Resolves when the server has closed the connection. */
  readonly closed: Promise<void>;
}

export async function openRaw(port: number, headers: Record<string, string>, path = '/api/updates'): Promise<RawClient> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const lines = [`GET ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''];
  socket.write(lines.join('\r\n'));
  const frames: Frame[] = [];
  let buf = Buffer.alloc(0);
  let head: string | undefined;
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (head === undefined) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        head = buf.subarray(0, end).toString();
        buf = buf.subarray(end + 4);
        resolve();
      }
      for (let d = decodeFrame(buf); d; d = decodeFrame(buf)) {
        frames.push(d.frame);
        buf = buf.subarray(d.size);
      }
    });
    socket.once('close', () => resolve());
  });
  return { socket, head: head ?? '', frames, closed };
}
