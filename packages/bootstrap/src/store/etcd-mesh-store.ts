/**
 * The etcd side of a member table shared by several bootstraps (DESIGN.md, "More than one
 * bootstrap: etcd"). Under one key prefix (default `/wgmesh/<mesh>/`):
 *
 *   mesh            {"meshName","cidr","createdMs"}   created once, checked by every bootstrap
 *   members/<name>  the Member as JSON                its mod revision is the member's version
 *   ips/<ip>        the member's name                 exists exactly while members/<name> holds that IP
 *   psk-secret      base64 of 32 random bytes         created once (bootstrap -psk): every bootstrap derives the same pair keys
 *   tokens/<hash>   an enrollment token's record      SHA-256 of its secret; never the secret (EtcdTokenStore)
 *   certificates/<serial>  a certificate signed or revoked by a bootstrap with -ca-key (EtcdCertificateStore)
 *
 * Every write is one transaction whose conditions make it safe against every other bootstrap: an
 * allocation creates `ips/<ip>` and `members/<name>` only if both are absent, an update or removal
 * only at the member's expected mod revision, and a removal frees the IP in the same transaction.
 * So two bootstraps never give one IP twice, and no IP key outlives its member. The mesh revision
 * is etcd's revision: list() reads at one revision, watch() resumes after one.
 */
import type { Etcd3, IKeyValue } from 'etcd3';
import { ConfigError, RangeExhausted, StoreConflict, StoreCorrupt, StoreMeshMismatch } from '../errors.js';
import { decodePskSecret, newPskSecret } from '../psk/psk.js';
import type { Member, SharedMemberEvent, SharedMemberStore, StoredMember } from '../members/store.js';
import { connectEtcd, storeCall } from './etcd-client.js';
import { watchPrefix, type PrefixWatch } from './etcd-watch.js';
import { EtcdCoordinator, type CoordinatorInit } from './etcd-coordination.js';
import { EtcdTokenStore } from '../enroll/etcd-token-store.js';
import { EtcdCertificateStore, type CertificateStore } from '../enroll/certificate-store.js';
import type { TokenStore } from '../enroll/token-store.js';

export const ETCD_STORE_DEFAULTS = {
  /** One request to one endpoint; the client then tries another. */
  requestTimeoutMs: 1_000,
  /** A whole store operation (its retries included): beyond it, StoreUnavailable. */
  operationTimeoutMs: 3_000,
  watchBackoffMs: { initial: 100, max: 2_000 },
} as const;

export interface EtcdMeshStoreInit {
  readonly endpoints: readonly string[];
  readonly meshName: string;
  /** The mesh's CIDR as the bootstrap serves it (checked against the stored mesh record). */
  readonly cidr: string;
  /** Key prefix, ending in '/'; default `/wgmesh/<meshName>/`. */
  readonly prefix?: string;
  /** TLS (PEM): etcd's CA; a client certificate and key when etcd asks for one. */
  readonly caCert?: string | Buffer;
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly requestTimeoutMs?: number;
  readonly operationTimeoutMs?: number;
  readonly now?: () => number;
}

export interface MeshRecord {
  readonly meshName: string;
  readonly cidr: string;
  readonly createdMs: number;
  /**
   * A mesh moved in from a state file (`store migrate`): the file's revision then. Agents of that
   * mesh may resume from revisions up to it, which mean nothing in etcd's numbering.
   */
  readonly fileRevision?: number;
}

/** Member changes as the watch delivers them. */
export type MemberEvent = SharedMemberEvent;

export interface MemberWatch {
  /** Mod revision of the last event delivered. */
  readonly revision: number;
  /** Asks for a 'progress' event after every change up to etcd's current revision; false while disconnected. */
  requestProgress(): boolean;
  stop(): Promise<void>;
}

export interface WatchOptions {
  readonly onStatus?: (status: 'watching' | 'disconnected', err?: Error) => void;
}

/** What an audit finds: IP keys with no member holding them, members whose IP key is missing or names another. */
export interface StoreAudit {
  readonly revision: number;
  readonly members: number;
  readonly ips: number;
  readonly orphanIps: readonly string[];
  readonly membersWithoutIp: readonly string[];
}

const MESH_KEY = 'mesh';
const PSK_SECRET_KEY = 'psk-secret';
const MEMBERS = 'members/';
const IPS = 'ips/';

export class EtcdMeshStore implements SharedMemberStore {
  /** Several bootstraps share it: changes come back through watch(), in etcd's order. */
  readonly shared = true as const;
  readonly prefix: string;
  readonly endpoints: readonly string[];
  /** The mesh this store opens (init.meshName, init.cidr). */
  readonly meshName: string;
  readonly cidr: string;
  private client: Etcd3;
  private readonly operationTimeoutMs: number;
  private readonly now: () => number;
  private readonly watches = new Set<PrefixWatch>();

  constructor(private readonly init: EtcdMeshStoreInit) {
    if (init.endpoints.length === 0) throw new Error('etcd store: no endpoints given');
    this.prefix = init.prefix ?? `/wgmesh/${init.meshName}/`;
    if (!this.prefix.endsWith('/')) throw new Error(`etcd store: the key prefix "${this.prefix}" must end with "/"`);
    this.endpoints = [...init.endpoints];
    this.meshName = init.meshName;
    this.cidr = init.cidr;
    this.operationTimeoutMs = init.operationTimeoutMs ?? ETCD_STORE_DEFAULTS.operationTimeoutMs;
    this.now = init.now ?? Date.now;
    this.client = this.connect();
  }

  private connect(): Etcd3 {
    const init = this.init;
    return connectEtcd({
      endpoints: init.endpoints,
      requestTimeoutMs: init.requestTimeoutMs ?? ETCD_STORE_DEFAULTS.requestTimeoutMs,
      ...(init.caCert !== undefined ? { caCert: init.caCert } : {}),
      ...(init.cert !== undefined ? { cert: init.cert } : {}),
      ...(init.key !== undefined ? { key: init.key } : {}),
    });
  }

  /**
   * Replaces the client with a new one, ending every watch (their owners start new ones). Seen
   * here: after a firewall dropped etcd's packets for a while, the old client kept timing out
   * although etcd answered a new client at once.
   */
  reconnect(): void {
    const old = this.client;
    this.client = this.connect();
    for (const watch of this.watches) void watch.stop();
    this.watches.clear();
    old.close();
  }

  memberKey(name: string): string {
    return `${this.prefix}${MEMBERS}${name}`;
  }

  ipKey(ip: string): string {
    return `${this.prefix}${IPS}${ip}`;
  }

  /**
   * Creates the mesh record if the prefix has none, or checks the one there: another mesh name or
   * CIDR under this prefix is StoreMeshMismatch. Returns the record and whether this call made it.
   * A record made here carries `options.createdMs` (a mesh moved from a state file keeps its
   * creation time, and its revision), by default now.
   */
  async open(options: { createdMs?: number; fileRevision?: number } = {}): Promise<{ mesh: MeshRecord; created: boolean }> {
    const key = `${this.prefix}${MESH_KEY}`;
    const wanted: MeshRecord = {
      meshName: this.init.meshName, cidr: this.init.cidr, createdMs: options.createdMs ?? this.now(),
      ...(options.fileRevision !== undefined ? { fileRevision: options.fileRevision } : {}),
    };
    const result = await this.call(() => this.client.if(key, 'Create', '==', 0).then(this.client.put(key).value(JSON.stringify(wanted))).else(this.client.get(key)).commit());
    if (result.succeeded) return { mesh: wanted, created: true };
    const kv = firstKv(result.responses[0]?.response_range?.kvs);
    if (!kv) throw new StoreCorrupt(key, 'vanished right after it was found (deleted by hand?)');
    const stored = decodeMesh(key, kv.value);
    if (stored.meshName !== wanted.meshName || stored.cidr !== wanted.cidr) throw new StoreMeshMismatch(this.prefix, stored, wanted);
    return { mesh: stored, created: false };
  }

  /**
   * The mesh's preshared-key secret (bootstrap -psk): created by the first bootstrap to ask (as
   * `seed` when given: the secret of a mesh moved here from a state file, so pairs keep their
   * keys), read by the others, so every bootstrap of the mesh derives the same keys.
   */
  async presharedKeySecret(seed?: Uint8Array): Promise<Buffer> {
    const key = `${this.prefix}${PSK_SECRET_KEY}`;
    const wanted = seed ? Buffer.from(seed).toString('base64') : newPskSecret();
    const result = await this.call(() => this.client.if(key, 'Create', '==', 0).then(this.client.put(key).value(wanted)).else(this.client.get(key)).commit());
    if (result.succeeded) return Buffer.from(wanted, 'base64');
    const kv = firstKv(result.responses[0]?.response_range?.kvs);
    if (!kv) throw new StoreCorrupt(key, 'vanished right after it was found (deleted by hand?)');
    try {
      return decodePskSecret(kv.value.toString(), `etcd key ${key}`);
    } catch (err) {
      throw err instanceof ConfigError ? new StoreCorrupt(key, err.message) : err;
    }
  }

  /** The mesh record under the prefix as it is, or undefined when there is none (nothing is created). */
  async readMesh(): Promise<MeshRecord | undefined> {
    const key = `${this.prefix}${MESH_KEY}`;
    const kv = firstKv((await this.call(() => this.client.get(key).exec())).kvs);
    return kv ? decodeMesh(key, kv.value) : undefined;
  }

  /**
   * Gives `member` the first free IP of `candidateIps` (in order, skipping IPs already taken) and
   * stores it, in one transaction that creates both `ips/<ip>` and `members/<name>` only if neither
   * exists; an IP taken meanwhile by another bootstrap moves on to the next candidate.
   *
   * - No candidate free: RangeExhausted.
   * - The name is a member already: StoreConflict (actual = its mod revision), unless the stored
   *   member equals `member` but for the IP. That is this very allocation, committed by an earlier
   *   attempt whose answer was lost (StoreUnavailable), and it is returned: retrying is safe.
   * - `expectedModRevision` (a re-join or update of an existing member): the member keeps its IP
   *   and is replaced only if still at that mod revision (see put).
   */
  async allocate(name: string, candidateIps: Iterable<string>, member: Member, options: { expectedModRevision?: number; candidatesCurrent?: boolean } = {}): Promise<StoredMember> {
    if (member.name !== name) throw new Error(`allocate: member.name "${member.name}" is not "${name}"`);
    if (options.expectedModRevision !== undefined) {
      const current = await this.get(name);
      if (!current) throw new StoreConflict(this.memberKey(name), options.expectedModRevision, 0);
      if (current.modRevision !== options.expectedModRevision) throw new StoreConflict(this.memberKey(name), options.expectedModRevision, current.modRevision);
      return this.put({ ...member, meshIp: current.member.meshIp }, options.expectedModRevision);
    }
    const memberKey = this.memberKey(name);
    // A caller that follows the store (the member table) already left out what it knows is taken:
    // reading every address key on each join would grow with the mesh. The transaction is the guard.
    const taken = new Set(options.candidatesCurrent ? [] : await this.call(() => this.client.getAll().prefix(`${this.prefix}${IPS}`).keys()));
    for (const ip of candidateIps) {
      const ipKey = this.ipKey(ip);
      if (taken.has(ipKey)) continue;
      const stored: Member = { ...member, meshIp: ip };
      const result = await this.call(() =>
        this.client
          .if(memberKey, 'Create', '==', 0)
          .and(ipKey, 'Create', '==', 0)
          .then(this.client.put(memberKey).value(JSON.stringify(stored)), this.client.put(ipKey).value(name))
          .else(this.client.get(memberKey))
          .commit(),
      );
      if (result.succeeded) return { member: stored, modRevision: Number(result.header.revision) };
      const existing = firstKv(result.responses[0]?.response_range?.kvs);
      if (existing) {
        const current = this.decodeMember(existing);
        if (sameButIp(current, member)) return { member: current, modRevision: Number(existing.mod_revision) };
        throw new StoreConflict(memberKey, 0, Number(existing.mod_revision));
      }
      taken.add(ipKey); // another bootstrap took this IP since we looked: the next one
    }
    throw new RangeExhausted(this.init.cidr);
  }

  /**
   * Stores `member` at its own meshIp, in one transaction that creates both `members/<name>` and
   * `ips/<meshIp>` only if neither exists (no scan of the IPs: one request per member, for
   * moving a whole mesh in). Either key present: StoreConflict naming that key (the member key
   * first) and its mod revision, and nothing is written.
   */
  async insert(member: Member): Promise<StoredMember> {
    const memberKey = this.memberKey(member.name);
    const ipKey = this.ipKey(member.meshIp);
    const result = await this.call(() =>
      this.client
        .if(memberKey, 'Create', '==', 0)
        .and(ipKey, 'Create', '==', 0)
        .then(this.client.put(memberKey).value(JSON.stringify(member)), this.client.put(ipKey).value(member.name))
        .else(this.client.get(memberKey), this.client.get(ipKey))
        .commit(),
    );
    if (result.succeeded) return { member, modRevision: Number(result.header.revision) };
    const existing = firstKv(result.responses[0]?.response_range?.kvs);
    if (existing) throw new StoreConflict(memberKey, 0, Number(existing.mod_revision));
    const ip = firstKv(result.responses[1]?.response_range?.kvs);
    throw new StoreConflict(ipKey, 0, ip ? Number(ip.mod_revision) : 0);
  }

  /**
   * Replaces an existing member, at its IP, if it is still at `expectedModRevision` (and its IP key
   * still names it): otherwise StoreConflict. A put never moves a member to another IP (remove,
   * then allocate). Returns the new mod revision.
   */
  async put(member: Member, expectedModRevision: number): Promise<StoredMember> {
    const memberKey = this.memberKey(member.name);
    const ipKey = this.ipKey(member.meshIp);
    const result = await this.call(() =>
      this.client
        .if(memberKey, 'Mod', '==', expectedModRevision)
        .and(ipKey, 'Value', '==', member.name)
        .then(this.client.put(memberKey).value(JSON.stringify(member)))
        .else(this.client.get(memberKey), this.client.get(ipKey))
        .commit(),
    );
    if (result.succeeded) return { member, modRevision: Number(result.header.revision) };
    const current = firstKv(result.responses[0]?.response_range?.kvs);
    const actual = current ? Number(current.mod_revision) : 0;
    if (actual !== expectedModRevision) throw new StoreConflict(memberKey, expectedModRevision, actual);
    const holder = firstKv(result.responses[1]?.response_range?.kvs)?.value.toString();
    throw new StoreCorrupt(ipKey, `names ${holder === undefined ? 'no member (missing)' : `"${holder}"`}, not "${member.name}": put cannot move member "${member.name}" to another IP (remove it, then allocate)`);
  }

  /**
   * Removes a member that is still at `expectedModRevision` and frees its IP, in one transaction.
   * Returns the revision of the removal.
   */
  async remove(name: string, expectedModRevision: number): Promise<{ revision: number }> {
    const memberKey = this.memberKey(name);
    const current = await this.get(name);
    if (!current) throw new StoreConflict(memberKey, expectedModRevision, 0);
    if (current.modRevision !== expectedModRevision) throw new StoreConflict(memberKey, expectedModRevision, current.modRevision);
    const ipKey = this.ipKey(current.member.meshIp);
    const result = await this.call(() =>
      this.client
        .if(memberKey, 'Mod', '==', expectedModRevision)
        .and(ipKey, 'Value', '==', name)
        .then(this.client.delete().key(memberKey), this.client.delete().key(ipKey))
        .else(this.client.get(memberKey))
        .commit(),
    );
    if (result.succeeded) return { revision: Number(result.header.revision) };
    const after = firstKv(result.responses[0]?.response_range?.kvs);
    const actual = after ? Number(after.mod_revision) : 0;
    if (actual !== expectedModRevision) throw new StoreConflict(memberKey, expectedModRevision, actual);
    throw new StoreCorrupt(ipKey, `does not name "${name}", whose member record holds that IP`);
  }

  /** One member, or undefined when the name is not a member. */
  async get(name: string): Promise<StoredMember | undefined> {
    const response = await this.call(() => this.client.get(this.memberKey(name)).exec());
    const kv = firstKv(response.kvs);
    return kv ? { member: this.decodeMember(kv), modRevision: Number(kv.mod_revision) } : undefined;
  }

  /** Every member (sorted by name) as of one etcd revision, which watch() resumes after. */
  async list(): Promise<{ members: StoredMember[]; revision: number }> {
    const response = await this.call(() => this.client.getAll().prefix(`${this.prefix}${MEMBERS}`).exec());
    const members = response.kvs.map((kv) => ({ member: this.decodeMember(kv), modRevision: Number(kv.mod_revision) }));
    members.sort((a, b) => (a.member.name < b.member.name ? -1 : a.member.name > b.member.name ? 1 : 0));
    return { members, revision: Number(response.header.revision) };
  }

  /**
   * Member changes with a mod revision above `afterRevision` (a list()'s revision, or the last
   * event's), in revision order, with that revision; across lost connections it resumes after the
   * last event delivered. When etcd has compacted those revisions, one 'compacted' event ends it.
   */
  watch(afterRevision: number, onEvent: (event: MemberEvent) => void, options: WatchOptions = {}): MemberWatch {
    const membersPrefix = `${this.prefix}${MEMBERS}`;
    const watch = watchPrefix(this.client, {
      prefix: membersPrefix,
      afterRevision,
      backoffMs: ETCD_STORE_DEFAULTS.watchBackoffMs,
      ...(options.onStatus ? { onStatus: options.onStatus } : {}),
      onEvent: (event) => {
        if (event.type === 'compacted') {
          this.watches.delete(watch);
          onEvent(event);
        } else if (event.type === 'progress') {
          onEvent(event);
        } else if (event.type === 'delete') {
          onEvent({ type: 'remove', revision: event.revision, name: event.key.slice(membersPrefix.length) });
        } else {
          onEvent({ type: 'upsert', revision: event.revision, member: this.decodeMember({ key: Buffer.from(event.key), value: event.value }) });
        }
      },
    });
    this.watches.add(watch);
    return {
      get revision() {
        return watch.revision;
      },
      requestProgress: () => watch.requestProgress(),
      stop: async () => {
        this.watches.delete(watch);
        await watch.stop();
      },
    };
  }

  /** Checks the invariant at one revision: every IP key names a member holding that IP, and back. */
  async audit(): Promise<StoreAudit> {
    const ips = await this.call(() => this.client.getAll().prefix(`${this.prefix}${IPS}`).exec());
    const revision = Number(ips.header.revision);
    const members = await this.call(() => this.client.getAll().prefix(`${this.prefix}${MEMBERS}`).revision(revision).exec());
    const ipOf = new Map(members.kvs.map((kv) => { const m = this.decodeMember(kv); return [m.name, m.meshIp] as const; }));
    const holders = new Map(ips.kvs.map((kv) => [kv.key.toString().slice(`${this.prefix}${IPS}`.length), kv.value.toString()] as const));
    return {
      revision,
      members: ipOf.size,
      ips: holders.size,
      orphanIps: [...holders].filter(([ip, name]) => ipOf.get(name) !== ip).map(([ip]) => ip).sort(),
      membersWithoutIp: [...ipOf].filter(([name, ip]) => holders.get(ip) !== name).map(([name]) => name).sort(),
    };
  }

  /** Leader election, shared heartbeats and the reachability probe (see EtcdCoordinator); not started. */
  coordinator(init: CoordinatorInit): EtcdCoordinator {
    return new EtcdCoordinator({ client: () => this.client, reconnect: () => this.reconnect() }, this.prefix, this.endpoints, init);
  }

  /** Enrollment tokens under <prefix>tokens/, shared by every bootstrap of the mesh. */
  tokenStore(): TokenStore {
    return new EtcdTokenStore({ client: () => this.client, call: (operation) => this.call(operation), prefix: this.prefix });
  }

  /** The certificates a bootstrap with -ca-key signed or revoked, under <prefix>certificates/: every bootstrap enforces them. */
  certificateStore(): CertificateStore {
    return new EtcdCertificateStore({ client: () => this.client, call: (operation) => this.call(operation), prefix: this.prefix });
  }

  /** Ends every watch and the connections. */
  async close(): Promise<void> {
    await Promise.all([...this.watches].map((w) => w.stop()));
    this.watches.clear();
    this.client.close();
  }

  private call<T>(operation: () => Promise<T>): Promise<T> {
    return storeCall(this.endpoints, this.operationTimeoutMs, operation);
  }

  private decodeMember(kv: Pick<IKeyValue, 'key' | 'value'>): Member {
    const key = kv.key.toString();
    const value = parseJson(key, kv.value) as Partial<Member>;
    if (typeof value !== 'object' || value === null || typeof value.name !== 'string' || typeof value.meshIp !== 'string' || typeof value.publicKey !== 'string') {
      throw new StoreCorrupt(key, 'is not a member (JSON with name, meshIp, publicKey, …)');
    }
    if (key !== this.memberKey(value.name)) throw new StoreCorrupt(key, `holds member "${value.name}", whose key is ${this.memberKey(value.name)}`);
    return value as Member;
  }
}

function decodeMesh(key: string, value: Buffer): MeshRecord {
  const stored = parseJson(key, value) as Partial<MeshRecord> | null;
  if (typeof stored !== 'object' || stored === null || typeof stored.meshName !== 'string' || typeof stored.cidr !== 'string' || typeof stored.createdMs !== 'number') {
    throw new StoreCorrupt(key, 'is not a mesh record {meshName, cidr, createdMs}');
  }
  if (stored.fileRevision !== undefined && typeof stored.fileRevision !== 'number') throw new StoreCorrupt(key, 'has a fileRevision that is not a number');
  return stored as MeshRecord;
}

function firstKv(kvs: readonly IKeyValue[] | undefined): IKeyValue | undefined {
  return kvs && kvs.length > 0 ? kvs[0] : undefined;
}

function parseJson(key: string, value: Buffer): unknown {
  try {
    return JSON.parse(value.toString());
  } catch (err) {
    throw new StoreCorrupt(key, `is not valid JSON (${(err as Error).message})`);
  }
}

/** JSON with object keys sorted, so two equal members compare equal whatever order built them. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function sameButIp(a: Member, b: Member): boolean {
  return canonical({ ...a, meshIp: '' }) === canonical({ ...b, meshIp: '' });
}
