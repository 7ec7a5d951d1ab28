/**
 * A seeded fuzzer of wgmesh's two gRPC services: the join service `Mesh` (a bootstrap's TCP port)
 * and the local API `Agent` (a node's Unix socket).
 *
 *   node --conditions=source --import tsx test/tools/fuzz-services.ts \
 *     --service mesh --target 192.0.2.1:5000 --mesh lab --seed 424242 --count 10000
 *   node --conditions=source --import tsx test/tools/fuzz-services.ts \
 *     --service agent --target /var/run/wgmesh.sock --seed 424242 --count 10000
 *
 * Request i is a function of the seed, i and what the target told the fuzzer once at the start
 * (the members' names and keys, the mesh CIDR): each index has its own PRNG (mulberry32), so the
 * requests do not depend on the order the answers come back in, and `--only I,J` sends exactly
 * requests I and J again (printing them). Even indexes are random requests (every field drawn
 * from pools of interesting values), odd ones mutated (a valid request, encoded, then bytes
 * flipped, inserted, deleted, duplicated or cut off, sent as they are). Every call has a deadline;
 * Watch streams are opened, read a little and cancelled; a Heartbeat stream carries one message
 * (an UpdateRequest in its envelope) and is closed after the answer. At most `--concurrency` calls are in
 * flight. Prints one JSON summary on stdout (see Summary); progress goes to stderr.
 *
 * The Mesh fuzzer learns the members by joining as a probe member of its own (left at the end);
 * a few random requests are sessions: a fuzz member joins, makes calls with its secret, leaves.
 * The Agent fuzzer reads them with Nodes, and puts the node's tags back as they were at the end.
 *
 * Network rule: it talks to the target address only. A request that the bootstrap could accept
 * (a Join in the right mesh with a valid listen port, or a call with a secret the fuzzer was
 * given) carries endpoint IPs from TEST-NET-1/2/3 only; addresses anywhere else go only into
 * requests that cannot be accepted whatever the validation and the mesh's members (see
 * joinMayBeAccepted). Every Join the bootstrap accepts is followed by a Leave with the secret it
 * returned; the summary counts both, and lists fuzz members still in the mesh at the end (there
 * should be none).
 */
import * as grpc from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { loadProtos, LOW_ORDER_POINTS } from '@wgmesh/agent';

// ---------------------------------------------------------------------------------------------
// Deterministic randomness

/**
 * mulberry32: a small, fast 32-bit PRNG; the whole fuzzer's randomness comes from it. (The agent's
 * tests have the same one in their fixtures; a tool here may not import another package's tests.)
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed of request `index`'s own PRNG (a murmur3-style mix of the run's seed and the index). */
export function requestSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  float(): number {
    return this.next();
  }
  /** 0 ≤ n < max */
  int(max: number): number {
    return Math.floor(this.next() * max);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// What the fuzzer knows about its target

export interface Member {
  readonly name: string;
  readonly publicKey: string;
}

export interface FuzzContext {
  readonly service: 'mesh' | 'agent';
  readonly seed: number;
  /** The mesh's name (the Mesh service refuses every other). */
  readonly mesh: string;
  readonly meshCidr: string;
  /** The mesh's real members, read once at the start. */
  readonly members: readonly Member[];
}

/** Names the fuzzer's own members get: `<prefix>-<seed base 36>-<index>`, a DNS label. */
function fuzzName(ctx: FuzzContext, prefix: string, index: number): string {
  return `${prefix}-${ctx.seed.toString(36)}-${index}`;
}

// ---------------------------------------------------------------------------------------------
// Pools of interesting values

const KIB = 1024;
const TEST_NET = /^(192\.0\.2|198\.51\.100|203\.0\.113)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** An IPv4 address of TEST-NET-1/2/3 (RFC 5737), written canonically: the only endpoints a request that may be accepted carries. */
export function isTestNet(ip: string): boolean {
  return TEST_NET.test(ip);
}

function testNetIp(rng: Rng): string {
  return `${rng.pick(['192.0.2', '198.51.100', '203.0.113'])}.${1 + rng.int(254)}`;
}

/** Sizes around the limits: the join service refuses messages over 64 KiB. */
function longString(rng: Rng): string {
  const size = rng.pick([64, 255, 256, 1 * KIB, 4 * KIB, 63 * KIB, 64 * KIB, 70 * KIB]);
  return rng.pick(['A', 'é', '\u0000', '🙂', 'x\n']).repeat(size).slice(0, size);
}

/** Values that, written to a log unescaped, start a line of their own that looks like the log's. */
export const FORGED_LOG_LINES = [
  '\n2026-11-22T00:00:00.000Z error [bootstrap] node joined {"node":"h9","meshIp":"198.18.0.9"}',
  'x\r\n{"level":"error","message":"node left","node":"h1"}',
  'ok" level=error msg="forged',
  '\u001b[2K\u001b[1Gwarn: certificate revoked',
  'a\u2028b\u2029c',
];

/** Strings a careless parser or logger trips over; none of them a valid name, key or address. */
function junkString(rng: Rng): string {
  return rng.pick<() => string>([
    () => '',
    () => ' ',
    () => longString(rng),
    () => rng.pick(['nöde-ünïcode', '节点', '🙂🙂🙂', 'ｈ２', 'h2\u200b', '\u202eevil', '\ud800', '\udfff\ud800', 'Ω≈ç√']),
    () => rng.pick(['a\u0000b', '\u0000', '\u001b[31mred\u001b[0m', 'line1\nline2', '\r\n', '\t', '\u007f', '\u0085']),
    () => rng.pick(FORGED_LOG_LINES),
    () => rng.pick(['%s%s%s%n', '${jndi:ldap://x}', '../../../etc/passwd', '<script>alert(1)</script>', "'; DROP TABLE members; --"]),
    () => rng.pick(['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__']),
    () => rng.pick(['0', '-1', 'NaN', 'Infinity', '1e309', 'null', 'undefined', 'true']),
    () => rng.bytes(1 + rng.int(40)).toString('latin1'),
  ])();
}

function meshNameFrom(ctx: FuzzContext, rng: Rng): string {
  return rng.pick<() => string>([
    () => ctx.mesh,
    () => ctx.mesh,
    () => ctx.mesh,
    () => ctx.mesh.toUpperCase(),
    () => `${ctx.mesh}x`,
    () => 'a'.repeat(11),
    () => 'other',
    () => junkString(rng),
  ])();
}

function nodeNameFrom(ctx: FuzzContext, rng: Rng, index: number): string {
  const real = ctx.members.length > 0 ? rng.pick(ctx.members).name : 'h1';
  return rng.pick<() => string>([
    () => real,
    () => real,
    () => real.toUpperCase(),
    () => ` ${real}`,
    () => `${real}\n`,
    () => fuzzName(ctx, 'f', index),
    () => fuzzName(ctx, 'f', index),
    () => fuzzName(ctx, 'f', index),
    () => 'a'.repeat(63),
    () => 'a'.repeat(64),
    () => rng.pick(['-a', 'a-', 'a_b', 'a.b', 'a b', 'xn--nde-6ka', '0', 'localhost']),
    () => junkString(rng),
  ])();
}


/** A low-order X25519 point, canonical or with the ignored top bit set. */
function lowOrderKey(rng: Rng): string {
  const bytes = Buffer.from(rng.pick(LOW_ORDER_POINTS), 'hex');
  if (rng.chance(0.5)) bytes[31] = bytes[31]! | 0x80;
  return bytes.toString('base64');
}

/** A well-formed key nobody holds (random bytes are a valid X25519 public key but for the low-order points). */
function freshKey(rng: Rng): string {
  return rng.bytes(32).toString('base64');
}

function publicKeyFrom(ctx: FuzzContext, rng: Rng): string {
  const real = ctx.members.length > 0 ? rng.pick(ctx.members).publicKey : freshKey(rng);
  return rng.pick<() => string>([
    () => real,
    () => real,
    () => freshKey(rng),
    () => freshKey(rng),
    () => freshKey(rng),
    () => lowOrderKey(rng),
    () => lowOrderKey(rng),
    () => rng.bytes(31).toString('base64'),
    () => rng.bytes(33).toString('base64'),
    () => rng.bytes(32).toString('base64').slice(0, 43), // no padding
    () => rng.bytes(32).toString('base64url'),
    () => `${real.slice(0, 42)}B=`, // non-zero bits past the 32nd byte
    () => ` ${real}`,
    () => '!'.repeat(43) + '=',
    () => junkString(rng),
  ])();
}

function secretFrom(rng: Rng): string {
  return rng.pick<() => string>([
    () => '',
    () => rng.bytes(32).toString('base64url'),
    () => rng.bytes(32).toString('base64url'),
    () => 's'.repeat(128),
    () => 's'.repeat(129),
    () => junkString(rng),
  ])();
}

/** Addresses no endpoint should have: only ever in requests that cannot be accepted (see guardJoin). */
function specialIp(ctx: FuzzContext, rng: Rng): string {
  const meshBase = ctx.meshCidr.split('/')[0] ?? '198.18.0.0';
  const meshPrefix = meshBase.split('.').slice(0, 2).join('.');
  return rng.pick([
    '0.0.0.0', '255.255.255.255', '224.0.0.1', '239.255.255.250', '127.0.0.1', '127.1.2.3', '10.0.0.1', '169.254.1.1',
    '::', '::1', 'ff02::1', 'fe80::1', 'fe80::1%eth0', 'fe80::1%25eth0', 'fe80::1%', '::ffff:127.0.0.1', '::ffff:192.0.2.1',
    '::ffff:0:0', '64:ff9b::c000:201', '2001:db8::1', meshBase, `${meshPrefix}.0.1`, `${meshPrefix}.255.255`,
    `${meshPrefix}.${rng.int(256)}.${rng.int(256)}`,
  ]);
}

/** Strings that are not addresses at all, or not in the form the bootstrap takes. */
function malformedIp(rng: Rng): string {
  return rng.pick<() => string>([
    () => rng.pick(['192.0.2.256', '192.0.2', '192.0.2.1.5', '01.02.03.04', '0x7f.0.0.1', '3221225985', '[::1]', '192.0.2.1:5000', ' 192.0.2.1', '192.0.2.1 ', 'localhost', ':::', '1::2::3', 'fe80::1%eth0%eth1']),
    () => junkString(rng),
  ])();
}

const PORTS = [54540, 1, 65535, 51820, 0, 65536, -1, 2 ** 32 - 1, 2 ** 32, 2 ** 40, 1.5, Number.NaN];
const ENDPOINT_KINDS: (string | number)[] = ['ENDPOINT_KIND_LAN', 'ENDPOINT_KIND_STUN', 'ENDPOINT_KIND_CONFIGURED', 'ENDPOINT_KIND_UNSPECIFIED', 'ENDPOINT_KIND_OBSERVED', 99, -1];

interface EndpointValue { ip: string; port: number; kind: string | number }

/** `safe`: TEST-NET addresses only (for requests that may be accepted); else any address or string. */
function endpointsFrom(ctx: FuzzContext, rng: Rng, safe: boolean): EndpointValue[] {
  const count = rng.pick([0, 1, 1, 2, 3, 16, 17, rng.chance(0.1) ? 500 : 2]);
  const out: EndpointValue[] = [];
  for (let i = 0; i < count; i++) {
    const ip = safe || rng.chance(0.5) ? testNetIp(rng) : rng.chance(0.6) ? specialIp(ctx, rng) : malformedIp(rng);
    out.push({ ip, port: rng.chance(0.7) ? 54540 + rng.int(10) : rng.pick(PORTS), kind: rng.chance(0.7) ? 'ENDPOINT_KIND_LAN' : rng.pick(ENDPOINT_KINDS) });
  }
  return out;
}

/** One to three endpoints the bootstrap accepts (on TEST-NET). */
function validEndpoints(rng: Rng): EndpointValue[] {
  return Array.from({ length: 1 + rng.int(3) }, () => ({ ip: testNetIp(rng), port: 54540 + rng.int(10), kind: rng.pick(['ENDPOINT_KIND_LAN', 'ENDPOINT_KIND_STUN', 'ENDPOINT_KIND_CONFIGURED']) }));
}

const VALID_TAG_KEYS = ['role', 'env', 'svc:http', 'svc:ssh', 'zone/eu-1', 'a.b-c', '_internal', 'k'.repeat(63)];
const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'isPrototypeOf'];

function tagKeyFrom(rng: Rng): string {
  return rng.pick<() => string>([
    () => rng.pick(VALID_TAG_KEYS),
    () => rng.pick(VALID_TAG_KEYS),
    () => rng.pick(PROTOTYPE_KEYS),
    () => rng.pick(['', 'k'.repeat(64), '-a', 'a-', 'a b', 'a=b', 'ключ', 'a\nb']),
    () => junkString(rng),
  ])();
}

function tagValueFrom(ctx: FuzzContext, rng: Rng): string {
  return rng.pick<() => string>([
    () => rng.pick(['web', 'prod', '8080', 'eu-west', '']),
    () => rng.pick(['web', 'prod', '8080', 'eu-west', '']),
    () => 'v'.repeat(255),
    () => 'v'.repeat(256),
    () => 'é'.repeat(128), // 256 bytes in UTF-8
    () => ctx.members.length > 0 ? rng.pick(ctx.members).name : 'h1',
    () => ctx.members.length > 0 ? rng.pick(ctx.members).publicKey : '',
    () => junkString(rng),
  ])();
}

interface TagsValue {
  /** Encoded by the message's own serializer. */
  readonly plain: Record<string, string>;
  /** Map entries appended to the bytes by hand: protobufjs drops a "__proto__" key when it builds the message. */
  readonly raw: [string, string][];
}

/** `valid`: keys and values the bootstrap accepts, at most a few. */
function tagsFrom(ctx: FuzzContext, rng: Rng, valid = false): TagsValue {
  const count = valid ? rng.int(4) : rng.pick([0, 1, 2, 5, 32, 33, rng.chance(0.2) ? 300 : 3]);
  const plain: Record<string, string> = {};
  const raw: [string, string][] = [];
  for (let i = 0; i < count; i++) {
    const key = valid ? rng.pick(VALID_TAG_KEYS) : count > 5 ? `k${i}` : tagKeyFrom(rng);
    const value = valid ? rng.pick(['web', 'prod', '8080', '']) : tagValueFrom(ctx, rng);
    if (key === '__proto__') raw.push([key, value]);
    else Object.defineProperty(plain, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return { plain, raw };
}

const RTT_VALUES = [0, 0.25, 12.5, 599_999, 600_000, 600_001, -1, -0, Number.NaN, Infinity, -Infinity, 1e308, Number.MIN_VALUE];
const LOSS_VALUES = [0, 0.5, 1, 1.0001, -0.1, Number.NaN, Infinity, -Infinity];

function rttSamplesFrom(ctx: FuzzContext, rng: Rng, index: number, valid = false): { peer: string; rttMs: number; loss: number }[] {
  const count = valid ? rng.int(3) : rng.pick([0, 1, 3, 3, 1024, 1025]);
  const out: { peer: string; rttMs: number; loss: number }[] = [];
  for (let i = 0; i < count; i++) {
    out.push(valid
      ? { peer: ctx.members.length > 0 ? rng.pick(ctx.members).name : 'h1', rttMs: rng.float() * 10, loss: rng.pick([0, 0, 0.5]) }
      : { peer: count > 3 ? `p${i}` : nodeNameFrom(ctx, rng, index), rttMs: rng.chance(0.5) ? rng.float() * 50 : rng.pick(RTT_VALUES), loss: rng.chance(0.5) ? 0 : rng.pick(LOSS_VALUES) });
  }
  return out;
}

const REVISIONS = [0, 1, 2, 5, 1000, 2 ** 31, 2 ** 53 - 1];

// ---------------------------------------------------------------------------------------------
// Encoding

export type MeshMethod = 'Join' | 'Update' | 'Rtt' | 'Leave' | 'Watch' | 'Heartbeat';
export type AgentMethod = 'Info' | 'Nodes' | 'Watch' | 'SetTag' | 'DeleteTag' | 'Rtt';

export interface MethodCodec {
  readonly path: string;
  readonly stream: boolean;
  /** The client streams too (Heartbeat): one message is sent, the answer read, the stream closed. */
  readonly clientStream: boolean;
  encode(value: object): Buffer;
  /** As the server decodes it (the same loader and options); throws on bytes that are not the message. */
  decode(bytes: Buffer): Record<string, unknown>;
  decodeResponse(bytes: Buffer): unknown;
}

type AnyDefinition = Record<string, {
  path: string;
  responseStream: boolean;
  requestStream: boolean;
  requestSerialize(value: unknown): Buffer;
  requestDeserialize(bytes: Buffer): unknown;
  responseDeserialize(bytes: Buffer): unknown;
}>;

export function codecs(service: 'mesh' | 'agent'): Record<string, MethodCodec> {
  const protos = loadProtos();
  const definition = (service === 'mesh' ? protos.mesh.wgmesh.v1.Mesh.service : protos.agent.wgmesh.v1.Agent.service) as unknown as AnyDefinition;
  const out: Record<string, MethodCodec> = {};
  for (const [name, m] of Object.entries(definition)) {
    out[name] = {
      path: m.path,
      stream: m.responseStream,
      clientStream: m.requestStream,
      encode: (value) => m.requestSerialize(value),
      decode: (bytes) => m.requestDeserialize(bytes) as Record<string, unknown>,
      decodeResponse: (bytes) => m.responseDeserialize(bytes),
    };
  }
  return out;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n >>> 0;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}

function lengthDelimited(field: number, payload: Buffer): Buffer {
  return Buffer.concat([varint((field << 3) | 2), varint(payload.length), payload]);
}

/** A map<string,string> entry of field `field`, as the wire has it. */
function mapEntry(field: number, key: string, value: string): Buffer {
  return lengthDelimited(field, Buffer.concat([lengthDelimited(1, Buffer.from(key, 'utf8')), lengthDelimited(2, Buffer.from(value, 'utf8'))]));
}

/** The message's own encoding plus any hand-written map entries (tags is field 5 of JoinRequest and UpdateRequest). */
function encodeWithTags(codec: MethodCodec, value: object, tags: TagsValue | undefined): Buffer {
  const head = codec.encode(value);
  if (!tags || tags.raw.length === 0) return head;
  return Buffer.concat([head, ...tags.raw.map(([k, v]) => mapEntry(5, k, v))]);
}

// ---------------------------------------------------------------------------------------------
// Mutations

type Mutation = (rng: Rng, bytes: Buffer) => Buffer;

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x0a, 0x12, 0x1a, 0x22, 0x2a, 0x08, 0x0f, 0xfe];

const MUTATIONS: Record<string, Mutation> = {
  flipBit(rng, b) {
    if (b.length === 0) return b;
    const out = Buffer.from(b);
    const i = rng.int(out.length);
    out[i] = out[i]! ^ (1 << rng.int(8));
    return out;
  },
  setByte(rng, b) {
    if (b.length === 0) return b;
    const out = Buffer.from(b);
    out[rng.int(out.length)] = rng.chance(0.5) ? rng.pick(INTERESTING_BYTES) : rng.int(256);
    return out;
  },
  insert(rng, b) {
    const at = rng.int(b.length + 1);
    const add = rng.chance(0.5) ? rng.bytes(1 + rng.int(8)) : Buffer.alloc(1 + rng.int(10), rng.pick(INTERESTING_BYTES));
    return Buffer.concat([b.subarray(0, at), add, b.subarray(at)]);
  },
  delete(rng, b) {
    if (b.length === 0) return b;
    const at = rng.int(b.length);
    const n = 1 + rng.int(Math.min(16, b.length - at));
    return Buffer.concat([b.subarray(0, at), b.subarray(at + n)]);
  },
  duplicate(rng, b) {
    if (b.length === 0) return b;
    const from = rng.int(b.length);
    const n = 1 + rng.int(Math.min(64, b.length - from));
    const at = rng.int(b.length + 1);
    const copies = rng.chance(0.1) ? 1 + rng.int(200) : 1;
    return Buffer.concat([b.subarray(0, at), ...Array.from({ length: copies }, () => b.subarray(from, from + n)), b.subarray(at)]);
  },
  truncate(rng, b) {
    return b.subarray(0, rng.int(b.length + 1));
  },
  /** The whole message again: protobuf merges repeated fields and lets later scalars win. */
  repeat(_rng, b) {
    return Buffer.concat([b, b]);
  },
  /** A length prefix or tag made huge: a 10-byte varint. */
  longVarint(rng, b) {
    const at = rng.int(b.length + 1);
    return Buffer.concat([b.subarray(0, at), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), b.subarray(at)]);
  },
};

const MUTATION_NAMES = Object.keys(MUTATIONS);

function mutate(rng: Rng, bytes: Buffer): { bytes: Buffer; mutations: string[] } {
  let out = bytes;
  const applied: string[] = [];
  // Mostly one mutation: with more, most requests no longer parse and never reach a handler.
  const n = rng.chance(0.6) ? 1 : rng.chance(0.6) ? 2 : 3 + rng.int(2);
  for (let i = 0; i < n; i++) {
    const name = rng.pick(MUTATION_NAMES);
    out = MUTATIONS[name]!(rng, out);
    applied.push(name);
  }
  return { bytes: out, mutations: applied };
}

/**
 * A request as `method` sends it: Heartbeat's message is an UpdateRequest (encoded as Update's,
 * with its tags) in the HeartbeatMessage envelope (seq 1, update 2).
 */
function encodeFor(all: Record<string, MethodCodec>, method: MeshMethod, request: object, tags: TagsValue | undefined, seq = 1): Buffer {
  if (method !== 'Heartbeat') return encodeWithTags(all[method]!, request, tags);
  return Buffer.concat([varint(1 << 3), varint(seq), lengthDelimited(2, encodeWithTags(all.Update!, request, tags))]);
}

// ---------------------------------------------------------------------------------------------
// Planned requests

export interface SingleCall {
  readonly method: string;
  readonly bytes: Buffer;
}

/** A fuzz member of its own: Join, a few calls with the secret it was given (filled in when sent), Leave. */
export interface SessionPlan {
  readonly join: Record<string, unknown>;
  readonly steps: readonly { readonly method: MeshMethod; readonly request: Record<string, unknown>; readonly tags?: TagsValue; readonly withSecret: boolean }[];
}

export interface Plan {
  readonly index: number;
  readonly mode: 'random' | 'mutated';
  readonly method: string;
  /** The call to make, or a session (random Mesh requests only). */
  readonly call?: SingleCall;
  readonly session?: SessionPlan;
  readonly mutations?: readonly string[];
}

/**
 * False only for a Join the Mesh service refuses whatever state the mesh is in and however its
 * validation of the other fields changes: another mesh's name, or a listen port that is no UDP
 * port. (A member's name or key is no such guarantee: the member may be gone by then.)
 */
function joinMayBeAccepted(ctx: FuzzContext, request: Record<string, unknown>): boolean {
  const port = Number(request.listenPort);
  return request.meshName === ctx.mesh && Number.isInteger(port) && port >= 1 && port <= 65535;
}

/**
 * The network rule for Joins, on the bytes exactly as the server will decode them: a Join that may
 * be accepted carries TEST-NET endpoints only. Bytes that do not decode are refused by the server.
 */
export function joinIsSafe(ctx: FuzzContext, codec: MethodCodec, bytes: Buffer): boolean {
  let request: Record<string, unknown>;
  try {
    request = codec.decode(bytes);
  } catch {
    return true;
  }
  if (!joinMayBeAccepted(ctx, request)) return true;
  const endpoints = (request.endpoints ?? []) as { ip?: unknown }[];
  return endpoints.every((e) => isTestNet(String(e.ip ?? '')));
}

function randomMeshRequest(ctx: FuzzContext, rng: Rng, index: number, method: MeshMethod): Record<string, unknown> {
  const base = { meshName: meshNameFrom(ctx, rng), nodeName: nodeNameFrom(ctx, rng, index), publicKey: publicKeyFrom(ctx, rng), nodeSecret: rng.chance(0.7) ? secretFrom(rng) : '' };
  switch (method) {
    case 'Join':
      return { ...base, endpoints: endpointsFrom(ctx, rng, false), listenPort: rng.chance(0.6) ? 54540 : rng.pick(PORTS), nodeSecret: rng.chance(0.6) ? '' : base.nodeSecret };
    case 'Update':
    case 'Heartbeat':
      return { ...base, endpoints: endpointsFrom(ctx, rng, false), rtt: rttSamplesFrom(ctx, rng, index) };
    case 'Watch':
      return { ...base, sinceRevision: rng.pick(REVISIONS) };
    default:
      return base;
  }
}

function validMeshRequest(ctx: FuzzContext, rng: Rng, index: number, method: MeshMethod): { request: Record<string, unknown>; tags?: TagsValue } {
  // A base for mutation: well-formed, in the right mesh, but only a Join can succeed (no secret is right).
  const member = ctx.members.length > 0 && rng.chance(0.5) ? rng.pick(ctx.members) : undefined;
  const identity = {
    meshName: ctx.mesh,
    nodeName: member?.name ?? fuzzName(ctx, 'm', index),
    publicKey: member && rng.chance(0.7) ? member.publicKey : freshKey(rng),
    nodeSecret: method === 'Join' ? '' : rng.bytes(32).toString('base64url'),
  };
  switch (method) {
    case 'Join': {
      const tags = tagsFrom(ctx, rng, true);
      return { request: { ...identity, endpoints: validEndpoints(rng), tags: tags.plain, listenPort: 54540 }, tags };
    }
    case 'Update':
    case 'Heartbeat': {
      const tags = tagsFrom(ctx, rng, true);
      return { request: { ...identity, endpoints: validEndpoints(rng), tags: tags.plain, rtt: rttSamplesFrom(ctx, rng, index, true) }, tags };
    }
    case 'Watch':
      return { request: { ...identity, sinceRevision: rng.pick([0, 0, 1, 5]) } };
    default:
      return { request: identity };
  }
}

/**
 * A random Join that breaks the network rule gets a listen port that is no UDP port: refused
 * whatever else it has (the bootstrap checks the endpoints first today, so they are still fuzzed).
 */
function safeRandomJoin(ctx: FuzzContext, rng: Rng, codec: MethodCodec, request: Record<string, unknown>, tags: TagsValue): Buffer {
  const bytes = encodeWithTags(codec, request, tags);
  if (joinIsSafe(ctx, codec, bytes)) return bytes;
  return encodeWithTags(codec, { ...request, listenPort: rng.pick([0, 65536, 2 ** 32 - 1]) }, tags);
}

function sessionPlan(ctx: FuzzContext, rng: Rng, index: number): SessionPlan {
  const tags = tagsFrom(ctx, rng, true);
  const identity = { meshName: ctx.mesh, nodeName: fuzzName(ctx, 's', index), publicKey: freshKey(rng) };
  const join = { ...identity, endpoints: validEndpoints(rng), tags: tags.plain, listenPort: 54540 + rng.int(10), nodeSecret: '' };
  const steps: SessionPlan['steps'][number][] = [];
  const n = 1 + rng.int(4);
  for (let i = 0; i < n; i++) {
    const method = rng.pick<MeshMethod>(['Update', 'Update', 'Heartbeat', 'Heartbeat', 'Rtt', 'Watch', 'Join']);
    // With the right secret everything but the endpoints is fuzzed: those stay on TEST-NET.
    const stepTags = tagsFrom(ctx, rng, rng.chance(0.3));
    const withSecret = rng.chance(0.85);
    switch (method) {
      case 'Update':
      case 'Heartbeat':
        steps.push({ method, request: { ...identity, endpoints: endpointsFrom(ctx, rng, true), tags: stepTags.plain, rtt: rttSamplesFrom(ctx, rng, index, rng.chance(0.3)) }, tags: stepTags, withSecret });
        break;
      case 'Join':
        steps.push({ method, request: { ...join, tags: stepTags.plain, listenPort: rng.chance(0.7) ? join.listenPort : rng.pick(PORTS) }, tags: stepTags, withSecret });
        break;
      case 'Watch':
        steps.push({ method, request: { ...identity, sinceRevision: rng.pick(REVISIONS) }, withSecret });
        break;
      default:
        steps.push({ method, request: { ...identity }, withSecret });
    }
  }
  return { join, steps };
}

function planMesh(ctx: FuzzContext, all: Record<string, MethodCodec>, index: number): Plan {
  const rng = new Rng(requestSeed(ctx.seed, index));
  if (index % 2 === 0) {
    if (rng.chance(0.06)) return { index, mode: 'random', method: 'session', session: sessionPlan(ctx, rng, index) };
    const method = rng.pick<MeshMethod>(['Join', 'Join', 'Update', 'Update', 'Heartbeat', 'Rtt', 'Leave', 'Watch']);
    const codec = all[method]!;
    const request = randomMeshRequest(ctx, rng, index, method);
    const tags = method === 'Join' || method === 'Update' || method === 'Heartbeat' ? tagsFrom(ctx, rng) : undefined;
    if (tags) request.tags = tags.plain;
    const bytes = method === 'Join' ? safeRandomJoin(ctx, rng, codec, request, tags!) : encodeFor(all, method, request, tags, rng.pick(REVISIONS));
    return { index, mode: 'random', method, call: { method, bytes } };
  }
  const method = rng.pick<MeshMethod>(['Join', 'Join', 'Join', 'Update', 'Update', 'Heartbeat', 'Rtt', 'Leave', 'Watch']);
  const codec = all[method]!;
  const { request, tags } = validMeshRequest(ctx, rng, index, method);
  const base = encodeFor(all, method, request, tags);
  for (let attempt = 0; attempt < 20; attempt++) {
    const { bytes, mutations } = mutate(rng, base);
    if (method !== 'Join' || joinIsSafe(ctx, codec, bytes)) return { index, mode: 'mutated', method, call: { method, bytes }, mutations };
  }
  // Twenty mutations in a row could be accepted with an address off TEST-NET: the base then (it is safe).
  return { index, mode: 'mutated', method, call: { method, bytes: base }, mutations: [] };
}

function randomAgentRequest(ctx: FuzzContext, rng: Rng, method: AgentMethod, all: Record<string, MethodCodec>): Buffer {
  switch (method) {
    case 'SetTag':
      return all.SetTag!.encode({ key: tagKeyFrom(rng), value: tagValueFrom(ctx, rng) });
    case 'DeleteTag':
      return all.DeleteTag!.encode({ key: tagKeyFrom(rng) });
    default:
      // An empty message, or another message's bytes (unknown fields, to be skipped).
      return rng.chance(0.6) ? Buffer.alloc(0) : all.SetTag!.encode({ key: tagKeyFrom(rng), value: tagValueFrom(ctx, rng) });
  }
}

function planAgent(ctx: FuzzContext, all: Record<string, MethodCodec>, index: number): Plan {
  const rng = new Rng(requestSeed(ctx.seed, index));
  const method = rng.pick<AgentMethod>(['Info', 'Nodes', 'Rtt', 'Watch', 'SetTag', 'SetTag', 'SetTag', 'DeleteTag', 'DeleteTag']);
  if (index % 2 === 0) return { index, mode: 'random', method, call: { method, bytes: randomAgentRequest(ctx, rng, method, all) } };
  const base = method === 'DeleteTag'
    ? all.DeleteTag!.encode({ key: rng.pick(VALID_TAG_KEYS) })
    : all.SetTag!.encode({ key: rng.pick(VALID_TAG_KEYS), value: rng.pick(['web', 'prod', '8080']) });
  const { bytes, mutations } = mutate(rng, base);
  return { index, mode: 'mutated', method, call: { method, bytes }, mutations };
}

export function planRequest(ctx: FuzzContext, all: Record<string, MethodCodec>, index: number): Plan {
  return ctx.service === 'mesh' ? planMesh(ctx, all, index) : planAgent(ctx, all, index);
}

/** sha256 over the first `count` plans: the same for the same seed and context, whatever runs them. */
export function planDigest(ctx: FuzzContext, count: number): string {
  const all = codecs(ctx.service);
  const hash = createHash('sha256');
  for (let i = 0; i < count; i++) {
    const plan = planRequest(ctx, all, i);
    hash.update(`${plan.mode}:${plan.method}:`);
    if (plan.call) hash.update(plan.call.bytes);
    if (plan.session) hash.update(JSON.stringify(plan.session, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)));
  }
  return hash.digest('hex');
}

// ---------------------------------------------------------------------------------------------
// Calls

const passThrough = (b: Buffer): Buffer => b;

/** What one call came back with: a status name, or one of the fuzzer's own outcomes. */
export interface Outcome {
  /** grpc status name (OK, INVALID_ARGUMENT, …); NOT_A_STATUS when the error carried no status code. */
  readonly code: string;
  readonly details: string;
  readonly ms: number;
  readonly response?: Buffer;
  /** Watch: messages read before the fuzzer cancelled. */
  readonly messages?: number;
  /** Watch: the fuzzer cancelled the stream itself (after reading, or after the read window). */
  readonly cancelledByFuzzer?: boolean;
}

interface CallOptionsInit {
  readonly deadlineMs: number;
  /** How long a Watch stream is read before the fuzzer cancels it. */
  readonly watchReadMs: number;
}

function statusName(code: unknown): string {
  return typeof code === 'number' && grpc.status[code] !== undefined ? grpc.status[code] : 'NOT_A_STATUS';
}

function unaryCall(client: grpc.Client, codec: MethodCodec, bytes: Buffer, init: CallOptionsInit): Promise<Outcome> {
  const started = performance.now();
  return new Promise((resolve) => {
    try {
      client.makeUnaryRequest(codec.path, passThrough, passThrough, bytes, new grpc.Metadata(), { deadline: Date.now() + init.deadlineMs }, (err, value) => {
        const ms = performance.now() - started;
        if (err) resolve({ code: statusName(err.code), details: String(err.details ?? err.message), ms });
        else resolve({ code: 'OK', details: '', ms, ...(value ? { response: value } : {}) });
      });
    } catch (err) {
      resolve({ code: 'NOT_A_STATUS', details: `call threw: ${(err as Error).message}`, ms: performance.now() - started });
    }
  });
}

function watchCall(client: grpc.Client, codec: MethodCodec, bytes: Buffer, init: CallOptionsInit): Promise<Outcome> {
  const started = performance.now();
  return new Promise((resolve) => {
    let messages = 0;
    let first: Buffer | undefined;
    let cancelled = false;
    let call: grpc.ClientReadableStream<Buffer>;
    try {
      call = client.makeServerStreamRequest(codec.path, passThrough, passThrough, bytes, new grpc.Metadata(), { deadline: Date.now() + init.deadlineMs });
    } catch (err) {
      resolve({ code: 'NOT_A_STATUS', details: `call threw: ${(err as Error).message}`, ms: performance.now() - started });
      return;
    }
    const cancel = () => {
      if (cancelled) return;
      cancelled = true;
      call.cancel();
    };
    const timer = setTimeout(cancel, init.watchReadMs);
    call.on('data', (chunk: Buffer) => {
      messages++;
      first ??= chunk;
      cancel();
    });
    // Every ending is also a 'status'; without a listener an 'error' would throw.
    call.on('error', () => {});
    call.on('status', (s: grpc.StatusObject) => {
      clearTimeout(timer);
      const ms = performance.now() - started;
      // Our own cancel after reading is a stream that worked; with nothing read, it said nothing in time.
      if (cancelled && s.code === grpc.status.CANCELLED) {
        resolve({ code: messages > 0 ? 'OK' : 'NO_MESSAGE', details: '', ms, messages, cancelledByFuzzer: true, ...(first ? { response: first } : {}) });
      } else {
        resolve({ code: statusName(s.code), details: s.details, ms, messages, ...(first ? { response: first } : {}) });
      }
    });
  });
}

/**
 * Heartbeat: one message on a new stream, the stream closed after its answer. The message's own
 * status is in the answer (HeartbeatAnswer.code, 0 = OK); a stream that ends without an answer
 * (bytes that do not parse, a refused caller) gives its status.
 */
function heartbeatCall(client: grpc.Client, codec: MethodCodec, bytes: Buffer, init: CallOptionsInit): Promise<Outcome> {
  const started = performance.now();
  return new Promise((resolve) => {
    let call: grpc.ClientDuplexStream<Buffer, Buffer>;
    try {
      call = client.makeBidiStreamRequest(codec.path, passThrough, passThrough, new grpc.Metadata(), { deadline: Date.now() + init.deadlineMs });
    } catch (err) {
      resolve({ code: 'NOT_A_STATUS', details: `call threw: ${(err as Error).message}`, ms: performance.now() - started });
      return;
    }
    let answer: Buffer | undefined;
    call.on('data', (chunk: Buffer) => {
      answer ??= chunk;
      call.end();
    });
    call.on('error', () => {});
    call.on('status', (s: grpc.StatusObject) => {
      const ms = performance.now() - started;
      if (!answer || s.code !== grpc.status.OK) {
        resolve({ code: statusName(s.code), details: s.details, ms, ...(answer ? { response: answer } : {}) });
        return;
      }
      let decoded: { code?: number; message?: string };
      try {
        decoded = codec.decodeResponse(answer) as { code?: number; message?: string };
      } catch {
        // Flagged by the tally: the response does not decode.
        resolve({ code: 'OK', details: '', ms, response: answer });
        return;
      }
      resolve({ code: decoded.code ? statusName(decoded.code) : 'OK', details: decoded.message ?? '', ms, response: answer });
    });
    call.write(bytes);
  });
}

function send(client: grpc.Client, codec: MethodCodec, bytes: Buffer, init: CallOptionsInit): Promise<Outcome> {
  if (codec.clientStream) return heartbeatCall(client, codec, bytes, init);
  return codec.stream ? watchCall(client, codec, bytes, init) : unaryCall(client, codec, bytes, init);
}

// ---------------------------------------------------------------------------------------------
// The run

/** grpc-js answers a request it cannot parse with INTERNAL and exactly this text: the framework's, not a handler's. */
const DESERIALIZE_FAILED = 'Error deserializing request';

export interface Finding {
  readonly index: number;
  readonly kind: string;
  readonly code: string;
  readonly details: string;
  readonly requestBytes: number;
  /** The request's first 2 KiB, hex. */
  readonly requestHex: string;
}

export interface Summary {
  readonly service: 'mesh' | 'agent';
  readonly target: string;
  readonly seed: number;
  readonly count: number;
  readonly concurrency: number;
  readonly durationMs: number;
  /** Every call made: the requests plus sessions' further calls and the Leaves after accepted Joins. */
  readonly calls: number;
  readonly byCode: Record<string, number>;
  readonly byKind: Record<string, Record<string, number>>;
  readonly slowest: { index: number; kind: string; code: string; ms: number } | undefined;
  /** INTERNAL with grpc-js's own "Error deserializing request": bytes that are not the request message (checked by decoding them here). */
  readonly unparseable: number;
  /** UNKNOWN, INTERNAL (but the above), NOT_A_STATUS, a response that does not decode, an unparseable request that was answered or vice versa. */
  readonly unexpected: readonly Finding[];
  readonly unexpectedCount: number;
  /** Errors in the fuzzer's own code path that were not gRPC statuses (thrown while sending or reading). */
  readonly errors: readonly string[];
  readonly members: readonly string[];
  readonly mesh?: {
    /** Joins the bootstrap accepted: sessions' own, and random or mutated ones valid by chance. */
    readonly joinsAccepted: number;
    readonly sessions: number;
    readonly leavesOk: number;
    readonly leavesFailed: readonly string[];
    /** Members at the end that were not there at the start (should be none). */
    readonly lingering: readonly string[];
    /** Joins whose outcome is unknown (deadline passed): the bootstrap may have accepted them. */
    readonly joinsUnanswered: number;
  };
  readonly agent?: {
    readonly tagsBefore: Record<string, string>;
    /** The node's tags and control error right after the fuzz, before the fuzzer put its tags back. */
    readonly tagsAfterFuzz: Record<string, string>;
    readonly controlErrorAfterFuzz: string;
    readonly tagsRestored: boolean;
  };
  /** --only: each request as sent. */
  readonly requests?: readonly { index: number; kind: string; mutations?: readonly string[]; hex: string; decoded: unknown; outcome: string }[];
}

interface RunOptions {
  readonly service: 'mesh' | 'agent';
  readonly target: string;
  readonly seed: number;
  readonly count: number;
  readonly mesh?: string;
  readonly concurrency: number;
  readonly deadlineMs: number;
  readonly watchReadMs: number;
  readonly only?: readonly number[];
  readonly progress?: (message: string) => void;
}

class Tally {
  readonly startedAt = performance.now();
  calls = 0;
  readonly byCode: Record<string, number> = {};
  readonly byKind: Record<string, Record<string, number>> = {};
  slowest: Summary['slowest'];
  unparseable = 0;
  readonly unexpected: Finding[] = [];
  unexpectedCount = 0;
  readonly errors: string[] = [];

  record(index: number, kind: string, bytes: Buffer, outcome: Outcome, codec: MethodCodec): void {
    this.calls++;
    this.byCode[outcome.code] = (this.byCode[outcome.code] ?? 0) + 1;
    const k = (this.byKind[kind] ??= {});
    k[outcome.code] = (k[outcome.code] ?? 0) + 1;
    if (!this.slowest || outcome.ms > this.slowest.ms) this.slowest = { index, kind, code: outcome.code, ms: Math.round(outcome.ms) };
    const problem = this.problem(bytes, outcome, codec);
    if (problem === 'unparseable') this.unparseable++;
    else if (problem) this.flag({ index, kind, code: outcome.code, details: `${problem}${outcome.details ? `: ${outcome.details}` : ''}`, requestBytes: bytes.length, requestHex: bytes.subarray(0, 2048).toString('hex') });
  }

  flag(finding: Finding): void {
    this.unexpectedCount++;
    if (this.unexpected.length < 50) this.unexpected.push(finding);
  }

  private problem(bytes: Buffer, outcome: Outcome, codec: MethodCodec): string | undefined {
    let parses = true;
    try {
      codec.decode(bytes);
    } catch {
      parses = false;
    }
    if (outcome.code === 'INTERNAL' && outcome.details === DESERIALIZE_FAILED) return parses ? 'INTERNAL "Error deserializing request" for a request that decodes' : 'unparseable';
    if (!parses && !['RESOURCE_EXHAUSTED', 'DEADLINE_EXCEEDED', 'UNAVAILABLE'].includes(outcome.code)) return `an unparseable request was answered ${outcome.code}`;
    if (outcome.code === 'UNKNOWN' || outcome.code === 'INTERNAL' || outcome.code === 'NOT_A_STATUS') return outcome.code;
    if (outcome.response) {
      try {
        codec.decodeResponse(outcome.response);
      } catch (err) {
        return `the response does not decode (${(err as Error).message})`;
      }
    }
    return undefined;
  }
}

/** Runs `work` for each index, at most `limit` at once. */
async function pool(indices: readonly number[], limit: number, work: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < indices.length) await work(indices[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, indices.length) }, worker));
}

/** The Mesh side: a probe member of the fuzzer's own tells it the members (and, at the end, who is left). */
async function runMesh(client: grpc.Client, opts: RunOptions, tally: Tally, init: CallOptionsInit): Promise<Summary> {
  const all = codecs('mesh');
  const mesh = opts.mesh;
  if (!mesh) throw new Error('--mesh NAME is needed for the mesh service (the bootstrap\'s -n)');
  const probeRng = new Rng(requestSeed(opts.seed, -1));
  const probe = { meshName: mesh, nodeName: `probe-${opts.seed.toString(36)}`, publicKey: freshKey(probeRng), endpoints: [{ ip: '203.0.113.250', port: 54540, kind: 'ENDPOINT_KIND_LAN' }], listenPort: 54540, tags: {}, nodeSecret: '' };
  const joined = await unaryCall(client, all.Join!, all.Join!.encode(probe), init);
  if (joined.code !== 'OK' || !joined.response) throw new Error(`the probe's Join was refused: ${joined.code} ${joined.details}`);
  const probeAnswer = all.Join!.decodeResponse(joined.response) as { nodes: { name: string; publicKey: string }[]; meshCidr: string; nodeSecret: string };
  const probeSecret = probeAnswer.nodeSecret;
  const membersAtStart = probeAnswer.nodes.filter((n) => n.name !== probe.nodeName).map((n) => ({ name: n.name, publicKey: n.publicKey }));
  const ctx: FuzzContext = { service: 'mesh', seed: opts.seed, mesh, meshCidr: probeAnswer.meshCidr, members: membersAtStart };

  let joinsAccepted = 0;
  let sessions = 0;
  let leavesOk = 0;
  let joinsUnanswered = 0;
  const leavesFailed: string[] = [];
  const requests: NonNullable<Summary['requests']>[number][] = [];

  /** Leave with the secret an accepted Join returned (retried: a fuzz member must not stay). */
  const leave = async (index: number, meshName: string, publicKey: string, answer: Buffer) => {
    const joinedAs = all.Join!.decodeResponse(answer) as { nodeName: string; nodeSecret: string };
    joinsAccepted++;
    const bytes = all.Leave!.encode({ meshName, nodeName: joinedAs.nodeName, publicKey, nodeSecret: joinedAs.nodeSecret });
    for (let attempt = 0; attempt < 3; attempt++) {
      const outcome = await unaryCall(client, all.Leave!, bytes, init);
      tally.record(index, 'cleanup:Leave', bytes, outcome, all.Leave!);
      if (outcome.code === 'OK') {
        leavesOk++;
        return;
      }
      if (attempt === 2) leavesFailed.push(`${joinedAs.nodeName} (request ${index}): ${outcome.code} ${outcome.details}`);
    }
  };

  const runSession = async (index: number, session: SessionPlan) => {
    sessions++;
    const join = all.Join!;
    const joinBytes = join.encode(session.join);
    const outcome = await unaryCall(client, join, joinBytes, init);
    tally.record(index, 'session:Join', joinBytes, outcome, join);
    if (outcome.code !== 'OK' || !outcome.response) {
      if (outcome.code === 'DEADLINE_EXCEEDED') joinsUnanswered++;
      return;
    }
    const secret = (join.decodeResponse(outcome.response) as { nodeSecret: string }).nodeSecret;
    for (const step of session.steps) {
      const codec = all[step.method]!;
      const request = { ...step.request, nodeSecret: step.withSecret ? secret : 'not-the-secret' };
      const bytes = encodeFor(all, step.method, request, step.tags);
      tally.record(index, `session:${step.method}`, bytes, await send(client, codec, bytes, init), codec);
    }
    await leave(index, String(session.join.meshName), String(session.join.publicKey), outcome.response);
  };

  const indices = opts.only ?? Array.from({ length: opts.count }, (_, i) => i);
  let done = 0;
  await pool(indices, opts.concurrency, async (index) => {
    const plan = planRequest(ctx, all, index);
    const kind = `${plan.mode}:${plan.method}`;
    if (plan.session) {
      await runSession(index, plan.session);
    } else if (plan.call) {
      const codec = all[plan.call.method]!;
      const outcome = await send(client, codec, plan.call.bytes, init);
      tally.record(index, kind, plan.call.bytes, outcome, codec);
      if (opts.only) requests.push({ index, kind, ...(plan.mutations ? { mutations: plan.mutations } : {}), hex: plan.call.bytes.toString('hex'), decoded: safeDecode(codec, plan.call.bytes), outcome: `${outcome.code} ${outcome.details}` });
      if (plan.call.method === 'Join') {
        if (outcome.code === 'OK' && outcome.response) {
          const request = codec.decode(plan.call.bytes);
          await leave(index, String(request.meshName), String(request.publicKey), outcome.response);
        } else if (outcome.code === 'DEADLINE_EXCEEDED') {
          joinsUnanswered++;
        }
      }
    }
    if (++done % 2000 === 0) opts.progress?.(`mesh: ${done}/${indices.length} requests`);
  });

  // Who is in the mesh now: the probe re-joins (idempotent with its secret) and reads the member list.
  const again = await unaryCall(client, all.Join!, all.Join!.encode({ ...probe, nodeSecret: probeSecret }), init);
  let lingering: string[] = [];
  if (again.code === 'OK' && again.response) {
    const now = (all.Join!.decodeResponse(again.response) as { nodes: { name: string }[] }).nodes.map((n) => n.name);
    lingering = now.filter((n) => n !== probe.nodeName && !membersAtStart.some((m) => m.name === n));
  } else {
    tally.errors.push(`the probe could not re-join to list the members: ${again.code} ${again.details}`);
  }
  const left = await unaryCall(client, all.Leave!, all.Leave!.encode({ meshName: mesh, nodeName: probe.nodeName, publicKey: probe.publicKey, nodeSecret: probeSecret }), init);
  if (left.code !== 'OK') leavesFailed.push(`${probe.nodeName} (the probe): ${left.code} ${left.details}`);

  return {
    ...summaryOf(opts, tally, membersAtStart),
    mesh: { joinsAccepted, sessions, leavesOk, leavesFailed, lingering, joinsUnanswered },
    ...(opts.only ? { requests } : {}),
  };
}

/** The Agent side: members from Nodes; the node's tags are put back afterwards. */
async function runAgent(client: grpc.Client, opts: RunOptions, tally: Tally, init: CallOptionsInit): Promise<Summary> {
  const all = codecs('agent');
  const infoOf = async () => {
    const outcome = await unaryCall(client, all.Info!, Buffer.alloc(0), init);
    if (outcome.code !== 'OK' || !outcome.response) throw new Error(`Info failed: ${outcome.code} ${outcome.details}`);
    return all.Info!.decodeResponse(outcome.response) as { meshName: string; meshCidr: string; tags: Record<string, string>; controlError: string };
  };
  const before = await infoOf();
  const nodes = await unaryCall(client, all.Nodes!, Buffer.alloc(0), init);
  if (nodes.code !== 'OK' || !nodes.response) throw new Error(`Nodes failed: ${nodes.code} ${nodes.details}`);
  const members = (all.Nodes!.decodeResponse(nodes.response) as { nodes: { name: string; publicKey: string }[] }).nodes.map((n) => ({ name: n.name, publicKey: n.publicKey }));
  const ctx: FuzzContext = { service: 'agent', seed: opts.seed, mesh: before.meshName, meshCidr: before.meshCidr, members };

  const requests: NonNullable<Summary['requests']>[number][] = [];
  const indices = opts.only ?? Array.from({ length: opts.count }, (_, i) => i);
  let done = 0;
  await pool(indices, opts.concurrency, async (index) => {
    const plan = planRequest(ctx, all, index);
    const kind = `${plan.mode}:${plan.method}`;
    const codec = all[plan.call!.method]!;
    const outcome = await send(client, codec, plan.call!.bytes, init);
    tally.record(index, kind, plan.call!.bytes, outcome, codec);
    if (opts.only) requests.push({ index, kind, ...(plan.mutations ? { mutations: plan.mutations } : {}), hex: plan.call!.bytes.toString('hex'), decoded: safeDecode(codec, plan.call!.bytes), outcome: `${outcome.code} ${outcome.details}` });
    if (++done % 2000 === 0) opts.progress?.(`agent: ${done}/${indices.length} requests`);
  });

  // What the fuzz left, then the tags as they were (deleting ours, setting theirs back).
  const after = await infoOf();
  for (const key of Object.keys(after.tags)) {
    if (Object.hasOwn(before.tags, key)) continue;
    await unaryCall(client, all.DeleteTag!, all.DeleteTag!.encode({ key }), init);
  }
  for (const [key, value] of Object.entries(before.tags)) {
    if (after.tags[key] !== value) await unaryCall(client, all.SetTag!, all.SetTag!.encode({ key, value }), init);
  }
  const restored = await infoOf();
  return {
    ...summaryOf(opts, tally, members),
    agent: {
      tagsBefore: before.tags,
      tagsAfterFuzz: after.tags,
      controlErrorAfterFuzz: after.controlError,
      tagsRestored: JSON.stringify(sortedEntries(restored.tags)) === JSON.stringify(sortedEntries(before.tags)),
    },
    ...(opts.only ? { requests } : {}),
  };
}

function sortedEntries(tags: Record<string, string>): [string, string][] {
  return Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function safeDecode(codec: MethodCodec, bytes: Buffer): unknown {
  try {
    return JSON.parse(JSON.stringify(codec.decode(bytes), (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)));
  } catch (err) {
    return `(does not decode: ${(err as Error).message})`;
  }
}

function summaryOf(opts: RunOptions, tally: Tally, members: readonly Member[]): Summary {
  return {
    service: opts.service,
    target: opts.target,
    seed: opts.seed,
    count: opts.only ? opts.only.length : opts.count,
    concurrency: opts.concurrency,
    durationMs: Math.round(performance.now() - tally.startedAt),
    calls: tally.calls,
    byCode: tally.byCode,
    byKind: tally.byKind,
    slowest: tally.slowest,
    unparseable: tally.unparseable,
    unexpected: tally.unexpected,
    unexpectedCount: tally.unexpectedCount,
    errors: tally.errors,
    members: members.map((m) => m.name),
  };
}

export async function runFuzz(opts: RunOptions): Promise<Summary> {
  const address = opts.service === 'agent' ? `unix://${opts.target}` : opts.target;
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const tally = new Tally();
  const init: CallOptionsInit = { deadlineMs: opts.deadlineMs, watchReadMs: opts.watchReadMs };
  try {
    return opts.service === 'mesh' ? await runMesh(client, opts, tally, init) : await runAgent(client, opts, tally, init);
  } finally {
    client.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Command line

const USAGE = `usage: fuzz-services.ts --service mesh|agent --target HOST:PORT|SOCKET --seed N --count N
       [--mesh NAME (mesh: the bootstrap's -n)] [--concurrency 16] [--deadline-ms 10000] [--watch-read-ms 3000] [--only I,J,...]`;

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      service: { type: 'string' },
      target: { type: 'string' },
      seed: { type: 'string' },
      count: { type: 'string', default: '10000' },
      mesh: { type: 'string' },
      concurrency: { type: 'string', default: '16' },
      'deadline-ms': { type: 'string', default: '10000' },
      'watch-read-ms': { type: 'string', default: '3000' },
      only: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const service = values.service;
  const seed = Number(values.seed);
  const count = Number(values.count);
  if ((service !== 'mesh' && service !== 'agent') || !values.target || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff || !Number.isInteger(count) || count < 0) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const only = values.only?.split(',').map((s) => Number(s.trim()));
  if (only?.some((i) => !Number.isInteger(i) || i < 0)) {
    process.stderr.write(`--only takes request indexes: ${values.only}\n`);
    return 2;
  }
  const summary = await runFuzz({
    service,
    target: values.target,
    seed,
    count,
    ...(values.mesh ? { mesh: values.mesh } : {}),
    concurrency: Number(values.concurrency),
    deadlineMs: Number(values['deadline-ms']),
    watchReadMs: Number(values['watch-read-ms']),
    ...(only ? { only } : {}),
    progress: (m) => process.stderr.write(`${m}\n`),
  });
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`fuzz-services: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
