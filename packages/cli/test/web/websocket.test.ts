import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptKey, decodeFrame, encodeFrame, OPCODE, textFrame, validKey } from '../../src/web/websocket.js';
import { clientFrame } from './ws-client.js';

describe('websocket framing (RFC 6455)', () => {
  test("the handshake's accept key: the RFC's own example", () => {
    assert.equal(acceptKey('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    assert.equal(validKey('dGhlIHNhbXBsZSBub25jZQ=='), true);
    assert.equal(validKey('short'), false);
    assert.equal(validKey(undefined), false);
  });

  test('server text frames: final, unmasked, with 7-bit, 16-bit and 64-bit lengths', () => {
    assert.deepEqual([...textFrame('Hi')], [0x81, 2, 0x48, 0x69]);
    const mid = encodeFrame(OPCODE.text, Buffer.alloc(300, 0x61));
    assert.deepEqual([...mid.subarray(0, 4)], [0x81, 126, 1, 44]);
    assert.equal(mid.length, 304);
    const big = encodeFrame(OPCODE.text, Buffer.alloc(70_000));
    assert.equal(big[1], 127);
    assert.equal(big.readBigUInt64BE(2), 70_000n);
    // And they read back.
    assert.equal(decodeFrame(mid)!.frame.payload.toString(), 'a'.repeat(300));
    assert.equal(decodeFrame(big, 100_000)!.size, 70_010);
  });

  test('client frames: unmasked on reading, incomplete ones wait for more bytes, huge ones are refused', () => {
    const frame = clientFrame(OPCODE.text, Buffer.from('hello'));
    const decoded = decodeFrame(frame)!;
    assert.equal(decoded.frame.masked, true);
    assert.equal(decoded.frame.opcode, OPCODE.text);
    assert.equal(decoded.frame.payload.toString(), 'hello');
    assert.equal(decoded.size, frame.length);
    assert.equal(decodeFrame(frame.subarray(0, frame.length - 1)), undefined);
    assert.equal(decodeFrame(frame.subarray(0, 1)), undefined);
    assert.throws(() => decodeFrame(clientFrame(OPCODE.binary, Buffer.alloc(2000)), 1000), /websocket frame of 2000 bytes/);
  });
});
