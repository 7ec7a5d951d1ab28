import type { Endpoint__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/Endpoint';
import type { JoinResponse__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/JoinResponse';
import type { MeshNode, NetmapDelta } from '@wgmesh/agent/netmap/netmap';
import type { NodeStatus__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/NodeStatus';
import type { RttResponse__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/RttResponse';
import type { RttSample__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/RttSample';
import type { WatchEvent } from '@wgmesh/agent/proto/gen/wgmesh/v1/WatchEvent';
import { spreadIndex } from '@wgmesh/agent/control/failover';
import { compareNames, withoutRetiredFields } from '@wgmesh/agent/netmap/netmap';
import type { L2Settings } from '@wgmesh/agent/l2/l2';
import { ConfigError, IdentityMismatch, NameTaken, NodeNotFound, PublicKeyTaken, StoreConflict, StoreUnavailable } from '../errors.js';
import { AddressPool, type Ipam } from '../ipam/ipam.js';
import { DEFAULTS } from '../constants.js';
import { isSharedStore, type MeshState, type Member, type SharedMemberEvent, type SharedMemberStore, type StateStore } from './store.js';
import { checkIdentity, hashNodeSecret, newNodeSecret, VerifiedSecrets, type Identity } from './identity.js';
import { RelayedPairs, relayGranted, type RelayedPeer } from './relays.js';
import { sameMember } from './same-member.js';

export type { Identity } from './identity.js';

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export interface JoinInput {
  readonly name: string;
  readonly identity: Identity;
  readonly endpoints: readonly Endpoint__Output[];
  readonly tags: Readonly<Record<string, string>>;
  readonly listenPort: number;
  readonly isBootstrap?: boolean;
  /** The node offers to relay (granted only when it is directly reachable, see relayGranted). */
  readonly relay?: boolean;
  /** Only for the bootstrap's own entry: its configured address. */
  readonly fixedIp?: string;
  /** The mesh IP the node held last (JoinRequest.previous_mesh_ip): a new member gets it when it is free and in the range. */
  readonly previousIp?: string;
}

export interface UpdateInput {
  readonly endpoints?: readonly Endpoint__Output[];
  readonly tags?: Readonly<Record<string, string>>;
  readonly rtt?: readonly RttSample__Output[];
  readonly status?: NodeStatus__Output;
  /** The peers the node reaches through a relay now (its full list). */
  readonly relayed?: readonly RelayedPeer[];
  /** Key rotation: the key the node switched to, and (dev mode) the secret derived from it. */
  readonly newKey?: NewKey;
}

export interface NewKey {
  readonly publicKey: string;
  readonly secret?: string;
}

export type MemberDelta = Exclude<NetmapDelta, { kind: 'snapshot' }>;

/** A change as the Watch message that carries it. */
export function deltaToEvent(delta: MemberDelta): WatchEvent & { event: 'upsert' | 'remove' } {
  return delta.kind === 'upsert'
    ? { revision: delta.revision, upsert: delta.node, event: 'upsert' }
    : { revision: delta.revision, remove: { name: delta.name }, event: 'remove' };
}

/** A shared store's writes that lost to another bootstrap are tried again this often (then StoreConflict). */
const SHARED_WRITE_ATTEMPTS = 5;
/** How long a shared store's write may take to come back through its watch. */
const SHARED_ECHO_TIMEOUT_MS = 3_000;

/**
 * The mesh's members, their IPs and the revision. Every change is persisted before it is
 * acknowledged or published, runs one at a time (so IPAM never hands out an IP twice), and is
 * published as exactly one delta.
 *
 * Over a file (StateStore) the table is the only writer: each change bumps the revision by one.
 * Over a shared store (SharedMemberStore, etcd) several bootstraps write: every write is
 * conditional (an IP is taken by a transaction, a member replaced only at the version this table
 * saw), and the table changes only from the store's watch, in the store's order, so every
 * bootstrap publishes the same deltas at the same revisions (the store's) and an agent can resume
 * on any of them. A write this table makes is acknowledged once it has come back that way.
 */
export class MemberTable {
  /** Changed in place, once a change is persisted (see commit); with the indices below kept beside it by putMember and dropMember. */
  private readonly members = new Map<string, Member>();
  /** Who holds each public key (keys are unique in the mesh). */
  private readonly keyHolders = new Map<string, string>();
  /** Who holds each mesh IP, and the lowest free one. */
  private readonly addresses: AddressPool;
  private revisionValue: number;
  private readonly history: MemberDelta[] = [];
  private readonly listeners = new Set<(delta: MemberDelta) => void>();
  private queue: Promise<unknown> = Promise.resolve();
  /** Heartbeat times are kept in memory only: persisting every heartbeat would cost a write per node per interval. */
  private readonly lastSeen = new Map<string, number>();
  /**
   * Each member's latest RTT sample per peer (reporter -> peer -> sample), in memory only and
   * outside the membership: a measurement is not a change to persist or to send to every node
   * (with N nodes each reporting N-1 samples, that would be N² samples to every node). Mesh.Rtt
   * serves them on request.
   */
  private readonly rttReports = new Map<string, Map<string, RttFigure>>();
  /** Each member's incarnation for RTT figures: a new number once it has left and come back. */
  private readonly rttIncarnations = new Map<string, number>();
  /** Per reporting member: the newest measured_at_ms it reported (freshRttMatrix waits on it). */
  private readonly rttMeasuredAt = new Map<string, number>();
  private readonly rttWantedListeners = new Set<(untilMs: number) => void>();
  private rttIncarnationCounter = 0;
  /** Which pairs route through which relay, from the nodes' heartbeats. */
  readonly relayedPairs = new RelayedPairs();
  /** Dev-mode secrets that matched before, so a heartbeat is not hashed again (tests read its counter). */
  readonly verifiedSecrets = new VerifiedSecrets();
  /** Deltas after this revision are all in the history (deltasSince reaches back to here). */
  private historyFloor: number;
  /** A mesh moved from a state file into a shared store: revisions up to the file's are of the old numbering. */
  private foreignRevisionsUpTo = 0;
  /** Shared store only: each member's mod revision, which a conditional write names. */
  private readonly modRevisions = new Map<string, number>();
  /** Shared store only: every change up to here has been applied (events and progress answers). */
  private appliedRevision = 0;
  private revisionWaiters: { revision: number; resolve: () => void }[] = [];
  private readonly progressWaiters = new Set<() => void>();
  private storeWatch: ReturnType<SharedMemberStore['watch']> | undefined;
  /** The store answers its prober (setStoreReachable), and this table's watch of it is connected. */
  private probeOk = true;
  private watchOk = true;
  private probeError = '';
  private watchError = '';
  private readonly resyncListeners = new Set<() => void>();
  /** The mesh's layer 2, set once at open. */
  private l2: L2Settings | undefined;

  private constructor(
    private readonly store: StateStore | SharedMemberStore,
    private readonly ipam: Ipam,
    private readonly clock: Clock,
    readonly meshName: string,
    readonly createdMs: number,
    state: MeshState,
    private readonly historyLimit: number,
  ) {
    this.addresses = new AddressPool(ipam);
    // Files from before relays lack the flag: recomputed, never trusted from disk.
    for (const m of state.members) this.putMember(withRelay(withoutRetiredFields(m)));
    this.revisionValue = state.revision;
    this.historyFloor = state.revision;
    this.appliedRevision = state.revision;
  }

  /** Restores the table from the store, or starts a new mesh (and saves it) when there is none. */
  static async open(
    store: StateStore | SharedMemberStore,
    ipam: Ipam,
    init: { meshName: string; clock?: Clock; historyLimit?: number; l2?: L2Settings },
  ): Promise<MemberTable> {
    const clock = init.clock ?? systemClock;
    if (isSharedStore(store)) {
      if (init.l2) throw new ConfigError('-l2 is not supported with -store etcd yet (the mesh record in etcd has no place for it); run the mesh with -store file, or without -l2');
      return MemberTable.openShared(store, ipam, clock, init);
    }
    let state = await store.load();
    if (state && (state.meshName !== init.meshName || state.cidr !== ipam.cidr.text)) {
      throw new ConfigError(
        `the state file holds mesh "${state.meshName}" with CIDR ${state.cidr}, but this bootstrap was started for mesh "${init.meshName}" with CIDR ${ipam.cidr.text}; start it with the same -n and -cidr, or use another -state-dir`,
      );
    }
    if (state?.l2 && init.l2 && (state.l2.vni !== init.l2.vni || state.l2.port !== init.l2.port)) {
      throw new ConfigError(
        `the state file's mesh has layer 2 with VNI ${state.l2.vni}, port ${state.l2.port}, but this bootstrap was started with VNI ${init.l2.vni}, port ${init.l2.port}; start it with the mesh's (or without -l2-vni/-l2-port: the state's are kept)`,
      );
    }
    if (!state) {
      state = { version: 1, meshName: init.meshName, cidr: ipam.cidr.text, createdMs: clock.now(), revision: 0, members: [], ...(init.l2 ? { l2: init.l2 } : {}) };
      await store.save(state);
    } else if (init.l2 && !state.l2) {
      // L2 added to a mesh that had none: kept from now on; nodes learn it at their next join.
      state = { ...state, l2: init.l2 };
      await store.save(state);
    }
    const table = new MemberTable(store, ipam, clock, state.meshName, state.createdMs, state, init.historyLimit ?? DEFAULTS.historyLimit);
    table.l2 = state.l2;
    return table;
  }

  /**
   * Over a shared store: reads every member, then follows the store's watch from that revision.
   * The store checks (or records) the mesh name and CIDR; the mesh's creation time is the store's.
   */
  private static async openShared(store: SharedMemberStore, ipam: Ipam, clock: Clock, init: { meshName: string; historyLimit?: number }): Promise<MemberTable> {
    const { mesh } = await store.open();
    const listed = await store.list();
    const state: MeshState = { version: 1, meshName: mesh.meshName, cidr: mesh.cidr, createdMs: mesh.createdMs, revision: listed.revision, members: listed.members.map((m) => m.member) };
    const table = new MemberTable(store, ipam, clock, init.meshName, mesh.createdMs, state, init.historyLimit ?? DEFAULTS.historyLimit);
    for (const m of listed.members) table.modRevisions.set(m.member.name, m.modRevision);
    table.foreignRevisionsUpTo = mesh.fileRevision ?? 0;
    table.followStore(store, listed.revision);
    return table;
  }

  get revision(): number {
    return this.revisionValue;
  }

  /** Whether the table is shared with other bootstraps through a store (etcd). */
  get shared(): boolean {
    return isSharedStore(this.store);
  }

  /**
   * Shared store: whether it answers. While it does not, joins, updates and leaves are refused
   * (StoreUnavailable): the table never decides from what it remembers. Watches go on from it.
   */
  get storeReachable(): boolean {
    return this.probeOk && this.watchOk;
  }

  /** Told by whoever probes the shared store (a watch can stay silent on a dead connection). */
  setStoreReachable(reachable: boolean, reason = ''): void {
    if (!this.shared) return;
    const was = this.probeOk;
    this.probeOk = reachable;
    this.probeError = reachable ? '' : reason || 'no answer';
    // A watch that went quiet meanwhile may never speak again: a new one resumes after the last change applied.
    if (reachable && !was) this.restartStoreWatch();
  }

  /** Ends the shared store's watch, or lets a file store close its journal (the store itself belongs to the caller). */
  async close(): Promise<void> {
    const watch = this.storeWatch;
    this.storeWatch = undefined;
    await watch?.stop();
    for (const waiter of this.revisionWaiters.splice(0)) waiter.resolve();
    for (const done of [...this.progressWaiters]) done();
    if (!isSharedStore(this.store)) await this.store.close?.();
  }

  get cidr(): string {
    return this.ipam.cidr.text;
  }

  /** The mesh's layer 2 (bootstrap -l2, or kept in the state file); undefined: none. */
  get l2Settings(): L2Settings | undefined {
    return this.l2;
  }

  get size(): number {
    return this.members.size;
  }

  /**
   * Someone wants figures measured now: every open Watch stream is told (RttWanted, outside the
   * membership history); `listener` is called with the time until which nodes probe often.
   */
  onRttWanted(listener: (untilMs: number) => void): () => void {
    this.rttWantedListeners.add(listener);
    return () => this.rttWantedListeners.delete(listener);
  }

  /**
   * The matrix with figures measured after this call: every watching node is asked to probe now
   * and report at once, and the answer waits until every alive member's newest figure is newer
   * than the call (node clocks are assumed in step, as for heartbeats' liveness), or `waitMs`.
   */
  async freshRttMatrix(waitMs = RTT_FRESH_WAIT_MS): Promise<RttResponse__Output> {
    const asked = Date.now();
    for (const listener of this.rttWantedListeners) listener(asked + RTT_FRESH_FOR_MS);
    const deadline = asked + waitMs;
    const waiting = () => {
      if (this.members.size < 2) return false;
      for (const [name, member] of this.members) {
        if (member.status === 'NODE_STATUS_ALIVE' && (this.rttMeasuredAt.get(name) ?? 0) < asked) return true;
      }
      return false;
    };
    while (waiting() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, Math.min(100, Math.max(1, deadline - Date.now()))));
    return this.rttMatrix();
  }

  /** The mesh-wide RTT matrix: every member's latest report, rows between current members only. */
  rttMatrix(): RttResponse__Output {
    const names = [...this.members.keys()].sort();
    const rows = names.flatMap((from) => [...(this.rttReports.get(from)?.values() ?? [])]
      .filter((f) => f.sample.peer !== from && this.isCurrent(f))
      .map(({ sample: s }) => ({ from, to: s.peer, rttMs: s.rttMs, loss: s.loss, measuredAtMs: s.measuredAtMs })));
    return { nodes: names, rows, partial: false };
  }

  get(name: string): Member | undefined {
    return this.members.get(name);
  }

  /** Every member now, in no particular order (read-only). */
  currentMembers(): Iterable<Member> {
    return this.members.values();
  }

  /**
   * The membership as nodes see it, sorted by name. Made once per revision and shared (callers
   * must not change it): every join and every new watcher of a large mesh asks for it, and
   * rebuilding 10,000 records each time was most of a busy bootstrap's work (and its GC).
   */
  list(): MeshNode[] {
    if (this.listed?.revision !== this.revisionValue || this.listed.size !== this.members.size) {
      this.listed = { revision: this.revisionValue, size: this.members.size, nodes: Object.freeze([...this.members.values()].map((m) => this.nodeOf(m)).sort((a, b) => compareNames(a.name, b.name))) as MeshNode[] };
    }
    return this.listed.nodes;
  }
  private listed: { revision: number; size: number; nodes: MeshNode[] } | undefined;
  /** Each member record's node, one object for as long as the record is (lists share them: see EncodedMembership). */
  private readonly nodes = new WeakMap<Member, MeshNode>();
  private nodeOf(member: Member): MeshNode {
    let node = this.nodes.get(member);
    if (!node) this.nodes.set(member, (node = Object.freeze(toNode(member))));
    return node;
  }

  snapshot(): { revision: number; nodes: MeshNode[] } {
    return { revision: this.revisionValue, nodes: this.list() };
  }

  /** What a node is told when it joins: its address, the mesh, the membership now, and its secret (dev mode). */
  joinResponse(member: Pick<Member, 'name' | 'meshIp'>, secret = ''): JoinResponse__Output {
    const snapshot = this.snapshot();
    return { nodeName: member.name, meshIp: member.meshIp, meshCidr: this.cidr, meshCreatedMs: this.createdMs, revision: snapshot.revision, nodes: snapshot.nodes, nodeSecret: secret, presharedKeys: false, l2: this.l2 ? { enabled: true, ...this.l2 } : null };
  }

  /** The deltas after `revision`, or undefined when the history no longer reaches back that far. */
  deltasSince(revision: number): MemberDelta[] | undefined {
    // An agent of the mesh before it moved into etcd: its number is not one of etcd's.
    if (this.foreignRevisionsUpTo > 0 && revision <= this.foreignRevisionsUpTo) return undefined;
    if (revision > this.revisionValue) return undefined;
    if (revision === this.revisionValue) return [];
    if (revision < this.historyFloor) return undefined;
    return this.history.filter((d) => d.revision > revision);
  }

  /**
   * List-and-watch: sends the deltas since `sinceRevision` (or a snapshot when the history does
   * not reach back, or when starting from 0), then every change as one event. History and
   * subscription happen in one synchronous step, so no change can fall between them. An event
   * made from a delta comes with it: every watcher gets the same delta object for a change, so a
   * sender can encode a change once for all of them. `catchUp` is true for the snapshot or
   * replayed deltas the stream starts with, false for live changes. Returns the unsubscribe.
   */
  watch(sinceRevision: number, send: (event: WatchEvent, delta: MemberDelta | undefined, catchUp: boolean) => void): () => void {
    this.catchUp(sinceRevision, (event, delta) => send(event, delta, true));
    const unsubscribe = this.subscribe((delta) => send(deltaToEvent(delta), delta, false));
    const stopResync = this.onResync(() => send(this.snapshotEvent(), undefined, false));
    return () => {
      unsubscribe();
      stopResync();
    };
  }

  /**
   * A watch's start without its subscription: the deltas since `sinceRevision`, or a snapshot
   * (no history that far back, or from 0), sent now. A caller that subscribes in the same
   * synchronous step (see watch; the Watch service's shared fan-out) misses no change between.
   */
  catchUp(sinceRevision: number, send: (event: WatchEvent, delta: MemberDelta | undefined) => void): void {
    const deltas = sinceRevision > 0 ? this.deltasSince(sinceRevision) : undefined;
    if (deltas) {
      for (const d of deltas) send(deltaToEvent(d), d);
      return;
    }
    send(this.snapshotEvent(), undefined);
  }

  /** The whole membership now, as the Watch message that carries it. */
  snapshotEvent(): WatchEvent {
    const snapshot = this.snapshot();
    return { revision: snapshot.revision, snapshot: { nodes: snapshot.nodes }, event: 'snapshot' } as WatchEvent;
  }

  /** Called when the table re-read a shared store whose history was gone: watchers need the whole membership anew. */
  onResync(listener: () => void): () => void {
    this.resyncListeners.add(listener);
    return () => this.resyncListeners.delete(listener);
  }

  subscribe(listener: (delta: MemberDelta) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  lastSeenMs(name: string): number | undefined {
    return this.lastSeen.get(name);
  }

  /**
   * Adds a member, or re-registers one (idempotent for the same identity). `secret` is what the
   * node must send with its later calls in dev mode: the one it proved, or a new one.
   */
  join(input: JoinInput): Promise<{ member: Member; revision: number; created: boolean; secret: string }> {
    return this.serialized(async () => {
      this.checkStoreReachable();
      const now = this.clock.now();
      const existing = this.members.get(input.name);
      this.checkKeyUnique(input.name, input.identity.publicKey);
      if (existing) {
        try {
          checkIdentity(existing, input.identity, 'join', this.verifiedSecrets);
        } catch (err) {
          if (err instanceof IdentityMismatch) throw new NameTaken(input.name);
          throw err;
        }
        this.lastSeen.set(input.name, now);
        const secret = secretFor(existing, input.identity);
        const next: Member = {
          ...existing,
          publicKey: input.identity.publicKey,
          ...credentialsOf(input.identity, secret),
          endpoints: mergeObserved(existing.endpoints, input.endpoints),
          tags: { ...input.tags },
          listenPort: input.listenPort,
          status: 'NODE_STATUS_ALIVE',
          statusChangedMs: existing.status === 'NODE_STATUS_ALIVE' ? existing.statusChangedMs : now,
          lastSeenMs: now,
          relayOffered: input.relay ?? false,
        };
        if (sameMember(existing, next)) return { member: existing, revision: this.revisionValue, created: false, secret };
        return { member: await this.commit({ upsert: next }), revision: this.revisionValue, created: false, secret };
      }
      if (input.fixedIp) this.checkFixedIp(input.name, input.fixedIp);
      // A shared store takes the first candidate no other bootstrap took meanwhile (in its transaction).
      // A node back after it left (a restart: it leaves at its stop) asks for the address it held,
      // and keeps it when no one took it meanwhile: its address does not move with every restart.
      const allocatable = input.previousIp ? this.ipam.allocatable(input.previousIp) : undefined;
      const previous = allocatable !== undefined && this.addresses.holder(allocatable) === undefined ? allocatable : undefined;
      const ip = input.fixedIp ?? (this.shared ? '' : previous ?? this.addresses.lowestFree());
      const candidates = input.fixedIp ? [input.fixedIp] : this.shared ? withFirst(previous, spreadCandidates(this.ipam.free(new Set(this.addresses.inUse())), input.name)) : undefined;
      // The node's own secret (agents derive one from their private key), else one made here.
      const secret = input.identity.cert || input.identity.local ? '' : input.identity.secret || newNodeSecret();
      const member = await this.commit({ upsert: {
        name: input.name,
        publicKey: input.identity.publicKey,
        certFingerprint: '',
        ...credentialsOf(input.identity, secret),
        meshIp: ip,
        endpoints: [...input.endpoints],
        tags: { ...input.tags },
        status: 'NODE_STATUS_ALIVE',
        joinedAtMs: now,
        lastSeenMs: now,
        statusChangedMs: now,
        isBootstrap: input.isBootstrap ?? false,
        listenPort: input.listenPort,
        relayOffered: input.relay ?? false,
        relay: false,
      }, ...(candidates ? { candidates } : {}) });
      this.lastSeen.set(input.name, now);
      return { member, revision: this.revisionValue, created: true, secret };
    });
  }

  /**
   * What a key rotation changes in the member: its key (unique in the mesh) and, in dev mode, the
   * secret that proves it from then on (derived from the new key, so it must come with it).
   */
  private rotatedKey(existing: Member, identity: Identity | undefined, newKey: NewKey): Partial<Member> {
    this.checkKeyUnique(existing.name, newKey.publicKey);
    if (identity?.cert || identity?.local || existing.certFingerprint) return { publicKey: newKey.publicKey };
    if (existing.secretHash && !newKey.secret) throw new IdentityMismatch(existing.name, 'a new public_key needs the new_node_secret that goes with it');
    return { publicKey: newKey.publicKey, ...(newKey.secret ? { secretHash: hashNodeSecret(newKey.secret) } : {}) };
  }

  /** Two members with one key would take each other's traffic (AllowedIPs follow the key). */
  private checkKeyUnique(name: string, publicKey: string): void {
    const holder = this.keyHolders.get(publicKey);
    if (holder !== undefined && holder !== name) throw new PublicKeyTaken(name, holder);
  }

  /** Heartbeat: refreshes liveness; publishes a delta only when something others see changed. */
  update(name: string, identity: Identity | undefined, input: UpdateInput): Promise<number> {
    return this.serialized(async () => {
      this.checkStoreReachable();
      let newKey = input.newKey;
      // A rotation sent again (its answer was lost): the member has the new key already, and the
      // new key's identity proves it. Then it is an ordinary heartbeat from the new identity.
      if (newKey && identity && this.members.get(name)?.publicKey === newKey.publicKey && newKey.publicKey !== identity.publicKey) {
        identity = { ...identity, publicKey: newKey.publicKey, ...(newKey.secret !== undefined ? { secret: newKey.secret } : {}) };
        newKey = undefined;
      }
      // The node proves itself with its current identity: the new key alone proves nothing.
      const existing = this.authorize(name, identity);
      const now = this.clock.now();
      if (identity) this.lastSeen.set(name, now);
      const next: Member = {
        ...existing,
        // A renewed certificate is recorded, so revocation and expiry follow the one in use.
        ...(identity?.cert ? credentialsOf(identity, '') : {}),
        endpoints: input.endpoints ? mergeObserved(existing.endpoints, input.endpoints) : existing.endpoints,
        tags: input.tags ? { ...input.tags } : existing.tags,
        status: input.status ?? (identity ? 'NODE_STATUS_ALIVE' : existing.status),
        ...(newKey && newKey.publicKey !== existing.publicKey ? this.rotatedKey(existing, identity, newKey) : {}),
      };
      if (input.rtt) this.mergeRttReport(name, input.rtt);
      if (input.relayed) this.relayedPairs.report(name, input.relayed.filter((r) => this.members.has(r.peer) && this.members.get(r.via)?.relay));
      if (next.status !== existing.status) Object.assign(next, { statusChangedMs: now });
      if (!sameMember(existing, next)) await this.commit({ upsert: { ...next, lastSeenMs: identity ? now : existing.lastSeenMs } });
      return this.revisionValue;
    });
  }

  /** Sets the endpoint the bootstrap itself observes for a node (replacing any earlier one). */
  setObservedEndpoint(name: string, endpoint: Endpoint__Output | undefined): Promise<void> {
    return this.serialized(async () => {
      const existing = this.members.get(name);
      if (!existing) return;
      const others = existing.endpoints.filter((e) => e.kind !== 'ENDPOINT_KIND_OBSERVED');
      const endpoints = endpoint ? [...others, { ...endpoint, kind: 'ENDPOINT_KIND_OBSERVED' as const }] : others;
      const next = { ...existing, endpoints };
      if (!sameMember(existing, next)) await this.commit({ upsert: next });
    });
  }

  /** Removes a member; with an identity (a node's own Leave) it must match. */
  remove(name: string, identity?: Identity): Promise<void> {
    return this.serialized(async () => {
      this.checkStoreReachable();
      this.authorize(name, identity);
      await this.commit({ remove: name });
      this.forget(name);
    });
  }

  /** What the table keeps of a member outside the membership: its heartbeat time, its RTT row and the figures about it. */
  private forget(name: string): void {
    this.lastSeen.delete(name);
    this.rttReports.delete(name);
    this.relayedPairs.forget(name);
    this.rttIncarnations.delete(name);
    this.rttMeasuredAt.delete(name);
    // Figures other nodes reported about it stay in their rows, but no longer count (isCurrent):
    // a leave costs O(1), not a pass over every row. Their rows drop them when they next grow.
  }

  /** A figure about a peer that is still the member it was measured for (not gone, not re-joined since). */
  private isCurrent(figure: RttFigure): boolean {
    return this.members.has(figure.sample.peer) && this.rttIncarnations.get(figure.sample.peer) === figure.peerIncarnation;
  }

  private rttIncarnation(name: string): number {
    let incarnation = this.rttIncarnations.get(name);
    if (incarnation === undefined) this.rttIncarnations.set(name, (incarnation = ++this.rttIncarnationCounter));
    return incarnation;
  }

  /** Removes a member if `stillDue` holds when its turn comes: a change queued meanwhile (a re-join with a new certificate) may have fixed it. */
  removeIf(name: string, stillDue: (member: Member) => boolean): Promise<boolean> {
    return this.serialized(async () => {
      const existing = this.members.get(name);
      if (!existing || !stillDue(existing)) return false;
      await this.commit({ remove: name });
      this.forget(name);
      return true;
    });
  }


  /**
   * A report carries some of a node's samples (a node in a large mesh reports a part at a time,
   * see RTT_SAMPLES_PER_REPORT): each replaces that peer's figure, the others stay. So an empty
   * report is "no news". Samples for peers that are not members are dropped.
   */
  private mergeRttReport(name: string, samples: readonly RttSample__Output[]): void {
    if (samples.length === 0) return;
    let newest = 0;
    for (const sample of samples) newest = Math.max(newest, Number(sample.measuredAtMs ?? 0));
    this.rttMeasuredAt.set(name, Math.max(newest, this.rttMeasuredAt.get(name) ?? 0));
    let row = this.rttReports.get(name);
    if (!row) this.rttReports.set(name, (row = new Map()));
    for (const sample of samples) {
      if (sample.peer !== name && this.members.has(sample.peer)) row.set(sample.peer, { sample, peerIncarnation: this.rttIncarnation(sample.peer) });
    }
    // Figures about members gone since are dropped once they could make the row outgrow the
    // mesh by a margin: one pass per RTT_ROW_SLACK leaves, so a row stays O(members).
    if (row.size > this.members.size + RTT_ROW_SLACK) {
      for (const [peer, figure] of row) if (!this.isCurrent(figure)) row.delete(peer);
    }
  }

  private checkFixedIp(name: string, ip: string): void {
    if (!this.ipam.isAssignable(ip)) throw new ConfigError(`-ip ${ip} is not a usable address of the mesh CIDR ${this.ipam.cidr.text}`);
    const holder = this.addresses.holder(ip);
    if (holder !== undefined && holder !== name) throw new ConfigError(`-ip ${ip} already belongs to node "${holder}"; choose another -ip`);
  }

  /** The member acting as `name`; NodeNotFound or IdentityMismatch otherwise. Without an identity: the bootstrap itself. */
  authorize(name: string, identity: Identity | undefined): Member {
    const existing = this.members.get(name);
    if (!existing) throw new NodeNotFound(name);
    if (identity) checkIdentity(existing, identity, 'call', this.verifiedSecrets);
    return existing;
  }

  /** Members whose certificate is revoked or has expired: they are removed (see CertificateEnforcer). */
  membersWithCertificates(): Member[] {
    return [...this.members.values()].filter((m) => m.certSerial !== undefined);
  }

  /**
   * Persist first, then apply in memory and publish: a change nobody could restore is never
   * announced. An upserted member's relay flag is decided here, for every kind of change (see
   * withRelay); the member as stored is returned. `candidates`: a new member's IPs to try, in
   * order (a shared store takes the first no other bootstrap took).
   */
  private async commit(change: { upsert: Member; candidates?: Iterable<string> }): Promise<Member>;
  private async commit(change: { remove: string }): Promise<undefined>;
  private async commit(change: { upsert: Member; candidates?: Iterable<string> } | { remove: string }): Promise<Member | undefined> {
    if (isSharedStore(this.store)) return this.commitShared(this.store, change);
    const revision = this.revisionValue + 1;
    // The store appends just the change (FileStateStore: one journal line), and the table changes
    // in place after: nothing here is proportional to the mesh.
    if ('upsert' in change) {
      const stored = withRelay(change.upsert);
      await this.store.append({ revision, upsert: stored });
      this.putMember(stored);
      this.publish({ kind: 'upsert', revision, node: toNode(stored) });
      return stored;
    }
    await this.store.append({ revision, remove: change.remove });
    this.dropMember(change.remove);
    this.publish({ kind: 'remove', revision, name: change.remove });
    return undefined;
  }

  /**
   * A conditional write to the shared store, acknowledged once the store's watch has brought it
   * back (so the table, and every watcher, has it in the store's order).
   */
  private async commitShared(store: SharedMemberStore, change: { upsert: Member; candidates?: Iterable<string> } | { remove: string }): Promise<Member | undefined> {
    if ('upsert' in change) {
      const wanted = withRelay(change.upsert);
      const modRevision = this.modRevisions.get(wanted.name);
      const written = modRevision === undefined
        ? await store.allocate(wanted.name, change.candidates ?? [wanted.meshIp], wanted, { candidatesCurrent: true })
        : await store.put(wanted, modRevision);
      await this.applied(written.modRevision);
      return this.members.get(wanted.name) ?? written.member;
    }
    const modRevision = this.modRevisions.get(change.remove);
    if (modRevision === undefined) throw new NodeNotFound(change.remove);
    const { revision } = await store.remove(change.remove, modRevision);
    await this.applied(revision);
    return undefined;
  }

  /** A member added or replaced, with the indices. */
  private putMember(member: Member): void {
    const previous = this.members.get(member.name);
    // Most changes keep the key and the IP (a heartbeat's status, tags, endpoints): their index entries stay.
    if (previous) this.unindex(previous, member);
    this.members.set(member.name, member);
    this.keyHolders.set(member.publicKey, member.name);
    this.addresses.take(member.meshIp, member.name);
  }

  private dropMember(name: string): void {
    const member = this.members.get(name);
    if (!member) return;
    this.unindex(member);
    this.members.delete(name);
  }

  /** The member's key and IP leave the indices, but those `next` keeps. A key or IP another member holds by now (a shared store's events may cross) stays its. */
  private unindex(member: Member, next?: Member): void {
    if (member.publicKey !== next?.publicKey && this.keyHolders.get(member.publicKey) === member.name) this.keyHolders.delete(member.publicKey);
    if (member.meshIp !== next?.meshIp) this.addresses.release(member.meshIp, member.name);
  }

  /** One change into memory, the history and every watcher. */
  private publish(delta: MemberDelta): void {
    this.revisionValue = delta.revision;
    this.history.push(delta);
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit);
      this.historyFloor = dropped[dropped.length - 1]!.revision;
    }
    for (const listener of this.listeners) listener(delta);
  }

  private followStore(store: SharedMemberStore, afterRevision: number): void {
    this.storeWatch = store.watch(afterRevision, (event) => this.applyStoreEvent(store, event), {
      onStatus: (status, err) => {
        this.watchOk = status === 'watching';
        this.watchError = this.watchOk ? '' : `its watch: ${err ? err.message.split('\n')[0] : 'lost'}`;
      },
    });
  }

  private restartStoreWatch(): void {
    const store = this.store;
    const old = this.storeWatch;
    if (!isSharedStore(store) || !old) return;
    void old.stop();
    this.followStore(store, this.appliedRevision);
  }

  private applyStoreEvent(store: SharedMemberStore, event: SharedMemberEvent): void {
    switch (event.type) {
      case 'upsert': {
        if ((this.modRevisions.get(event.member.name) ?? 0) >= event.revision) break;
        this.putMember(event.member);
        this.modRevisions.set(event.member.name, event.revision);
        this.publish({ kind: 'upsert', revision: event.revision, node: toNode(event.member) });
        break;
      }
      case 'remove': {
        if (!this.members.has(event.name)) break;
        this.dropMember(event.name);
        this.modRevisions.delete(event.name);
        this.forget(event.name);
        this.publish({ kind: 'remove', revision: event.revision, name: event.name });
        break;
      }
      case 'compacted':
        void this.resync(store);
        return;
      case 'progress':
        this.markApplied(event.revision);
        for (const done of [...this.progressWaiters]) done();
        this.progressWaiters.clear();
        return;
    }
    this.markApplied(event.revision);
  }

  private markApplied(revision: number): void {
    if (revision <= this.appliedRevision) return;
    this.appliedRevision = revision;
    const due = this.revisionWaiters.filter((w) => w.revision <= revision);
    if (due.length === 0) return;
    this.revisionWaiters = this.revisionWaiters.filter((w) => w.revision > revision);
    for (const w of due) w.resolve();
  }

  /** Resolves once every change up to `revision` is applied; StoreUnavailable when it does not come in time. */
  private applied(revision: number): Promise<void> {
    if (revision <= this.appliedRevision) return Promise.resolve();
    return this.withinEchoTimeout(`the change at revision ${revision} was written but did not come back through this bootstrap's watch`, (done) => {
      const waiter = { revision, resolve: done };
      this.revisionWaiters.push(waiter);
      return () => {
        this.revisionWaiters = this.revisionWaiters.filter((w) => w !== waiter);
      };
    });
  }

  /** Waits until every change the store holds now is applied (after a write lost to another bootstrap). */
  private caughtUp(): Promise<void> {
    const watch = this.storeWatch;
    if (!watch) return Promise.resolve();
    // The answer comes on a later turn of the event loop: asking first, then waiting, misses nothing.
    if (!watch.requestProgress()) return Promise.reject(new StoreUnavailable(this.storeEndpoints(), 'this bootstrap\'s watch of etcd is not connected'));
    return this.withinEchoTimeout('this bootstrap\'s watch did not catch up', (done) => {
      this.progressWaiters.add(done);
      return () => this.progressWaiters.delete(done);
    });
  }

  /**
   * Waits for `arm`'s callback (which arm registers, returning how to unregister it), or rejects
   * with StoreUnavailable after SHARED_ECHO_TIMEOUT_MS.
   */
  private withinEchoTimeout(late: string, arm: (done: () => void) => () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        disarm();
        reject(new StoreUnavailable(this.storeEndpoints(), `${late} within ${SHARED_ECHO_TIMEOUT_MS} ms`));
      }, SHARED_ECHO_TIMEOUT_MS);
      const disarm = arm(() => {
        clearTimeout(timer);
        disarm();
        resolve();
      });
    });
  }

  /** etcd compacted what the watch needed: read every member again and tell every watcher the whole membership. */
  private async resync(store: SharedMemberStore): Promise<void> {
    await this.storeWatch?.stop();
    this.storeWatch = undefined;
    for (;;) {
      try {
        const listed = await store.list();
        const names = new Set(listed.members.map((m) => m.member.name));
        for (const name of [...this.members.keys()]) if (!names.has(name)) this.forget(name);
        this.members.clear();
        this.keyHolders.clear();
        this.addresses.clear();
        for (const m of listed.members) this.putMember(m.member);
        this.modRevisions.clear();
        for (const m of listed.members) this.modRevisions.set(m.member.name, m.modRevision);
        this.revisionValue = listed.revision;
        this.history.length = 0;
        this.historyFloor = listed.revision;
        this.markApplied(listed.revision);
        for (const listener of this.resyncListeners) listener();
        this.followStore(store, listed.revision);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  }

  private checkStoreReachable(): void {
    if (this.shared && !this.storeReachable) throw new StoreUnavailable(this.storeEndpoints(), this.probeError || this.watchError);
  }

  private storeEndpoints(): readonly string[] {
    return isSharedStore(this.store) ? this.store.endpoints : [];
  }

  /** The heartbeats this bootstrap received itself (shared with the others through the store). */
  localHeartbeats(): ReadonlyMap<string, number> {
    return this.lastSeen;
  }

  /** Heartbeats other bootstraps received: a node's latest heartbeat anywhere counts. */
  noteHeartbeats(seen: ReadonlyMap<string, number>): void {
    for (const [name, ms] of seen) {
      if (this.members.has(name) && ms > (this.lastSeen.get(name) ?? -Infinity)) this.lastSeen.set(name, ms);
    }
  }

  /** Another bootstrap changed the member first: once this table has its change, decide again. */
  private async retryingConflicts<T>(work: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (err) {
        if (!(err instanceof StoreConflict) || attempt >= SHARED_WRITE_ATTEMPTS) throw err;
        await this.caughtUp();
      }
    }
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const attempt = this.shared ? () => this.retryingConflicts(work) : work;
    const run = this.queue.then(attempt, attempt);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/** An RTT sample as a node reported it, with the incarnation of the peer it is about. */
interface RttFigure {
  readonly sample: RttSample__Output;
  readonly peerIncarnation: number;
}

/** How far a node's RTT row may outgrow the membership with figures about departed peers. */
const RTT_ROW_SLACK = 64;
/** How long a fresh RTT matrix waits for the nodes' new figures at most (`wgmesh rtt` answers within 3 s). */
export const RTT_FRESH_WAIT_MS = 2_500;
/** How long nodes probe every peer every second after a fresh matrix was asked for. */
export const RTT_FRESH_FOR_MS = 10_000;

/** How many of the lowest free addresses concurrent joins on several bootstraps spread over. */
const SPREAD_WINDOW = 32;

/**
 * The free addresses for `name`, starting at a place among the first SPREAD_WINDOW picked from the
 * name: bootstraps that all offered the lowest free address would collide on every concurrent
 * join (one etcd transaction wins, the others retry), while addresses stay near the bottom.
 */
export function* spreadCandidates(free: Iterable<string>, name: string): Generator<string> {
  const iterator = free[Symbol.iterator]();
  const window: string[] = [];
  while (window.length < SPREAD_WINDOW) {
    const next = iterator.next();
    if (next.done) break;
    window.push(next.value);
  }
  const start = spreadIndex(name, window.length);
  yield* window.slice(start);
  yield* window.slice(0, start);
  for (let next = iterator.next(); !next.done; next = iterator.next()) yield next.value;
}

/** `first` (when there is one), then the rest: the candidate a node asked for goes before the spread. */
function* withFirst(first: string | undefined, rest: Iterable<string>): Generator<string> {
  if (first !== undefined) yield first;
  for (const candidate of rest) if (candidate !== first) yield candidate;
}

/** The node as every member sees it: nothing that proves identity. */
export function toNode(member: Member): MeshNode {
  const { certFingerprint: _fp, certSerial: _serial, certNotAfterMs: _notAfter, secretHash: _secret, relayOffered: _offered, ...node } = member;
  return node;
}

/**
 * The secret a re-joining node keeps using: the one it proved, or for a member from before secrets
 * the one it brings now. One that brings none (an agent not yet upgraded) stays bound to its key:
 * a secret made for it would be dropped, and lock it out of its own later calls.
 */
function secretFor(member: Member, identity: Identity): string {
  if (identity.cert || identity.local) return '';
  return identity.secret ?? '';
}

/** What the member record keeps of the identity a node joined (or re-joined) with. */
function credentialsOf(identity: Identity, secret: string): Partial<Member> {
  if (identity.cert) return { certFingerprint: identity.cert.fingerprint, certSerial: identity.cert.serial, certNotAfterMs: identity.cert.notAfterMs };
  if (identity.local) return {};
  return secret ? { secretHash: hashNodeSecret(secret) } : {};
}

/** The member with its relay flag decided from what it offered and how it is reached now. */
function withRelay(member: Member): Member {
  const relay = relayGranted(member);
  return member.relay === relay ? member : { ...member, relay };
}

/** A node reports its own candidates; the bootstrap's observed endpoint is kept. */
function mergeObserved(previous: readonly Endpoint__Output[], reported: readonly Endpoint__Output[]): Endpoint__Output[] {
  return [...reported.filter((e) => e.kind !== 'ENDPOINT_KIND_OBSERVED'), ...previous.filter((e) => e.kind === 'ENDPOINT_KIND_OBSERVED')];
}

