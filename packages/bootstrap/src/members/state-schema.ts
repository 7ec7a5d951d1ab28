import { isWgKey } from '@wgmesh/agent/wg/keys';
import { type EndpointKind__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/EndpointKind';
import { type NodeStatus__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/NodeStatus';
import { isIp, parsePrefix, prefixContains, type Prefix } from '../ipam/ipam.js';
import type { MeshState, Member, StateChange } from './store.js';
import { StateProblem } from '../errors.js';

/**
 * The shape of a bootstrap state file, checked whole at load: a member the table cannot use
 * (no endpoints, a status it does not know, a key WireGuard refuses) would otherwise fail later
 * and far from the cause (the bootstrap's own WireGuard set-up, or an Update answered INTERNAL).
 * Fields the code no longer writes (`rtt`, see withoutRetiredFields) and fields a newer wgmesh may
 * add are tolerated; a field newer code adds and older files lack must be checked only when present.
 */

type Check = (value: unknown, path: string) => void;

function shown(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

/** A check that `ok` holds, saying what was expected when it does not. */
function expect(expected: string, ok: (value: unknown) => boolean): Check {
  return (value, path) => {
    if (!ok(value)) throw new StateProblem(path, `${value === undefined ? 'missing' : `is ${shown(value)}`} (expected ${expected})`);
  };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const string = expect('a string', (v) => typeof v === 'string');
const boolean = expect('true or false', (v) => typeof v === 'boolean');
const timeMs = expect('a time in ms', (v) => typeof v === 'number' && Number.isFinite(v));
const port = expect('a port number 1-65535', (v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535);
// 0 too: the bootstrap's own entry carries whatever -listen-port it was started with (its local
// join is not checked like a remote one), and a file it wrote must load again.
const listenPort = expect('a port number 0-65535', (v) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535);
const ip = expect('an IPv4 or IPv6 address', (v) => typeof v === 'string' && isIp(v));
const nodeName = expect('a node name (a DNS label)', (v) => typeof v === 'string' && /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(v));
const wgKey = expect('a WireGuard public key (base64 of 32 bytes)', (v) => typeof v === 'string' && isWgKey(v));

/** Every value of the enum: a Record over the generated type, so a new proto value must be added here. */
function oneOf<T extends string>(values: Record<T, true>): Check {
  const names = Object.keys(values);
  return expect(`one of ${names.join(', ')}`, (v) => typeof v === 'string' && names.includes(v));
}
const NODE_STATUSES: Record<NodeStatus__Output, true> = {
  NODE_STATUS_UNSPECIFIED: true, NODE_STATUS_ALIVE: true, NODE_STATUS_SUSPECT: true, NODE_STATUS_FAILED: true, NODE_STATUS_LEFT: true,
};
const ENDPOINT_KINDS: Record<EndpointKind__Output, true> = {
  ENDPOINT_KIND_UNSPECIFIED: true, ENDPOINT_KIND_LAN: true, ENDPOINT_KIND_OBSERVED: true, ENDPOINT_KIND_STUN: true, ENDPOINT_KIND_CONFIGURED: true, ENDPOINT_KIND_MAPPED: true,
};

function object(fields: Record<string, Check>): Check {
  return (value, path) => {
    if (!isObject(value)) expect('an object', () => false)(value, path);
    const record = value as Record<string, unknown>;
    for (const [key, check] of Object.entries(fields)) check(record[key], `${path}.${key}`);
  };
}

function arrayOf(item: Check): Check {
  return (value, path) => {
    if (!Array.isArray(value)) expect('an array', () => false)(value, path);
    (value as unknown[]).forEach((v, i) => item(v, `${path}[${i}]`));
  };
}

const endpoint = object({ ip, port, kind: oneOf(ENDPOINT_KINDS) });

const tags: Check = (value, path) => {
  if (!isObject(value)) expect('an object of string values', () => false)(value, path);
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) string(v, `${path}["${key}"]`);
};

/**
 * One check per field of Member. Keyed by every field of the type, so a field added to Member
 * (or to the proto's Node) does not compile until it is checked here too. When files written
 * before the field existed lack it, check it only when present: (v, path) => v === undefined || check(v, path).
 */
function memberFields(cidr: Prefix): Record<keyof Required<Member>, Check> {
  return {
    name: nodeName,
    publicKey: wgKey,
    meshIp: (value, path) => {
      ip(value, path);
      if (!prefixContains(cidr, value as string)) throw new StateProblem(path, `${shown(value)} is not inside the mesh CIDR ${cidr.text}`);
    },
    endpoints: arrayOf(endpoint),
    tags,
    status: oneOf(NODE_STATUSES),
    joinedAtMs: timeMs,
    lastSeenMs: timeMs,
    statusChangedMs: timeMs,
    isBootstrap: boolean,
    listenPort,
    certFingerprint: string,
    // Identity proofs, absent in files from before they existed (and each only in its mode).
    certSerial: optional(expect('a certificate serial (lower-case hex)', (v) => typeof v === 'string' && /^[0-9a-f]+$/.test(v))),
    certNotAfterMs: optional(timeMs),
    secretHash: optional(expect('a SHA-256 in hex', (v) => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v))),
    // Relays came later: absent in older files (the flag is recomputed on load anyway).
    relay: optional(boolean),
    relayOffered: optional(boolean),
  };
}

/** A field that files written before it existed lack. */
function optional(check: Check): Check {
  return (value, path) => {
    if (value !== undefined) check(value, path);
  };
}

/** Two members may not share what identifies them, or what WireGuard keys its peers by. */
function checkUnique(members: readonly Member[]): void {
  for (const field of ['name', 'meshIp', 'publicKey'] as const) {
    const first = new Map<string, number>();
    members.forEach((m, i) => {
      const seen = first.get(m[field]);
      if (seen !== undefined) throw new StateProblem(`members[${i}].${field}`, `${shown(m[field])} is also members[${seen}]'s ("${members[seen]!.name}"); each member needs its own`);
      first.set(m[field], i);
    });
  }
}

/** The state in `value`, checked; a StateProblem names the first bad field. */
export function checkStateShape(value: unknown): MeshState {
  if (!isObject(value)) throw new StateProblem('(top level)', `is ${shown(value)} (expected a wgmesh state object)`);
  if (value.version !== 1) throw new StateProblem('version', `is ${shown(value.version)}; this wgmesh reads version 1`);
  string(value.meshName, 'meshName');
  string(value.cidr, 'cidr');
  let cidr: Prefix;
  try {
    cidr = parsePrefix(value.cidr as string);
  } catch {
    throw new StateProblem('cidr', `is ${shown(value.cidr)} (expected a network in CIDR form like 10.232.0.0/16)`);
  }
  timeMs(value.createdMs, 'createdMs');
  expect('a revision number (an integer, 0 or more)', (v) => Number.isInteger(v) && (v as number) >= 0)(value.revision, 'revision');
  arrayOf(object(memberFields(cidr)))(value.members, 'members');
  checkUnique(value.members as Member[]);
  // Layer 2 came later: only when present.
  optional(object({
    vni: expect('a VXLAN network identifier 1-16777215', (v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 16_777_215),
    port,
  }))(value.l2, 'l2');
  return value as unknown as MeshState;
}

/**
 * One line of the journal (see FileStateStore): a change at a revision, either a whole member
 * (checked like a member of the state file) or the name of a member removed.
 */
export function checkChangeShape(value: unknown, cidrText: string): StateChange {
  if (!isObject(value)) throw new StateProblem('(top level)', `is ${shown(value)} (expected a change: {"revision", "upsert"} or {"revision", "remove"})`);
  expect('a revision number (an integer above 0)', (v) => Number.isInteger(v) && (v as number) > 0)(value.revision, 'revision');
  if ('upsert' in value) {
    memberCheck(cidrText)(value.upsert, 'upsert');
  } else if ('remove' in value) {
    nodeName(value.remove, 'remove');
  } else {
    throw new StateProblem('(top level)', 'has neither "upsert" nor "remove"');
  }
  return value as unknown as StateChange;
}

/** The member check for a mesh CIDR, made once per CIDR (a journal's lines share it). */
const memberChecks = new Map<string, Check>();
function memberCheck(cidrText: string): Check {
  let check = memberChecks.get(cidrText);
  if (!check) memberChecks.set(cidrText, (check = object(memberFields(parsePrefix(cidrText)))));
  return check;
}
