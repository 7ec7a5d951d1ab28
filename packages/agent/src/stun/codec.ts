/**
 * A pure RFC 5389 STUN codec for the Binding method: it encodes and decodes bytes and owns no
 * socket, no timer and no clock (the Tailscale `net/stun` shape). It is wgmesh's one STUN
 * implementation: the agent's client (client.ts) and the bootstrap's responder both speak
 * through it. Its tests hold it to servers and clients nobody here wrote (coturn, a Python
 * client with its own XOR and CRC-32), so it is not only checked against itself.
 *
 * Covered: the 20-byte header with the magic cookie, TLV attributes with 32-bit padding,
 * MAPPED-ADDRESS and XOR-MAPPED-ADDRESS (IPv4 and IPv6), ERROR-CODE, UNKNOWN-ATTRIBUTES,
 * SOFTWARE and FINGERPRINT (CRC-32 xor 0x5354554e). Not covered: MESSAGE-INTEGRITY (no
 * credentials are used on the Binding path) and RFC 3489 messages without the magic cookie.
 */
import { randomBytes } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { StunDecodeError } from '../errors.js';

export const MAGIC_COOKIE = 0x2112a442;
export const HEADER_LENGTH = 20;
export const TRANSACTION_ID_LENGTH = 12;
/** A Binding response never needs more; anything longer is not from a STUN server we talk to. */
export const MAX_MESSAGE_LENGTH = 1500;

export const MessageType = {
  BindingRequest: 0x0001,
  BindingIndication: 0x0011,
  BindingSuccess: 0x0101,
  BindingError: 0x0111,
} as const;

export const AttributeType = {
  MappedAddress: 0x0001,
  Username: 0x0006,
  MessageIntegrity: 0x0008,
  ErrorCode: 0x0009,
  UnknownAttributes: 0x000a,
  Realm: 0x0014,
  Nonce: 0x0015,
  XorMappedAddress: 0x0020,
  Software: 0x8022,
  AlternateServer: 0x8023,
  Fingerprint: 0x8028,
} as const;

/** Every attribute RFC 5389 itself defines: a server "understands" these. */
export const RFC5389_ATTRIBUTES: ReadonlySet<number> = new Set(Object.values(AttributeType));

const FINGERPRINT_XOR = 0x5354554e;
const FAMILY_IPV4 = 0x01;
const FAMILY_IPV6 = 0x02;

export interface StunAttribute {
  readonly type: number;
  readonly value: Buffer;
}

export interface StunMessage {
  readonly type: number;
  readonly transactionId: Buffer;
  readonly attributes: readonly StunAttribute[];
}

export interface TransportAddress {
  readonly family: 4 | 6;
  readonly ip: string;
  readonly port: number;
}

/** A fresh random 96-bit transaction id (RFC 5389 §6: cryptographically random). */
export function newTransactionId(): Buffer {
  return randomBytes(TRANSACTION_ID_LENGTH);
}

/** `STUN method class` in words, for logs: 0x0101 → "Binding success response". */
export function describeType(type: number): string {
  const method = (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
  const cls = ((type & 0x0100) >> 7) | ((type & 0x0010) >> 4);
  const className = ['request', 'indication', 'success response', 'error response'][cls];
  return `${method === 1 ? 'Binding' : `method 0x${method.toString(16)}`} ${className}`;
}

/**
 * The cheap test a server runs on every datagram before decoding it (RFC 5389 §7.3): long
 * enough, first two bits zero, the magic cookie, and a length field that matches the datagram
 * and is a multiple of four.
 */
export function looksLikeStun(packet: Uint8Array): boolean {
  if (packet.length < HEADER_LENGTH || packet.length > MAX_MESSAGE_LENGTH) return false;
  if ((packet[0]! & 0xc0) !== 0) return false;
  const view = Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength);
  const length = view.readUInt16BE(2);
  return length % 4 === 0 && length === packet.length - HEADER_LENGTH && view.readUInt32BE(4) === MAGIC_COOKIE;
}

/**
 * Decodes a whole STUN message. Throws StunDecodeError for anything malformed: a bad header,
 * an attribute running past the end, or a FINGERPRINT that does not match (or is not last).
 * The returned buffers are copies, safe to keep after the datagram buffer is reused.
 */
export function decodeMessage(packet: Uint8Array): StunMessage {
  if (packet.length < HEADER_LENGTH) throw new StunDecodeError(`${packet.length} bytes, shorter than the 20-byte header`);
  if (packet.length > MAX_MESSAGE_LENGTH) throw new StunDecodeError(`${packet.length} bytes, longer than ${MAX_MESSAGE_LENGTH}`);
  const buf = Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength);
  const type = buf.readUInt16BE(0);
  if ((type & 0xc000) !== 0) throw new StunDecodeError('the first two bits are not zero');
  const length = buf.readUInt16BE(2);
  if (length !== buf.length - HEADER_LENGTH) {
    throw new StunDecodeError(`length field ${length} does not match the ${buf.length - HEADER_LENGTH} bytes after the header`);
  }
  if (length % 4 !== 0) throw new StunDecodeError(`length ${length} is not a multiple of 4`);
  if (buf.readUInt32BE(4) !== MAGIC_COOKIE) throw new StunDecodeError('no magic cookie (an RFC 3489 message?)');
  const transactionId = Buffer.from(buf.subarray(8, HEADER_LENGTH));

  const attributes: StunAttribute[] = [];
  let offset = HEADER_LENGTH;
  while (offset < buf.length) {
    if (offset + 4 > buf.length) throw new StunDecodeError(`truncated attribute header at byte ${offset}`);
    const attrType = buf.readUInt16BE(offset);
    const attrLength = buf.readUInt16BE(offset + 2);
    const valueStart = offset + 4;
    const next = valueStart + pad4(attrLength);
    if (next > buf.length) {
      throw new StunDecodeError(`attribute 0x${hex4(attrType)} of length ${attrLength} runs past the end at byte ${offset}`);
    }
    if (attrType === AttributeType.Fingerprint) {
      if (next !== buf.length) throw new StunDecodeError('FINGERPRINT is not the last attribute');
      if (attrLength !== 4) throw new StunDecodeError(`FINGERPRINT has length ${attrLength}, not 4`);
      const expected = (crc32(buf.subarray(0, offset)) ^ FINGERPRINT_XOR) >>> 0;
      if (buf.readUInt32BE(valueStart) !== expected) throw new StunDecodeError('FINGERPRINT does not match (corrupted datagram?)');
    }
    attributes.push({ type: attrType, value: Buffer.from(buf.subarray(valueStart, valueStart + attrLength)) });
    offset = next;
  }
  return { type, transactionId, attributes };
}

export interface EncodeOptions {
  /** Append a FINGERPRINT attribute (RFC 5389 §15.5). */
  fingerprint?: boolean;
}

/** Encodes a message: header, attributes padded to 32 bits, and optionally a FINGERPRINT. */
export function encodeMessage(message: StunMessage, options: EncodeOptions = {}): Buffer {
  if (message.transactionId.length !== TRANSACTION_ID_LENGTH) {
    throw new RangeError(`a transaction id has ${TRANSACTION_ID_LENGTH} bytes, not ${message.transactionId.length}`);
  }
  const parts: Buffer[] = [];
  for (const attr of message.attributes) parts.push(encodeAttribute(attr.type, attr.value));
  const bodyLength = parts.reduce((n, p) => n + p.length, 0) + (options.fingerprint ? 8 : 0);
  const header = Buffer.alloc(HEADER_LENGTH);
  header.writeUInt16BE(message.type & 0x3fff, 0);
  header.writeUInt16BE(bodyLength, 2);
  header.writeUInt32BE(MAGIC_COOKIE, 4);
  message.transactionId.copy(header, 8);
  const withoutFingerprint = Buffer.concat([header, ...parts]);
  if (!options.fingerprint) return withoutFingerprint;
  const value = Buffer.alloc(4);
  // The CRC covers the header with its length already counting the FINGERPRINT attribute.
  value.writeUInt32BE((crc32(withoutFingerprint) ^ FINGERPRINT_XOR) >>> 0, 0);
  return Buffer.concat([withoutFingerprint, encodeAttribute(AttributeType.Fingerprint, value)]);
}

/** A Binding request: no attributes unless asked (SOFTWARE is optional, FINGERPRINT recommended off by default). */
export function encodeBindingRequest(transactionId: Buffer, options: EncodeOptions & { software?: string } = {}): Buffer {
  const attributes: StunAttribute[] = [];
  if (options.software) attributes.push({ type: AttributeType.Software, value: Buffer.from(options.software, 'utf8') });
  return encodeMessage({ type: MessageType.BindingRequest, transactionId, attributes }, options);
}

export interface BindingSuccessOptions extends EncodeOptions {
  software?: string;
  /** Also send the plain MAPPED-ADDRESS, for clients that predate XOR-MAPPED-ADDRESS. Default true. */
  mappedAddress?: boolean;
}

/** A Binding success response carrying the request's transaction id and the reflexive address. */
export function encodeBindingSuccess(
  transactionId: Buffer,
  mapped: { ip: string; port: number },
  options: BindingSuccessOptions = {},
): Buffer {
  const attributes: StunAttribute[] = [
    { type: AttributeType.XorMappedAddress, value: encodeAddress(mapped, true, transactionId) },
  ];
  if (options.mappedAddress !== false) {
    attributes.push({ type: AttributeType.MappedAddress, value: encodeAddress(mapped, false, transactionId) });
  }
  if (options.software) attributes.push({ type: AttributeType.Software, value: Buffer.from(options.software, 'utf8') });
  return encodeMessage({ type: MessageType.BindingSuccess, transactionId, attributes }, options);
}

/** A Binding error response (e.g. 400 Bad Request, 420 Unknown Attribute with the list). */
export function encodeBindingError(
  transactionId: Buffer,
  error: { code: number; reason: string; unknownAttributes?: readonly number[] },
  options: EncodeOptions & { software?: string } = {},
): Buffer {
  return encodeErrorResponse(MessageType.BindingRequest, transactionId, error, options);
}

/**
 * The error response to a request of any method (`requestType`: the request's message type;
 * the response sets both class bits): ERROR-CODE, UNKNOWN-ATTRIBUTES when given, SOFTWARE
 * when asked. A server answers requests of methods it does not serve this way (400).
 */
export function encodeErrorResponse(
  requestType: number,
  transactionId: Buffer,
  error: { code: number; reason: string; unknownAttributes?: readonly number[] },
  options: EncodeOptions & { software?: string } = {},
): Buffer {
  const reason = Buffer.from(error.reason, 'utf8');
  const value = Buffer.alloc(4 + reason.length);
  value.writeUInt8(Math.floor(error.code / 100) & 0x07, 2);
  value.writeUInt8(error.code % 100, 3);
  reason.copy(value, 4);
  const attributes: StunAttribute[] = [{ type: AttributeType.ErrorCode, value }];
  if (error.unknownAttributes && error.unknownAttributes.length > 0) {
    const list = Buffer.alloc(2 * error.unknownAttributes.length);
    error.unknownAttributes.forEach((t, i) => list.writeUInt16BE(t, 2 * i));
    attributes.push({ type: AttributeType.UnknownAttributes, value: list });
  }
  if (options.software) attributes.push({ type: AttributeType.Software, value: Buffer.from(options.software, 'utf8') });
  return encodeMessage({ type: (requestType & 0x3eef) | 0x0110, transactionId, attributes }, options);
}

/** The value of a (XOR-)MAPPED-ADDRESS attribute. */
export function encodeAddress(address: { ip: string; port: number }, xor: boolean, transactionId: Buffer): Buffer {
  const v4 = isIPv4(address.ip);
  if (!v4 && !isIPv6(address.ip)) throw new RangeError(`"${address.ip}" is not an IP address`);
  if (!Number.isInteger(address.port) || address.port < 0 || address.port > 0xffff) {
    throw new RangeError(`${address.port} is not a port number`);
  }
  const ip = v4 ? ipv4ToBytes(address.ip) : ipv6ToBytes(address.ip);
  const value = Buffer.alloc(4 + ip.length);
  value.writeUInt8(v4 ? FAMILY_IPV4 : FAMILY_IPV6, 1);
  value.writeUInt16BE(xor ? address.port ^ (MAGIC_COOKIE >>> 16) : address.port, 2);
  const mask = xorMask(transactionId);
  for (let i = 0; i < ip.length; i++) value[4 + i] = xor ? ip[i]! ^ mask[i]! : ip[i]!;
  return value;
}

/** Decodes a (XOR-)MAPPED-ADDRESS value; throws StunDecodeError on a bad family or length. */
export function decodeAddress(value: Buffer, xor: boolean, transactionId: Buffer): TransportAddress {
  if (value.length < 4) throw new StunDecodeError(`address attribute of ${value.length} bytes`);
  const family = value.readUInt8(1);
  const size = family === FAMILY_IPV4 ? 4 : family === FAMILY_IPV6 ? 16 : 0;
  if (size === 0) throw new StunDecodeError(`address family 0x${family.toString(16)}`);
  if (value.length !== 4 + size) throw new StunDecodeError(`IPv${size === 4 ? 4 : 6} address attribute of ${value.length} bytes`);
  const rawPort = value.readUInt16BE(2);
  const port = xor ? rawPort ^ (MAGIC_COOKIE >>> 16) : rawPort;
  const mask = xorMask(transactionId);
  const ip = Buffer.alloc(size);
  for (let i = 0; i < size; i++) ip[i] = xor ? value[4 + i]! ^ mask[i]! : value[4 + i]!;
  return size === 4 ? { family: 4, ip: bytesToIpv4(ip), port } : { family: 6, ip: bytesToIpv6(ip), port };
}

/** The reflexive address of a Binding success response: XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS. */
export function mappedAddressOf(message: StunMessage): TransportAddress | undefined {
  const xored = message.attributes.find((a) => a.type === AttributeType.XorMappedAddress);
  if (xored) return decodeAddress(xored.value, true, message.transactionId);
  const plain = message.attributes.find((a) => a.type === AttributeType.MappedAddress);
  return plain ? decodeAddress(plain.value, false, message.transactionId) : undefined;
}

/** ERROR-CODE of an error response: code (300-699) and reason phrase. */
export function errorCodeOf(message: StunMessage): { code: number; reason: string } | undefined {
  const attr = message.attributes.find((a) => a.type === AttributeType.ErrorCode);
  if (!attr || attr.value.length < 4) return undefined;
  return { code: (attr.value[2]! & 0x07) * 100 + attr.value[3]!, reason: attr.value.subarray(4).toString('utf8') };
}

/** The attribute types of UNKNOWN-ATTRIBUTES in a 420 response. */
export function unknownAttributesOf(message: StunMessage): number[] {
  const attr = message.attributes.find((a) => a.type === AttributeType.UnknownAttributes);
  if (!attr) return [];
  const out: number[] = [];
  for (let i = 0; i + 2 <= attr.value.length; i += 2) out.push(attr.value.readUInt16BE(i));
  return out;
}

/** Comprehension-required attributes (0x0000-0x7fff) outside `known`: a server answers these with 420. */
export function unknownRequiredAttributes(message: StunMessage, known: ReadonlySet<number> = RFC5389_ATTRIBUTES): number[] {
  return [...new Set(message.attributes.map((a) => a.type).filter((t) => t < 0x8000 && !known.has(t)))];
}

/** CRC-32 (IEEE 802.3, as zlib), as FINGERPRINT uses it. */
export function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = CRC_TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function encodeAttribute(type: number, value: Buffer): Buffer {
  if (value.length > 0xffff) throw new RangeError(`attribute 0x${hex4(type)} value of ${value.length} bytes`);
  const out = Buffer.alloc(4 + pad4(value.length));
  out.writeUInt16BE(type, 0);
  out.writeUInt16BE(value.length, 2);
  value.copy(out, 4);
  return out;
}

/** Magic cookie then transaction id: the XOR key of an address (only the first 4 bytes for IPv4). */
function xorMask(transactionId: Buffer): Buffer {
  const mask = Buffer.alloc(16);
  mask.writeUInt32BE(MAGIC_COOKIE, 0);
  transactionId.copy(mask, 4, 0, TRANSACTION_ID_LENGTH);
  return mask;
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

function ipv4ToBytes(ip: string): Buffer {
  return Buffer.from(ip.split('.').map(Number));
}

function bytesToIpv4(bytes: Buffer): string {
  return Array.from(bytes).join('.');
}

function ipv6ToBytes(ip: string): Buffer {
  let text = ip;
  const out = Buffer.alloc(16);
  // A trailing dotted quad (::ffff:192.0.2.1) becomes the last 32 bits.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let tail: Buffer | undefined;
  if (dotted) {
    tail = ipv4ToBytes(dotted[1]!);
    text = text.slice(0, -dotted[1]!.length) + '0:0';
  }
  const [head, rest] = text.includes('::') ? text.split('::') : [text, undefined];
  const headGroups = head ? head.split(':') : [];
  const restGroups = rest ? rest.split(':') : [];
  const groups = rest === undefined
    ? headGroups
    : [...headGroups, ...Array<string>(8 - headGroups.length - restGroups.length).fill('0'), ...restGroups];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), 2 * i));
  if (tail) tail.copy(out, 12);
  return out;
}

function bytesToIpv6(bytes: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i));
  // An IPv4-mapped address reads as Node writes it: ::ffff:192.0.2.1.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${bytesToIpv4(bytes.subarray(12))}`;
  // RFC 5952: compress the longest run (length ≥ 2) of zero groups, lower case, no leading zeros.
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength && j - i >= 2) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hexes = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hexes.join(':');
  return `${hexes.slice(0, bestStart).join(':')}::${hexes.slice(bestStart + bestLength).join(':')}`;
}
