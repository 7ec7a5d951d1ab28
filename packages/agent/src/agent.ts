import { EventEmitter } from 'node:events';
import { status as grpcStatus } from '@grpc/grpc-js';
import type { Endpoint, JoinResponse__Output, RttResponse__Output, RttSample__Output, WatchEvent__Output } from './proto/index.js';
import { applyDeltas, emptyNetmap, netmapFromNodes, peersOf, selfNode, type Netmap, type NetmapDelta } from './netmap/netmap.js';
import type { WgConfigOptions } from './wg/config.js';
import { Reconciler } from './wg/reconciler.js';
import { EndpointSelector } from './endpoints/selector.js';
import type { WgDriver } from './wg/types.js';
import { hasRestartNotifier } from './wg/userspace-driver.js';
import { publicKeyFromPrivate } from './wg/keys.js';
import { Backoff } from './control/backoff.js';
import { ControlCallError, type ControlClient, type WatchHandle } from './control/client.js';
import { errorMessage, silentLogger, type Logger } from './log.js';
import type { AgentStateStore } from './state/agent-state.js';
import { AGENT_DEFAULTS } from './constants.js';
import { defaultTimers, type Timers } from './timers.js';
import { Coalescer } from './coalescer.js';
import { RttReporter, type RttReport } from './rtt/report.js';
import { JoinCancelled, TagNotFound } from './errors.js';
import { validateTag, validateTags } from './tags.js';

export { defaultTimers, type Timers } from './timers.js';


export interface AgentComponents {
  readonly control: ControlClient;
  readonly driver: WgDriver;
  readonly logger?: Logger;
  readonly timers?: Timers;
  readonly random?: () => number;
  /** Where the mesh IP and last membership are kept, so a restart needs no bootstrap. */
  readonly stateStore?: AgentStateStore;
  /** Probes every peer through the tunnel; its samples go out with heartbeats. */
  readonly rtt?: RttSource;
  /**
   * On the bootstrap's own node: each member's latest heartbeat, which `info` then shows as
   * lastSeenMs. Elsewhere a member's lastSeenMs is as of its record's last change: heartbeats
   * alone are not sent to every node.
   */
  readonly lastHeartbeatMs?: (name: string) => number | undefined;
}

/** What the agent needs of an RTT prober. */
export interface RttSource {
  setPeers(peers: readonly { name: string; meshIp: string }[]): void;
  /** This node's own mesh IP, to measure (and discount) the probe's own turnaround. */
  setSelf?(meshIp: string | undefined): void;
  samples(): RttSample__Output[];
  /** True once every peer's samples cover a whole window (not just the first probes after a start). */
  windowsFull?(): boolean;
}

export interface AgentInit {
  readonly meshName: string;
  readonly nodeName: string;
  readonly privateKey: string;
  readonly listenPort?: number;
  readonly tags?: Readonly<Record<string, string>>;
  /** This node's endpoint candidates, asked again before every heartbeat. */
  readonly endpoints?: () => Endpoint[] | Promise<Endpoint[]>;
  readonly heartbeatMs?: number;
  /** A full reconcile (device read back) this often, to undo drift; default 30 s. */
  readonly fullReconcileMs?: number;
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  /** Fixed WireGuard options (tests); by default endpoints come from an EndpointSelector. */
  readonly wgOptions?: WgConfigOptions;
  /** Whether this node is behind NAT (then it keeps NAT mappings open with persistent keepalive). */
  readonly behindNat?: () => boolean;
  /** How often peers' handshakes are reviewed to move to their next endpoint candidate. */
  readonly endpointReviewMs?: number;
  /** Shown in status only. */
  readonly bootstrapAddr?: string;
  readonly isBootstrap?: boolean;
}

/** Counters for tests and benchmarks. */
export interface AgentStats {
  watchConnects: number;
  joins: number;
}

/** Fatal join failures: retrying cannot help, the operator must act. */
const PERMANENT_JOIN_CODES = new Set([
  grpcStatus.INVALID_ARGUMENT, grpcStatus.ALREADY_EXISTS, grpcStatus.NOT_FOUND, grpcStatus.PERMISSION_DENIED,
  grpcStatus.RESOURCE_EXHAUSTED, grpcStatus.UNIMPLEMENTED, grpcStatus.UNAUTHENTICATED,
]);

/**
 * A mesh node: joins, keeps its WireGuard device equal to the membership it watches, heartbeats,
 * and leaves on stop. Emits 'change' whenever what `status` would show may have changed.
 */
export class Agent extends EventEmitter {
  readonly publicKey: string;
  readonly stats: AgentStats = { watchConnects: 0, joins: 0 };
  private netmapValue: Netmap;
  private joinResponse: JoinResponse__Output | undefined;
  private connectedValue = false;
  private stopped = true;
  private watchHandle: WatchHandle | undefined;
  private watchTimer: unknown;
  private heartbeatTimer: unknown;
  private tags: Record<string, string>;
  private lastEndpoints: Endpoint[] = [];
  private readonly reconciler: Reconciler;
  private fullReconcileTimer: unknown;
  private reviewTimer: unknown;
  readonly selector = new EndpointSelector();
  /** Mutable on purpose: the reconciler reads keepalive from here when NAT status changes. */
  private readonly wgOptions: { endpointFor?: WgConfigOptions['endpointFor']; persistentKeepalive?: number };
  private behindNatValue = false;
  private readonly watchBackoff: Backoff;
  private readonly logger: Logger;
  private readonly timers: Timers;

  constructor(private readonly components: AgentComponents, private readonly init: AgentInit) {
    super();
    this.publicKey = publicKeyFromPrivate(init.privateKey);
    this.netmapValue = emptyNetmap(init.nodeName);
    this.tags = { ...init.tags };
    this.logger = components.logger ?? silentLogger();
    this.timers = components.timers ?? defaultTimers;
    this.wgOptions = init.wgOptions ? { ...init.wgOptions } : { endpointFor: (node) => this.selector.endpointFor(node) };
    this.reconciler = new Reconciler(components.driver, () => this.netmapValue, this.wgOptions, this.logger, () => this.emit('reconciled'), { timers: this.timers });
    // wireguard-go restarted by its supervisor: make sure the device matches the netmap again.
    if (hasRestartNotifier(components.driver)) {
      components.driver.onRestart(() => {
        this.logger.warn('WireGuard device was re-created; reconciling');
        this.reconciler.requestFull();
      });
    }
    this.watchBackoff = this.newBackoff();
  }

  private newBackoff(): Backoff {
    return new Backoff(this.init.backoffInitialMs ?? AGENT_DEFAULTS.backoffInitialMs, this.init.backoffMaxMs ?? AGENT_DEFAULTS.backoffMaxMs, this.components.random);
  }

  get netmap(): Netmap {
    return this.netmapValue;
  }
  get connected(): boolean {
    return this.connectedValue;
  }
  get joined(): JoinResponse__Output | undefined {
    return this.joinResponse;
  }
  get driver(): WgDriver {
    return this.components.driver;
  }
  get meshIp(): string | undefined {
    return this.joinResponse?.meshIp;
  }
  get currentTags(): Readonly<Record<string, string>> {
    return this.tags;
  }
  get endpoints(): readonly Endpoint[] {
    return this.lastEndpoints;
  }
  get options(): AgentInit {
    return this.init;
  }

  /**
   * Brings the node up. With saved state, WireGuard is restored from it at once and the bootstrap
   * is contacted in the background; otherwise joins first (retrying while the bootstrap is
   * unreachable). Either way it then watches membership and heartbeats.
   */
  async start(): Promise<void> {
    this.stopped = false;
    const saved = await this.components.stateStore?.load();
    if (saved && saved.meshName === this.init.meshName && saved.nodeName === this.init.nodeName) {
      await this.upDevice(saved.meshIp, saved.meshCidr);
      this.adoptJoin({ nodeName: saved.nodeName, meshIp: saved.meshIp, meshCidr: saved.meshCidr, meshCreatedMs: saved.meshCreatedMs, revision: saved.revision, nodes: [...saved.nodes], nodeSecret: saved.nodeSecret ?? '' });
      this.restoredFromState = true;
      this.logger.info('WireGuard restored from saved state; contacting the bootstrap', { meshIp: saved.meshIp, peers: saved.nodes.length - 1, revision: saved.revision });
      await this.reconcile();
      void this.rejoin();
      this.startBackgroundWork();
      return;
    }
    const response = await this.joinWithRetry();
    if (this.stopped) throw new JoinCancelled(undefined);
    // Saved before the interface is brought up (which can take seconds or fail): an answered join
    // is never forgotten by a crash, so a restart keeps the address the bootstrap gave out.
    this.recordJoin(response);
    await this.saver.run();
    this.logJoined(response);
    this.step('joined', `mesh IP ${response.meshIp} in ${response.meshCidr}, ${response.nodes.length - 1} other nodes`);
    await this.upDevice(response.meshIp, response.meshCidr);
    this.step('interface', `${this.components.driver.name} up (${this.components.driver.kind}), UDP port ${this.init.listenPort ?? AGENT_DEFAULTS.listenPort}`);
    this.announceMembership();
    await this.reconcile();
    this.step('peers', `${peersOf(this.netmapValue).length} peers configured`);
    this.openWatch();
    this.startBackgroundWork();
  }

  /** Heartbeats, periodic full reconciles and endpoint reviews: the timers of a running node. */
  private startBackgroundWork(): void {
    this.scheduleHeartbeat();
    this.scheduleFullReconcile();
    this.scheduleEndpointReview();
  }

  private sleeping: { timer: NodeJS.Timeout; wake: () => void } | undefined;

  /**
   * The pause between join attempts. A real, ref'd timer on purpose: before the first join
   * nothing else (no device, no socket) keeps the process alive while it retries. stop() wakes it.
   */
  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleeping = undefined;
        resolve();
      };
      const timer = this.components.timers ? (this.components.timers.setTimeout(wake, ms) as NodeJS.Timeout) : setTimeout(wake, ms);
      this.sleeping = { timer, wake };
    });
  }

  /** Progress of start-up, for a terminal: 'endpoints', 'joined', 'interface', 'peers'. */
  private step(name: string, detail: string): void {
    this.emit('step', { name, detail });
  }

  /** True when this run began from saved state rather than a fresh join. */
  restoredFromState = false;

  private deviceUp = false;

  private async upDevice(meshIp: string, meshCidr: string): Promise<void> {
    this.deviceUp = false;
    await this.components.driver.up({
      name: this.components.driver.name,
      privateKey: this.init.privateKey,
      listenPort: this.init.listenPort ?? AGENT_DEFAULTS.listenPort,
      address: `${meshIp}/${meshCidr.split('/')[1]}`,
    });
    this.deviceUp = true;
  }

  /** Leaves the mesh (unless told not to), stops every timer and stream, and closes the device. */
  async stop(options: { leave?: boolean; keepInterface?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.sleeping?.wake();
    this.timers.clearTimeout(this.watchTimer);
    this.timers.clearTimeout(this.heartbeatTimer);
    this.watchHandle?.cancel();
    this.watchHandle = undefined;
    this.connectedValue = false;
    if (options.leave !== false && this.joinResponse) {
      try {
        await this.components.control.leave(this.identity());
        this.logger.info('left the mesh', { node: this.init.nodeName });
      } catch (err) {
        this.logger.warn('could not tell the bootstrap we are leaving', { err: errorMessage(err) });
      }
    }
    this.timers.clearTimeout(this.fullReconcileTimer);
    this.timers.clearTimeout(this.reviewTimer);
    this.reconciler.close();
    await this.reconciler.idle();
    await this.saver.idle();
    await this.components.driver.close({ keepInterface: options.keepInterface ?? false });
    this.components.control.close();
    this.emit('change');
  }

  /** Refused at once (InvalidTag) when the tag breaks the rules: a bad tag is never applied or sent. */
  async setTag(key: string, value: string): Promise<Readonly<Record<string, string>>> {
    validateTag(key, value);
    return this.changeTags((tags) => validateTags({ ...tags, [key]: value }));
  }

  /** Rejects with TagNotFound unless the node has the tag as its own (not an Object property). */
  async deleteTag(key: string): Promise<Readonly<Record<string, string>>> {
    return this.changeTags((tags) => {
      if (!Object.hasOwn(tags, key)) throw new TagNotFound(key);
      const next = { ...tags };
      delete next[key];
      return next;
    });
  }

  /**
   * Updates (heartbeats and tag changes) go out one at a time, in order: a heartbeat that started
   * before a tag change must not land after it with the old tags, and each tag change starts from
   * the tags the one before left.
   */
  private updateQueue: Promise<unknown> = Promise.resolve();

  private queueUpdate<T>(work: () => Promise<T>): Promise<T> {
    const run = this.updateQueue.then(work);
    this.updateQueue = run.catch(() => {});
    return run;
  }

  /**
   * A tag change is sent as an Update with the new set, and the node's tags become that set only
   * once the bootstrap took it: a refused (or unsent) change leaves no trace, not even in a
   * heartbeat sent meanwhile.
   */
  private changeTags(change: (tags: Readonly<Record<string, string>>) => Record<string, string>): Promise<Readonly<Record<string, string>>> {
    return this.queueUpdate(async () => {
      const next = change(this.tags);
      await this.sendUpdateNow(next);
      this.tags = next;
      this.emit('change');
      return this.tags;
    });
  }

  private async joinWithRetry(): Promise<JoinResponse__Output> {
    const backoff = this.newBackoff();
    let attempt = 0;
    let lastError: unknown;
    for (;;) {
      if (this.stopped) throw new JoinCancelled(lastError);
      try {
        await this.refreshEndpoints();
        if (this.stopped) throw new JoinCancelled(lastError);
        if (attempt++ === 0) this.step('endpoints', describeEndpoints(this.lastEndpoints, this.behindNatValue));
        const response = await this.components.control.join({
          ...this.identity(),
          endpoints: this.lastEndpoints,
          tags: this.tags,
          listenPort: this.init.listenPort ?? AGENT_DEFAULTS.listenPort,
        });
        this.stats.joins++;
        return response;
      } catch (err) {
        if (err instanceof JoinCancelled) throw err;
        // A call cut short by our own stop (its channel closed) says nothing about the bootstrap.
        if (this.stopped) throw new JoinCancelled(lastError);
        if (err instanceof ControlCallError && PERMANENT_JOIN_CODES.has(err.code)) throw err;
        lastError = err;
        const wait = backoff.next();
        this.logger.warn(`bootstrap unreachable, retrying in ${(wait / 1000).toFixed(1)} s`, { bootstrap: this.init.bootstrapAddr, err: errorMessage(err) });
        await this.sleep(wait);
      }
    }
  }

  /** Logged once the join is saved: a node that says it joined has its address on disk. */
  private logJoined(response: JoinResponse__Output): void {
    this.logger.info('joined the mesh', { node: response.nodeName, meshIp: response.meshIp, revision: response.revision, peers: response.nodes.length - 1 });
  }

  /** Takes a join's answer (or the saved one) as this node's membership; the caller persists a new one. */
  private adoptJoin(response: JoinResponse__Output): void {
    this.recordJoin(response);
    this.announceMembership();
  }

  private recordJoin(response: JoinResponse__Output): void {
    this.joinResponse = response;
    this.netmapValue = netmapFromNodes(response.nodeName, response.revision, response.nodes);
  }

  /** The membership is in place (and the interface up): the prober and listeners follow it. */
  private announceMembership(): void {
    this.syncRttPeers();
    this.emit('change');
  }

  private syncRttPeers(): void {
    this.components.rtt?.setSelf?.(this.joinResponse?.meshIp);
    this.components.rtt?.setPeers(peersOf(this.netmapValue).map((n) => ({ name: n.name, meshIp: n.meshIp })));
  }

  /** Saves mesh IP and membership; coalesced, so a burst of changes costs one or two writes. */
  private persist(): void {
    void this.saver.run();
  }

  private readonly saver = new Coalescer(async () => {
    const joined = this.joinResponse;
    const store = this.components.stateStore;
    if (!store || !joined) return;
    try {
      await store.save({
        version: 1,
        meshName: this.init.meshName,
        nodeName: this.netmapValue.selfName,
        meshIp: joined.meshIp,
        meshCidr: joined.meshCidr,
        meshCreatedMs: Number(joined.meshCreatedMs),
        revision: this.netmapValue.revision,
        nodes: [...this.netmapValue.nodes.values()],
        ...(joined.nodeSecret ? { nodeSecret: joined.nodeSecret } : {}),
      });
    } catch (err) {
      this.logger.error('could not save agent state', { err: errorMessage(err) });
    }
  });

  private openWatch(): void {
    if (this.stopped) return;
    const handle = this.components.control.watch(
      { ...this.identity(), sinceRevision: this.netmapValue.revision },
      {
        onOpen: () => {
          if (this.watchHandle !== handle) return;
          this.stats.watchConnects++;
          this.connectedValue = true;
          this.watchBackoff.reset();
          this.logger.debug('watching membership', { revision: this.netmapValue.revision });
          this.emit('change');
        },
        onEvent: (event) => {
          if (this.watchHandle !== handle) return;
          this.onWatchEvent(event);
        },
        onEnd: (err) => {
          if (this.watchHandle !== handle) return;
          this.watchHandle = undefined;
          this.connectedValue = false;
          this.emit('change');
          if (this.stopped) return;
          if (err && REMOVED_CODES.has(err.code)) {
            this.noteControlError(err);
            this.logger.warn('the bootstrap no longer knows this node; joining again', { err: err.message });
            void this.rejoin();
            return;
          }
          const wait = this.watchBackoff.next();
          this.logger.warn(`membership stream ended, reconnecting in ${(wait / 1000).toFixed(1)} s`, { err: err ? err.message : 'closed by bootstrap', revision: this.netmapValue.revision });
          this.watchTimer = this.timers.setTimeout(() => this.openWatch(), wait);
        },
      },
    );
    this.watchHandle = handle;
  }

  private rejoining: Promise<void> | undefined;

  /** Joins again (one attempt loop at a time): the bootstrap lost or removed this node. */
  private rejoin(): Promise<void> {
    if (this.rejoining) return this.rejoining;
    this.watchHandle?.cancel();
    this.watchHandle = undefined;
    this.connectedValue = false;
    this.rejoining = this.rejoinOnce().finally(() => {
      this.rejoining = undefined;
    });
    return this.rejoining;
  }

  private async rejoinOnce(): Promise<void> {
    try {
      const response = await this.joinWithRetry();
      if (this.stopped) return;
      const previous = this.joinResponse;
      const moved = previous !== undefined && (response.meshIp !== previous.meshIp || response.meshCidr !== previous.meshCidr);
      if (moved) {
        // Reaped while away and its IP reused, or the mesh was re-created: never keep an address
        // the bootstrap may have given to someone else.
        this.logger.warn('the bootstrap gave this node a new mesh IP; moving the interface to it', { meshIp: response.meshIp, previous: previous.meshIp });
        await this.components.driver.close();
        await this.upDevice(response.meshIp, response.meshCidr);
      }
      this.adoptJoin(response);
      await this.saver.run();
      this.logJoined(response);
      this.clearControlError();
      if (moved) this.emit('address', response.meshIp);
      this.reconciler.requestFull();
      this.openWatch();
    } catch (err) {
      if (this.stopped) return;
      this.noteControlError(err);
      const wait = this.watchBackoff.next();
      this.logger.error(`re-join failed; trying again in ${(wait / 1000).toFixed(1)} s`, { err: errorMessage(err) });
      this.watchTimer = this.timers.setTimeout(() => void this.rejoin(), wait);
    }
  }

  /** Deltas are applied in batches: everything received in one turn of the event loop at once. */
  private onWatchEvent(event: WatchEvent__Output): void {
    const delta = eventToDelta(event);
    if (!delta) return;
    this.pendingDeltas.push(delta);
    if (this.pendingDeltas.length === 1) setImmediate(() => this.applyPendingDeltas());
  }

  private pendingDeltas: NetmapDelta[] = [];

  private applyPendingDeltas(): void {
    const deltas = this.pendingDeltas;
    this.pendingDeltas = [];
    if (this.stopped) return;
    const before = this.netmapValue;
    const next = applyDeltas(before, deltas);
    if (next === before) return;
    this.netmapValue = next;
    let peersChanged = false;
    for (const delta of deltas) {
      if (delta.kind === 'snapshot') {
        this.reconciler.requestFull();
        peersChanged = true;
      } else {
        const name = delta.kind === 'upsert' ? delta.node.name : delta.name;
        this.reconciler.changed(name);
        if (delta.kind === 'remove' || before.nodes.get(name)?.meshIp !== delta.node.meshIp) peersChanged = true;
      }
    }
    if (peersChanged) this.syncRttPeers();
    this.persist();
    this.emit('change');
  }

  /** Re-reads the device and brings it to the netmap; resolves when done. */
  reconcile(): Promise<void> {
    return this.reconciler.full();
  }

  get behindNat(): boolean {
    return this.behindNatValue;
  }

  /** Called after endpoints are refreshed: NAT status decides persistent keepalive. */
  private checkNat(): void {
    const behind = this.init.behindNat?.() ?? false;
    if (behind === this.behindNatValue) return;
    this.behindNatValue = behind;
    this.wgOptions.persistentKeepalive = behind ? AGENT_DEFAULTS.persistentKeepalive : 0;
    this.logger.info(behind ? 'behind NAT: persistent keepalive on' : 'not behind NAT: persistent keepalive off');
    // Before the interface exists the first full pass will pick the keepalive up anyway.
    if (this.deviceUp) this.reconciler.requestFull();
    this.emit('change');
  }

  /** Moves peers without a handshake to their next endpoint candidate. */
  private scheduleEndpointReview(): void {
    if (this.stopped || this.init.wgOptions) return;
    this.reviewTimer = this.timers.setTimeout(() => {
      void this.reviewEndpoints().finally(() => this.scheduleEndpointReview());
    }, this.init.endpointReviewMs ?? 2000);
  }

  private async reviewEndpoints(): Promise<void> {
    if (!this.selector.hasChoices()) return;
    let peers;
    try {
      peers = (await this.components.driver.read()).peers;
    } catch {
      return;
    }
    const advanced = new Set(this.selector.review(peers));
    if (advanced.size === 0) return;
    for (const node of this.netmapValue.nodes.values()) {
      if (advanced.has(node.publicKey)) {
        this.logger.info('no handshake yet: trying the next endpoint', { node: node.name, endpoint: this.selector.endpointFor(node) });
        this.reconciler.changed(node.name);
      }
    }
  }

  private scheduleFullReconcile(): void {
    if (this.stopped) return;
    // ±20 % jitter: nodes started together must not all re-read their devices at the same moment.
    const base = this.init.fullReconcileMs ?? AGENT_DEFAULTS.fullReconcileMs;
    const random = this.components.random ?? Math.random;
    this.fullReconcileTimer = this.timers.setTimeout(() => {
      this.reconciler.requestFull();
      this.scheduleFullReconcile();
    }, Math.round(base * (0.8 + 0.4 * random())));
  }

  private scheduleHeartbeat(): void {
    if (this.stopped) return;
    this.heartbeatTimer = this.timers.setTimeout(() => {
      this.sendUpdate()
        .then(() => this.clearControlError(), (err) => this.heartbeatFailed(err))
        .finally(() => this.scheduleHeartbeat());
    }, this.init.heartbeatMs ?? AGENT_DEFAULTS.heartbeatMs);
  }

  /**
   * A refused heartbeat is visible: a warning when the reason is new (and once a minute while it
   * lasts), and in `info`. A node the bootstrap no longer knows joins again.
   */
  private heartbeatFailed(err: unknown): void {
    if (this.stopped) return;
    this.noteControlError(err, 'heartbeat refused');
    if (err instanceof ControlCallError && REMOVED_CODES.has(err.code) && !this.rejoining) {
      this.logger.warn('the bootstrap no longer knows this node; joining again', { err: err.message });
      void this.rejoin();
    }
  }

  private controlErrorValue = '';
  private controlErrorLoggedAt = 0;

  /** The last refused or failed control-plane call, '' once calls succeed again (shown by `info`). */
  get controlError(): string {
    return this.controlErrorValue;
  }

  private noteControlError(err: unknown, what?: string): void {
    const message = errorMessage(err);
    const now = Date.now();
    if (what && (message !== this.controlErrorValue || now - this.controlErrorLoggedAt >= CONTROL_ERROR_RELOG_MS)) {
      this.logger.warn(what, { err: message });
      this.controlErrorLoggedAt = now;
    }
    if (message === this.controlErrorValue) return;
    this.controlErrorValue = message;
    this.emit('change');
  }

  private clearControlError(): void {
    if (!this.controlErrorValue) return;
    this.logger.info('the bootstrap accepts this node\'s calls again');
    this.controlErrorValue = '';
    this.emit('change');
  }

  /** What every control-plane call names: mesh, node, key, and (dev mode) the node's secret. */
  private identity(): { meshName: string; nodeName: string; publicKey: string; nodeSecret: string } {
    return { meshName: this.init.meshName, nodeName: this.init.nodeName, publicKey: this.publicKey, nodeSecret: this.joinResponse?.nodeSecret ?? '' };
  }

  /** Asks for this node's endpoint candidates again; NAT status follows from them. */
  private async refreshEndpoints(): Promise<void> {
    this.lastEndpoints = (await this.init.endpoints?.()) ?? this.lastEndpoints;
    this.checkNat();
  }

  /** The heartbeat: endpoints, the node's tags and due RTT samples, in turn with tag changes. */
  private sendUpdate(): Promise<void> {
    return this.queueUpdate(() => this.sendUpdateNow(this.tags));
  }

  private async sendUpdateNow(tags: Readonly<Record<string, string>>): Promise<void> {
    await this.refreshEndpoints();
    const rtt = this.rttReport();
    await this.components.control.update({
      ...this.identity(),
      endpoints: this.lastEndpoints,
      tags,
      // The due samples, at most RTT_SAMPLES_PER_REPORT; an empty list means "no news".
      rtt: rtt.samples,
    });
    // Only now does the bootstrap hold them: after a failed Update they are still due.
    this.rttReporter.sent(rtt);
  }

  self() {
    return selfNode(this.netmapValue);
  }

  private readonly rttReporter = new RttReporter();

  private rttReport(): RttReport {
    const rtt = this.components.rtt;
    return this.rttReporter.next(Date.now(), rtt?.samples() ?? [], rtt?.windowsFull?.() ?? true);
  }

  /** When `name` last heartbeated, where this node knows better than its membership (the bootstrap). */
  lastHeartbeatMs(name: string): number | undefined {
    return this.components.lastHeartbeatMs?.(name);
  }

  /** This node's latest RTT samples, or undefined without a prober. */
  rttSamples(): RttSample__Output[] | undefined {
    return this.components.rtt?.samples();
  }

  /** The mesh-wide RTT matrix as the bootstrap has it, or undefined when it cannot be asked now. */
  async meshRtt(): Promise<RttResponse__Output | undefined> {
    try {
      return await this.components.control.rtt(this.identity());
    } catch (err) {
      this.logger.debug('could not get the RTT matrix from the bootstrap', { err: errorMessage(err) });
      return undefined;
    }
  }
}

/** Codes with which the bootstrap says it does not (or no longer) know this node as this node. */
const REMOVED_CODES = new Set([grpcStatus.NOT_FOUND, grpcStatus.PERMISSION_DENIED]);

/** A control-plane error that lasts is logged again this often. */
const CONTROL_ERROR_RELOG_MS = 60_000;

function describeEndpoints(endpoints: readonly Endpoint[], behindNat: boolean): string {
  const stun = endpoints.find((e) => e.kind === 'ENDPOINT_KIND_STUN');
  const list = endpoints.map((e) => e.ip).join(', ') || 'none';
  return stun ? `public address ${stun.ip} (STUN${behindNat ? ', behind NAT' : ''}); candidates ${list}` : `candidates ${list}`;
}

export function eventToDelta(event: WatchEvent__Output): NetmapDelta | undefined {
  const revision = Number(event.revision);
  if (event.snapshot) return { kind: 'snapshot', revision, nodes: event.snapshot.nodes };
  if (event.upsert) return { kind: 'upsert', revision, node: event.upsert };
  if (event.remove) return { kind: 'remove', revision, name: event.remove.name };
  return undefined;
}
