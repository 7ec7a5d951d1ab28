import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { promisify } from 'node:util';
import { StunResponder } from '../../src/stun/responder.js';
import { StunPortInUse } from '../../src/errors.js';
import {
  AttributeType,
  codecTransport,
  decodeAddress,
  decodeMessage,
  discoverPublicEndpoint,
  encodeBindingRequest,
  encodeMessage,
  errorCodeOf,
  MessageType,
  newTransactionId,
  unknownAttributesOf,
  type StunMessage,
} from '@wgmesh/agent';

const run = promisify(execFile);

/** Sends one datagram from a fresh socket and waits for one answer (or undefined after timeoutMs). */
async function exchange(
  port: number,
  packet: Buffer,
  timeoutMs = 1000,
  host = '127.0.0.1',
): Promise<{ reply: Buffer; localPort: number } | undefined> {
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((resolve) => socket.bind(0, host, resolve));
    const localPort = socket.address().port;
    return await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs);
      socket.once('message', (reply) => {
        clearTimeout(timer);
        resolve({ reply, localPort });
      });
      socket.send(packet, port, host);
    });
  } finally {
    socket.close();
  }
}

async function bindingAnswer(port: number, host = '127.0.0.1'): Promise<{ message: StunMessage; localPort: number; transactionId: Buffer }> {
  const transactionId = newTransactionId();
  const got = await exchange(port, encodeBindingRequest(transactionId), 1000, host);
  assert.ok(got, 'the responder answers a Binding request');
  return { message: decodeMessage(got.reply), localPort: got.localPort, transactionId };
}

/** An independent RFC 5389 client in Python: raw bytes, its own XOR and CRC-32 (zlib). */
const PYTHON_CLIENT = String.raw`
import json, os, socket, struct, sys, zlib
host, port = sys.argv[1], int(sys.argv[2])
COOKIE = 0x2112A442
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.bind(("127.0.0.1", 0))
tx = os.urandom(12)
s.sendto(struct.pack("!HHI", 0x0001, 0, COOKIE) + tx, (host, port))
data, _ = s.recvfrom(2048)
mtype, length, cookie = struct.unpack("!HHI", data[:8])
out = {"type": mtype, "cookie_ok": cookie == COOKIE, "length_ok": length == len(data) - 20,
       "txid_ok": data[8:20] == tx, "local_port": s.getsockname()[1]}
off = 20
while off + 4 <= len(data):
    t, l = struct.unpack("!HH", data[off:off + 4])
    v = data[off + 4:off + 4 + l]
    if t == 0x0020:
        xport = struct.unpack("!H", v[2:4])[0] ^ (COOKIE >> 16)
        xip = bytes(a ^ b for a, b in zip(v[4:8], struct.pack("!I", COOKIE)))
        out["xor_mapped"] = [v[1], socket.inet_ntoa(xip), xport]
    elif t == 0x0001:
        out["mapped"] = [v[1], socket.inet_ntoa(v[4:8]), struct.unpack("!H", v[2:4])[0]]
    elif t == 0x8022:
        out["software"] = v.decode()
    elif t == 0x8028:
        out["fingerprint_ok"] = struct.unpack("!I", v)[0] == (zlib.crc32(data[:off]) ^ 0x5354554E)
    off += 4 + ((l + 3) & ~3)
print(json.dumps(out))
`;

describe('StunResponder', () => {
  const responder = new StunResponder({ bindAddr: '127.0.0.1', port: 0 });

  before(async () => {
    await responder.start();
  });
  after(async () => {
    await responder.stop();
  });

  it('picks a free port when asked for port 0', () => {
    assert.ok(responder.listening);
    assert.ok(responder.port > 0 && responder.port < 65536);
  });

  // The agent's client: the same codec on both sides, so the Python client below is the independent check.
  const transport = codecTransport;
  it(`answers the agent's client [${transport.name}] with 127.0.0.1 and the client's own source port`, async () => {
    const endpoint = await discoverPublicEndpoint([`127.0.0.1:${responder.port}`], { transport });
    assert.equal(endpoint.ip, '127.0.0.1');
    assert.equal(endpoint.port, endpoint.localPort);

    const holder = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => holder.bind(0, '127.0.0.1', resolve));
    const localPort = holder.address().port;
    await new Promise<void>((resolve) => holder.close(resolve));
    const pinned = await discoverPublicEndpoint([`127.0.0.1:${responder.port}`], { transport, localPort, localAddress: '127.0.0.1' });
    assert.deepEqual(pinned, { ip: '127.0.0.1', port: localPort, server: `127.0.0.1:${responder.port}`, localPort });
  });

  it('answers with XOR-MAPPED-ADDRESS and MAPPED-ADDRESS, the request\'s transaction id and a valid FINGERPRINT (pure codec)', async () => {
    const { message, localPort, transactionId } = await bindingAnswer(responder.port);
    assert.equal(message.type, MessageType.BindingSuccess);
    assert.deepEqual(message.transactionId, transactionId, 'the transaction id is echoed');
    const types = message.attributes.map((a) => a.type);
    assert.deepEqual(types, [AttributeType.XorMappedAddress, AttributeType.MappedAddress, AttributeType.Software, AttributeType.Fingerprint]);
    // decodeMessage already verified FINGERPRINT; both address forms name the sender.
    const [xored, plain] = message.attributes;
    assert.equal(xored!.value.toString('hex').slice(0, 4), '0001', 'IPv4 family');
    assert.deepEqual(decodeAddress(xored!.value, true, transactionId), { family: 4, ip: '127.0.0.1', port: localPort });
    assert.deepEqual(decodeAddress(plain!.value, false, transactionId), { family: 4, ip: '127.0.0.1', port: localPort });
  });

  it('is understood by an independent Python client', async () => {
    const { stdout } = await run('python3', ['-c', PYTHON_CLIENT, '127.0.0.1', String(responder.port)], { timeout: 10_000 });
    const out = JSON.parse(stdout) as Record<string, unknown>;
    assert.deepEqual(out, {
      type: 0x0101,
      cookie_ok: true,
      length_ok: true,
      txid_ok: true,
      local_port: out.local_port,
      xor_mapped: [1, '127.0.0.1', out.local_port],
      mapped: [1, '127.0.0.1', out.local_port],
      software: 'wgmesh',
      fingerprint_ok: true,
    });
  });

  it('answers a request carrying FINGERPRINT and SOFTWARE', async () => {
    const transactionId = newTransactionId();
    const got = await exchange(responder.port, encodeBindingRequest(transactionId, { software: 'test', fingerprint: true }));
    assert.ok(got);
    assert.equal(decodeMessage(got.reply).type, MessageType.BindingSuccess);
  });

  it('answers 420 listing unknown comprehension-required attributes', async () => {
    const transactionId = newTransactionId();
    const request = encodeMessage({
      type: MessageType.BindingRequest,
      transactionId,
      attributes: [
        { type: 0x0003, value: Buffer.from([0, 0, 0, 6]) }, // CHANGE-REQUEST: this server has one address
        { type: 0x8029, value: Buffer.alloc(8) }, // comprehension-optional: ignored
      ],
    });
    const got = await exchange(responder.port, request);
    assert.ok(got);
    const reply = decodeMessage(got.reply);
    assert.equal(reply.type, MessageType.BindingError);
    assert.deepEqual(reply.transactionId, transactionId);
    assert.equal(errorCodeOf(reply)?.code, 420);
    assert.deepEqual(unknownAttributesOf(reply), [0x0003]);
  });

  it('answers 400 to requests of other methods (it is no TURN server)', async () => {
    const transactionId = newTransactionId();
    const got = await exchange(responder.port, encodeMessage({ type: 0x0003, transactionId, attributes: [] }));
    assert.ok(got);
    const reply = decodeMessage(got.reply);
    assert.equal(reply.type, 0x0113, 'Allocate error response');
    assert.equal(errorCodeOf(reply)?.code, 400);
  });

  it('stays silent for indications, responses and RFC 3489 requests', async () => {
    const indication = encodeMessage({ type: MessageType.BindingIndication, transactionId: newTransactionId(), attributes: [] });
    const response = encodeMessage({ type: MessageType.BindingSuccess, transactionId: newTransactionId(), attributes: [] });
    const legacy = Buffer.concat([Buffer.from('00010000', 'hex'), newTransactionId(), Buffer.alloc(4, 7)]);
    const before = responder.stats.ignored;
    for (const packet of [indication, response, legacy]) assert.equal(await exchange(responder.port, packet, 150), undefined);
    assert.equal(responder.stats.ignored, before + 3);
  });

  it('drops malformed datagrams without crashing and still answers afterwards', async () => {
    let seed = 0xbeef;
    const random = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 0x100000000;
    };
    const valid = encodeBindingRequest(newTransactionId(), { software: 'fuzz', fingerprint: true });
    const packets: Buffer[] = [
      Buffer.alloc(0),
      Buffer.from('hello'),
      valid.subarray(0, 19),
      valid.subarray(0, 30),
      Buffer.concat([valid, Buffer.alloc(4)]), // trailing bytes beyond the length field
      Buffer.concat([valid.subarray(0, 2), Buffer.from([0xff, 0xfc]), valid.subarray(4)]), // huge length
      Buffer.alloc(2000, 0x41), // oversized
    ];
    for (let i = 0; i < 300; i++) {
      if (i % 2 === 0) {
        const packet = Buffer.alloc(Math.floor(random() * 100));
        for (let j = 0; j < packet.length; j++) packet[j] = Math.floor(random() * 256);
        if (packet.length >= 20 && random() < 0.5) {
          packet[0] = packet[0]! & 0x3f;
          packet.writeUInt16BE((packet.length - 20) & 0xfffc, 2);
          packet.writeUInt32BE(0x2112a442, 4);
        }
        packets.push(packet);
      } else {
        const packet = Buffer.from(valid);
        packet[8 + Math.floor(random() * (packet.length - 8))] = Math.floor(random() * 256);
        packets.push(packet);
      }
    }
    const sender = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => sender.bind(0, '127.0.0.1', resolve));
    sender.on('message', () => {}); // answers to mutations that stayed valid (e.g. a changed transaction id)
    const received = responder.stats.received;
    // In batches, each one handled before the next: a flood would only overflow the kernel's
    // receive buffer, which tests the kernel rather than the responder.
    for (let i = 0; i < packets.length; i += 25) {
      const batch = packets.slice(i, i + 25);
      for (const packet of batch) {
        await new Promise<void>((resolve, reject) => sender.send(packet, responder.port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
      }
      const deadline = Date.now() + 5000;
      while (responder.stats.received < received + i + batch.length) {
        assert.ok(Date.now() < deadline, `the responder handled ${responder.stats.received - received} of ${i + batch.length} datagrams`);
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    const { message } = await bindingAnswer(responder.port);
    sender.close();
    assert.equal(message.type, MessageType.BindingSuccess, 'still answering');
    const stats = responder.stats;
    assert.equal(stats.received - received, packets.length + 1, 'every datagram reached the handler');
    assert.ok(stats.malformed >= 7, `malformed: ${stats.malformed}`);
    assert.equal(stats.sendFailures, 0);
  });

  it('refuses a port in use with a clear error', async () => {
    const second = new StunResponder({ bindAddr: '127.0.0.1', port: responder.port });
    await assert.rejects(second.start(), (err) => {
      assert.ok(err instanceof StunPortInUse);
      assert.equal(err.message, `UDP port ${responder.port} is in use; pick another -stun-port, or -stun-port 0 to disable`);
      return true;
    });
    assert.equal(second.listening, false);
    await second.stop(); // a no-op, not an error
  });
});

describe('StunResponder on IPv6 and dual-stack sockets', () => {
  it('answers an IPv6 client with an IPv6 XOR-MAPPED-ADDRESS', async () => {
    const responder = new StunResponder({ bindAddr: '::1', port: 0 });
    await responder.start();
    try {
      const { message, localPort, transactionId } = await bindingAnswer(responder.port, '::1');
        assert.deepEqual(decodeAddress(message.attributes[0]!.value, true, transactionId), { family: 6, ip: '::1', port: localPort });
    } finally {
      await responder.stop();
    }
  });

  it('answers an IPv4 client of a "::" socket with its plain IPv4 address', async () => {
    const responder = new StunResponder({ bindAddr: '::', port: 0 });
    await responder.start();
    try {
      const endpoint = await discoverPublicEndpoint([`127.0.0.1:${responder.port}`]);
      assert.equal(endpoint.ip, '127.0.0.1');
      assert.equal(endpoint.port, endpoint.localPort);
    } finally {
      await responder.stop();
    }
  });

  it('can be stopped and started again', async () => {
    const responder = new StunResponder({ bindAddr: '127.0.0.1', port: 0 });
    await responder.start();
    await assert.rejects(responder.start(), /already started/);
    await responder.stop();
    await responder.stop();
    await responder.start();
    assert.equal((await bindingAnswer(responder.port)).message.type, MessageType.BindingSuccess);
    await responder.stop();
  });
});
