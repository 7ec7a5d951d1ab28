import $protobuf from 'protobufjs/minimal.js';
import type { Reader } from 'protobufjs';

/**
 * wgmesh.v1.Node (and its Endpoints) decoded straight into the object the generated codec's
 * `toObject(decode(bytes), { longs: Number, enums: String, defaults: true })` makes, without the
 * message objects in between. A node holds the whole membership (10,000 records at a Join or a
 * snapshot, every change after): the generated path made per node a message, an array and an
 * object it then dropped, six Long objects for three int64s, and a result that grew its property
 * store field by field. This one reads each field into a local and builds the result in one
 * object literal (every field in the object itself), the fields in toObject's order (JSON output,
 * the saved state, reads the same).
 *
 * Behaviour on the wire is the generated decoder's: unknown fields skipped, a repeated scalar
 * field's last value kept, an enum number without a name kept as the number, a truncated or
 * malformed message throws (RangeError / Error, as protobufjs's Reader does).
 * test/proto/node-decoder.test.ts compares it with the generated codec on random and malformed input.
 */

/** The decoded node: Node__Output's fields, in the generated toObject's order. */
export interface DecodedNode {
  endpoints: DecodedEndpoint[];
  tags: Record<string, string>;
  name: string;
  publicKey: string;
  meshIp: string;
  status: string | number;
  joinedAtMs: number;
  lastSeenMs: number;
  statusChangedMs: number;
  isBootstrap: boolean;
  listenPort: number;
  relay: boolean;
}

export interface DecodedEndpoint {
  ip: string;
  port: number;
  kind: string | number;
}

/** An enum's names by number, as codecs.gen.ts writes them (number -> name through the prototype). */
export type EnumNames = Readonly<Record<number, string>>;

export interface NodeDecoderEnums {
  readonly nodeStatus: EnumNames;
  readonly endpointKind: EnumNames;
}

/** Decodes Node messages; the enums are codecs.gen.ts's own value tables. */
export class NodeDecoder {
  constructor(private readonly enums: NodeDecoderEnums) {}

  /** As the generated `Node.decode(r, length)`: the message of `length` bytes at the reader's position. */
  decode(r: Reader, length: number | undefined, depth: number): DecodedNode {
    if (depth > $protobuf.Reader.recursionLimit) throw Error('maximum nesting depth exceeded');
    const end = length === undefined ? r.len : r.pos + length;
    const outerLen = enter(r, end);
    let endpoints: DecodedEndpoint[] | undefined;
    let tags: Record<string, string> | undefined;
    let name = '';
    let publicKey = '';
    let meshIp = '';
    let status = 0;
    let joinedAtMs = 0;
    let lastSeenMs = 0;
    let statusChangedMs = 0;
    let isBootstrap = false;
    let listenPort = 0;
    let relay = false;
    while (r.pos < end) {
      const t = r.uint32();
      switch (t >>> 3) {
        case 1: name = r.string(); break;
        case 2: publicKey = r.string(); break;
        case 3: meshIp = r.string(); break;
        case 4: (endpoints ??= []).push(this.endpoint(r, r.uint32(), depth + 1)); break;
        case 5: readMapEntry((tags ??= {}), r, depth); break;
        case 6: status = r.int32(); break;
        case 7: joinedAtMs = readInt64(r); break;
        case 8: lastSeenMs = readInt64(r); break;
        case 9: statusChangedMs = readInt64(r); break;
        case 10: isBootstrap = r.bool(); break;
        case 11: listenPort = r.uint32(); break;
        case 13: relay = r.bool(); break;
        default: r.skipType(t & 7, depth); break;
      }
    }
    if (length !== undefined) leave(r, end, outerLen);
    return {
      endpoints: endpoints ?? [],
      tags: tags ?? {},
      name,
      publicKey,
      meshIp,
      status: this.enums.nodeStatus[status] ?? status,
      joinedAtMs,
      lastSeenMs,
      statusChangedMs,
      isBootstrap,
      listenPort,
      relay,
    };
  }

  private endpoint(r: Reader, length: number, depth: number): DecodedEndpoint {
    if (depth > $protobuf.Reader.recursionLimit) throw Error('maximum nesting depth exceeded');
    const end = r.pos + length;
    const outerLen = enter(r, end);
    let ip = '';
    let port = 0;
    let kind = 0;
    while (r.pos < end) {
      const t = r.uint32();
      switch (t >>> 3) {
        case 1: ip = r.string(); break;
        case 2: port = r.uint32(); break;
        case 3: kind = r.int32(); break;
        default: r.skipType(t & 7, depth); break;
      }
    }
    leave(r, end, outerLen);
    return { ip, port, kind: this.enums.endpointKind[kind] ?? kind };
  }
}

/**
 * Reading a length-delimited field: the reader stops at its `end` (past the data: the message is
 * cut short) until `leave`, which finds the field read to its end exactly (else it is malformed)
 * and gives back the enclosing limit `enter` returned.
 */
function enter(r: Reader, end: number): number {
  if (end > r.len) throw RangeError('index out of range');
  const outerLen = r.len;
  r.len = end;
  return outerLen;
}

function leave(r: Reader, end: number, outerLen: number): void {
  if (r.pos !== end) throw RangeError('index out of range');
  r.len = outerLen;
}

/** One entry of map<string, string> tags (a key/value message), as the generated decoder reads it. */
function readMapEntry(tags: Record<string, string>, r: Reader, depth: number): void {
  const end = r.uint32() + r.pos;
  const outerLen = enter(r, end);
  let key = '';
  let value = '';
  while (r.pos < end) {
    const t = r.uint32();
    switch (t >>> 3) {
      case 1: key = r.string(); break;
      case 2: value = r.string(); break;
      default: r.skipType(t & 7, depth); break;
    }
  }
  leave(r, end, outerLen);
  // A key "__proto__" is an own property, as the generated code makes it.
  if (key === '__proto__') Object.defineProperty(tags, key, { value, enumerable: true, writable: true, configurable: true });
  else tags[key] = value;
}

/**
 * An int64 varint as the number toObject gives ({ longs: Number }: two's complement, exact up to
 * 2^53), without the Long object protobufjs's Reader makes. Errors as the Reader's own.
 */
function readInt64(r: Reader): number {
  const buf = r.buf;
  let lo = 0;
  let hi = 0;
  let i = 0;
  let b: number;
  if (r.len - r.pos > 4) {
    for (; i < 4; ++i) {
      b = buf[r.pos++]!;
      lo = (lo | ((b & 127) << (i * 7))) >>> 0;
      if (b < 128) return int64Number(lo, hi);
    }
    b = buf[r.pos++]!;
    lo = (lo | ((b & 127) << 28)) >>> 0;
    hi = (hi | ((b & 127) >> 4)) >>> 0;
    if (b < 128) return int64Number(lo, hi);
    i = 0;
  } else {
    for (; i < 3; ++i) {
      if (r.pos >= r.len) throw RangeError(`index out of range: ${r.pos} + 1 > ${r.len}`);
      b = buf[r.pos++]!;
      lo = (lo | ((b & 127) << (i * 7))) >>> 0;
      if (b < 128) return int64Number(lo, hi);
    }
    if (r.pos >= r.len) throw RangeError(`index out of range: ${r.pos} + 1 > ${r.len}`);
    b = buf[r.pos++]!;
    lo = (lo | ((b & 127) << (i * 7))) >>> 0;
    return int64Number(lo, hi);
  }
  if (r.len - r.pos > 4) {
    for (; i < 5; ++i) {
      b = buf[r.pos++]!;
      hi = (hi | ((b & 127) << (i * 7 + 3))) >>> 0;
      if (b < 128) return int64Number(lo, hi);
    }
  } else {
    for (; i < 5; ++i) {
      if (r.pos >= r.len) throw RangeError(`index out of range: ${r.pos} + 1 > ${r.len}`);
      b = buf[r.pos++]!;
      hi = (hi | ((b & 127) << (i * 7 + 3))) >>> 0;
      if (b < 128) return int64Number(lo, hi);
    }
  }
  throw Error('invalid varint encoding');
}

/** LongBits#toNumber(false): the signed value of two 32-bit halves. */
function int64Number(lo: number, hi: number): number {
  if (hi >>> 31) {
    let l = (~lo + 1) >>> 0;
    let h = ~hi >>> 0;
    if (!l) h = (h + 1) >>> 0;
    return -(l + h * 4294967296);
  }
  return lo + hi * 4294967296;
}

/** The part of codecs.gen.ts's wgmesh.v1 namespace the install touches. */
export interface GeneratedV1 {
  readonly NodeStatus: EnumNames;
  readonly EndpointKind: EnumNames;
  readonly Node: {
    new (): object;
    decode: (r: Reader | Uint8Array, length?: number, endGroup?: number, depth?: number) => unknown;
    toObject: (message: unknown, options: object, depth?: number) => unknown;
  };
}

/**
 * Puts NodeDecoder in the generated codecs' place: every message that holds nodes (WatchEvent,
 * JoinResponse, Snapshot, the agent API's) decodes them through `$root.wgmesh.v1.Node.decode`,
 * and its toObject passes a node that is already an object through. A real Node message (one
 * built with `new Node()` or fromObject) still goes through the generated toObject.
 */
export function installNodeDecoder(v1: GeneratedV1): void {
  const Node = v1.Node;
  if ((Node.decode as { nodeDecoder?: true }).nodeDecoder) return;
  const decoder = new NodeDecoder({ nodeStatus: v1.NodeStatus, endpointKind: v1.EndpointKind });
  const generatedToObject = Node.toObject;
  const decode = (r: Reader | Uint8Array, length?: number, _endGroup?: number, depth = 0) =>
    decoder.decode(r instanceof $protobuf.Reader ? r : $protobuf.Reader.create(r as Uint8Array), length, depth);
  Object.assign(decode, { nodeDecoder: true });
  Node.decode = decode;
  Node.toObject = (message, options, depth) => (message instanceof Node ? generatedToObject.call(Node, message, options, depth) : message);
}
