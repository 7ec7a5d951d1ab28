import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  AttributeType,
  crc32,
  decodeAddress,
  decodeMessage,
  describeType,
  encodeAddress,
  encodeBindingError,
  encodeBindingRequest,
  encodeBindingSuccess,
  encodeErrorResponse,
  errorCodeOf,
  looksLikeStun,
  mappedAddressOf,
  MessageType,
  newTransactionId,
  unknownAttributesOf,
  unknownRequiredAttributes,
} from '../../src/stun/codec.js';
import { StunDecodeError } from '../../src/errors.js';

// RFC 5769 (test vectors for STUN) §2.2 and §2.3, byte for byte.
const RFC5769_TXID = Buffer.from('b7e7a701bc34d686fa87dfae', 'hex');
const RFC5769_IPV4_RESPONSE = Buffer.from(
  '0101003c2112a442b7e7a701bc34d686fa87dfae' +
    '8022000b7465737420766563746f7220' +
    '002000080001a147e112a643' +
    '000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7' +
    '80280004c07d4c96',
  'hex',
);
const RFC5769_IPV6_RESPONSE = Buffer.from(
  '010100482112a442b7e7a701bc34d686fa87dfae' +
    '8022000b7465737420766563746f7220' +
    '002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9' +
    '00080014a382954e4be67bf11784c97c8292c275bfe3ed41' +
    '80280004c8fb0b4c',
  'hex',
);

describe('STUN codec: RFC 5769 test vectors', () => {
  it('decodes the sample IPv4 response, FINGERPRINT included', () => {
    const message = decodeMessage(RFC5769_IPV4_RESPONSE);
    assert.equal(message.type, MessageType.BindingSuccess);
    assert.deepEqual(message.transactionId, RFC5769_TXID);
    assert.deepEqual(mappedAddressOf(message), { family: 4, ip: '192.0.2.1', port: 32853 });
    const software = message.attributes.find((a) => a.type === AttributeType.Software);
    assert.equal(software?.value.toString('utf8'), 'test vector');
  });

  it('decodes the sample IPv6 response', () => {
    const message = decodeMessage(RFC5769_IPV6_RESPONSE);
    assert.deepEqual(mappedAddressOf(message), { family: 6, ip: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 });
  });

  it('encodes XOR-MAPPED-ADDRESS to the same bytes as the RFC', () => {
    assert.equal(encodeAddress({ ip: '192.0.2.1', port: 32853 }, true, RFC5769_TXID).toString('hex'), '0001a147e112a643');
    assert.equal(
      encodeAddress({ ip: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 }, true, RFC5769_TXID).toString('hex'),
      '0002a1470113a9faa5d3f179bc25f4b5bed2b9d9',
    );
  });

  it('rejects a vector with one flipped bit, by its FINGERPRINT', () => {
    const corrupted = Buffer.from(RFC5769_IPV4_RESPONSE);
    corrupted[45] = corrupted[45]! ^ 0x01; // inside the XOR'd address
    assert.throws(() => decodeMessage(corrupted), (err) => err instanceof StunDecodeError && /FINGERPRINT/.test(err.message));
  });

  it('computes CRC-32 like zlib', () => {
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  });
});

describe('STUN codec: building messages', () => {
  it('a Binding request is a bare 20-byte header with the magic cookie', () => {
    const transactionId = newTransactionId();
    const request = encodeBindingRequest(transactionId);
    assert.equal(request.length, 20);
    assert.equal(request.readUInt16BE(0), 0x0001);
    assert.equal(request.readUInt16BE(2), 0);
    assert.equal(request.readUInt32BE(4), 0x2112a442);
    assert.deepEqual(request.subarray(8), transactionId);
    assert.ok(looksLikeStun(request));
  });

  it('a request with SOFTWARE and FINGERPRINT decodes back', () => {
    const transactionId = newTransactionId();
    const message = decodeMessage(encodeBindingRequest(transactionId, { software: 'wgmesh test', fingerprint: true }));
    assert.deepEqual(message.transactionId, transactionId);
    assert.deepEqual(message.attributes.map((a) => a.type), [AttributeType.Software, AttributeType.Fingerprint]);
  });

  it('a success response round-trips IPv4 and IPv6, XOR and plain', () => {
    for (const mapped of [
      { ip: '203.0.113.7', port: 54540 },
      { ip: '2001:db8::1', port: 1 },
      { ip: '::ffff:192.0.2.9', port: 65535 },
    ]) {
      const transactionId = newTransactionId();
      const message = decodeMessage(encodeBindingSuccess(transactionId, mapped, { software: 'wgmesh', fingerprint: true }));
      assert.equal(message.type, MessageType.BindingSuccess);
      const xored = mappedAddressOf(message);
      const plain = message.attributes.find((a) => a.type === AttributeType.MappedAddress);
      assert.ok(plain, 'MAPPED-ADDRESS is included by default');
      assert.deepEqual(decodeAddress(plain.value, false, transactionId), xored);
      assert.deepEqual({ ip: xored?.ip, port: xored?.port }, mapped);
    }
  });

  it('an error response carries code, reason and the unknown attributes', () => {
    const message = decodeMessage(
      encodeBindingError(newTransactionId(), { code: 420, reason: 'Unknown Attribute', unknownAttributes: [0x0003, 0x7777] }),
    );
    assert.equal(message.type, MessageType.BindingError);
    assert.deepEqual(errorCodeOf(message), { code: 420, reason: 'Unknown Attribute' });
    assert.deepEqual(unknownAttributesOf(message), [0x0003, 0x7777]);
  });

  it('an error response to another method is of that method, with SOFTWARE and FINGERPRINT when asked', () => {
    const transactionId = newTransactionId();
    const packet = encodeErrorResponse(0x0003, transactionId, { code: 400, reason: 'Bad Request' }, { software: 'wgmesh', fingerprint: true });
    const message = decodeMessage(packet);
    assert.equal(message.type, 0x0113, 'Allocate error response');
    assert.equal(describeType(message.type), 'method 0x3 error response');
    assert.deepEqual(message.transactionId, transactionId);
    assert.deepEqual(message.attributes.map((a) => a.type), [AttributeType.ErrorCode, AttributeType.Software, AttributeType.Fingerprint]);
    assert.deepEqual(errorCodeOf(message), { code: 400, reason: 'Bad Request' });
  });

  it('finds unknown comprehension-required attributes and ignores optional ones', () => {
    const message = {
      type: MessageType.BindingRequest,
      transactionId: newTransactionId(),
      attributes: [
        { type: 0x0003, value: Buffer.alloc(4) }, // CHANGE-REQUEST (RFC 5780): required, unknown to RFC 5389
        { type: 0x8029, value: Buffer.alloc(8) }, // ICE-CONTROLLED: comprehension-optional
        { type: AttributeType.Software, value: Buffer.from('x') },
      ],
    };
    assert.deepEqual(unknownRequiredAttributes(message), [0x0003]);
  });

  it('names message types for logs', () => {
    assert.equal(describeType(0x0001), 'Binding request');
    assert.equal(describeType(0x0101), 'Binding success response');
    assert.equal(describeType(0x0111), 'Binding error response');
    assert.equal(describeType(0x0003), 'method 0x3 request');
  });
});

describe('STUN codec: hostile input', () => {
  it('rejects each broken rule with StunDecodeError', () => {
    const good = encodeBindingRequest(newTransactionId(), { software: 'abc' });
    const cases: [string, Buffer][] = [
      ['empty', Buffer.alloc(0)],
      ['short', good.subarray(0, 19)],
      ['top bits set', Buffer.concat([Buffer.from([0xc0 | good[0]!]), good.subarray(1)])],
      ['wrong cookie', Buffer.concat([good.subarray(0, 4), Buffer.from('deadbeef', 'hex'), good.subarray(8)])],
      ['length too long', Buffer.concat([good.subarray(0, 2), Buffer.from([0x00, 0x40]), good.subarray(4)])],
      ['truncated attribute', Buffer.concat([good.subarray(0, 2), Buffer.from([0x00, 0x04]), good.subarray(4, 24)])],
    ];
    for (const [name, packet] of cases) {
      assert.throws(() => decodeMessage(packet), StunDecodeError, name);
      if (name !== 'truncated attribute') assert.equal(looksLikeStun(packet), false, name);
    }
  });

  it('never throws anything but StunDecodeError on random or mutated datagrams', () => {
    let seed = 0x5eed;
    const random = () => {
      // xorshift32: deterministic, so a failure reproduces
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 0x100000000;
    };
    const valid = [
      RFC5769_IPV4_RESPONSE,
      RFC5769_IPV6_RESPONSE,
      encodeBindingSuccess(newTransactionId(), { ip: '198.51.100.4', port: 4000 }),
      encodeBindingError(newTransactionId(), { code: 420, reason: 'x', unknownAttributes: [3] }),
    ];
    let decoded = 0;
    for (let i = 0; i < 5000; i++) {
      let packet: Buffer;
      if (i % 2 === 0) {
        packet = Buffer.alloc(Math.floor(random() * 120));
        for (let j = 0; j < packet.length; j++) packet[j] = Math.floor(random() * 256);
        if (packet.length >= 8 && random() < 0.5) packet.writeUInt32BE(0x2112a442, 4);
        if (packet.length >= 4 && random() < 0.5) packet.writeUInt16BE((packet.length - 20) & 0xfffc, 2);
      } else {
        packet = Buffer.from(valid[i % valid.length]!);
        const flips = 1 + Math.floor(random() * 4);
        for (let f = 0; f < flips; f++) packet[Math.floor(random() * packet.length)] = Math.floor(random() * 256);
      }
      try {
        const message = decodeMessage(packet);
        decoded++;
        try {
          mappedAddressOf(message);
          errorCodeOf(message);
        } catch (err) {
          assert.ok(err instanceof StunDecodeError, `attribute decoding threw ${String(err)}`);
        }
      } catch (err) {
        assert.ok(err instanceof StunDecodeError, `packet ${packet.toString('hex')} threw ${String(err)}`);
      }
    }
    assert.ok(decoded > 0, 'some mutations still decode (and then must be handled)');
  });
});
