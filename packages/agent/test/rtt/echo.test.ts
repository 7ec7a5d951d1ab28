import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import {
  EchoResponder, PROBE_SIZE, decodeProbe, encodeProbe, type ProbePacket,
} from '../../src/rtt/echo.js';
import { RttConfigError } from '../../src/errors.js';

describe('probe packet codec', () => {
  test('a probe and a reply round-trip through 20 bytes', () => {
    const probe: ProbePacket = { type: 'probe', seq: 0xfffffffe, timestamp: 123_456_789_012_345_678n };
    const bytes = encodeProbe(probe);
    assert.equal(bytes.length, PROBE_SIZE);
    assert.equal(bytes.subarray(0, 4).toString('ascii'), 'WGMR');
    assert.deepEqual(decodeProbe(bytes), probe);
    assert.deepEqual(decodeProbe(encodeProbe({ ...probe, type: 'reply' })), { ...probe, type: 'reply' });
  });

  test('anything that is not exactly a well-formed packet is refused', () => {
    const good = encodeProbe({ type: 'probe', seq: 7, timestamp: 42n });
    const variant = (offset: number, value: number) => {
      const b = Buffer.from(good);
      b[offset] = value;
      return b;
    };
    assert.equal(decodeProbe(new Uint8Array(0)), undefined, 'empty');
    assert.equal(decodeProbe(good.subarray(0, 19)), undefined, 'short');
    assert.equal(decodeProbe(Buffer.concat([good, Buffer.from([0])])), undefined, 'long');
    assert.equal(decodeProbe(variant(0, 0x78)), undefined, 'magic');
    assert.equal(decodeProbe(variant(4, 2)), undefined, 'version');
    assert.equal(decodeProbe(variant(5, 0)), undefined, 'type 0');
    assert.equal(decodeProbe(variant(5, 3)), undefined, 'type 3');
    assert.equal(decodeProbe(variant(7, 1)), undefined, 'reserved');
    // A view into a larger buffer decodes from its own bytes.
    const embedded = Buffer.concat([Buffer.alloc(5, 0xaa), good]).subarray(5);
    assert.deepEqual(decodeProbe(embedded), { type: 'probe', seq: 7, timestamp: 42n });
  });

  test('encoding refuses values that do not fit', () => {
    assert.throws(() => encodeProbe({ type: 'probe', seq: 2 ** 32, timestamp: 0n }), RangeError);
    assert.throws(() => encodeProbe({ type: 'probe', seq: -1, timestamp: 0n }), RangeError);
    assert.throws(() => encodeProbe({ type: 'probe', seq: 1, timestamp: 1n << 64n }), RangeError);
  });
});

describe('EchoResponder over loopback', () => {
  const responders: EchoResponder[] = [];
  const sockets: dgram.Socket[] = [];
  afterEach(async () => {
    for (const r of responders.splice(0)) await r.stop();
    for (const s of sockets.splice(0)) s.close();
  });

  async function responder(bindAddr = '127.0.0.1', port = 0) {
    const r = new EchoResponder({}, { bindAddr, port });
    responders.push(r);
    await r.start();
    return r;
  }

  async function client() {
    const s = dgram.createSocket('udp4');
    sockets.push(s);
    s.bind(0, '127.0.0.1');
    await once(s, 'listening');
    const received: Buffer[] = [];
    s.on('message', (m) => received.push(m));
    return { socket: s, received };
  }

  async function nextMessage(s: dgram.Socket): Promise<{ msg: Buffer; rinfo: dgram.RemoteInfo }> {
    const [msg, rinfo] = (await once(s, 'message')) as [Buffer, dgram.RemoteInfo];
    return { msg, rinfo };
  }

  test('a probe comes back as a reply with the same sequence number and timestamp', async () => {
    const r = await responder('127.0.0.2');
    assert.ok(r.port > 0);
    const { socket } = await client();

    const reply = nextMessage(socket);
    socket.send(encodeProbe({ type: 'probe', seq: 99, timestamp: 1234567890123n }), r.port, '127.0.0.2');
    const { msg, rinfo } = await reply;

    assert.deepEqual(decodeProbe(msg), { type: 'reply', seq: 99, timestamp: 1234567890123n });
    assert.equal(rinfo.address, '127.0.0.2', 'answered from the bound address');
    assert.equal(rinfo.port, r.port);
    assert.equal(r.stats.echoed, 1);
  });

  test('garbage is dropped unanswered and the responder keeps working', async () => {
    const r = await responder();
    const { socket, received } = await client();

    // Step 1: every kind of wrong packet, including replies (answering those could ping-pong).
    const garbage = [
      Buffer.alloc(0),
      Buffer.from('hello'),
      Buffer.alloc(PROBE_SIZE, 0xff),
      Buffer.alloc(1400, 0x41),
      encodeProbe({ type: 'reply', seq: 1, timestamp: 1n }),
      Buffer.concat([encodeProbe({ type: 'probe', seq: 1, timestamp: 1n }), Buffer.from([0])]),
      (() => { const b = encodeProbe({ type: 'probe', seq: 1, timestamp: 1n }); b[4] = 9; return b; })(),
    ];
    for (let i = 0; i < 100; i++) garbage.push(Buffer.from(Array.from({ length: (i * 7) % 64 }, (_, j) => (i * 31 + j * 17) & 0xff)));
    for (const g of garbage) socket.send(g, r.port, '127.0.0.1');

    // Step 2: a good probe after them is still answered; loopback keeps order, so all garbage was seen by then.
    const reply = nextMessage(socket);
    socket.send(encodeProbe({ type: 'probe', seq: 5, timestamp: 5n }), r.port, '127.0.0.1');
    const { msg } = await reply;
    assert.deepEqual(decodeProbe(msg), { type: 'reply', seq: 5, timestamp: 5n });
    assert.equal(received.length, 1, 'only the good probe was answered');
    assert.equal(r.stats.rejected, garbage.length);
    assert.equal(r.stats.echoed, 1);
  });

  test('an address this host does not have, or a taken port, is a clear RttConfigError', async () => {
    const bad = new EchoResponder({}, { bindAddr: '192.0.2.123', port: 0 });
    await assert.rejects(bad.start(), (err: Error) => err instanceof RttConfigError && /192\.0\.2\.123/.test(err.message));

    const r = await responder();
    const clash = new EchoResponder({}, { bindAddr: '127.0.0.1', port: r.port });
    await assert.rejects(clash.start(), RttConfigError);

    assert.throws(() => new EchoResponder({}, { bindAddr: 'mesh-ip', port: 1 }), RttConfigError);
    assert.throws(() => new EchoResponder({}, { bindAddr: '127.0.0.1', port: 70000 }), RttConfigError);
  });

  test('stop releases the port', async () => {
    const r = await responder();
    const port = r.port;
    await r.stop();
    assert.equal(r.port, 0);
    const again = await responder('127.0.0.1', port);
    assert.equal(again.port, port);
  });
});
