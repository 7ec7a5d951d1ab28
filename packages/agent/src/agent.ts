import { EventEmitter } from 'node:events';
import type { Endpoint, JoinResponse__Output, L2Status, RttResponse__Output, RttSample__Output } from './proto/index.js';
import { compareNames, peerCount, peersOf, presentAndGone, selfNode, type MeshNode, type Netmap } from './netmap/netmap.js';
import { NetmapApplier } from './netmap/applier.js';
import type { WgConfigOptions } from './wg/config.js';
import { HandshakeGuard } from './wg/handshake-guard.js';
import { Reconciler } from './wg/reconciler.js';
import type { WgDriver } from './wg/types.js';
import { hasRestartNotifier } from './wg/userspace-driver.js';
import { generateKeyPair, nodeSecretFromPrivate, publicKeyFromPrivate } from './wg/keys.js';
import type { ControlClient } from './control/client.js';
import { ControlSession, type SessionStats } from './control/session.js';
import type { CertificateRefusalState } from './control/certificate-refusal.js';
import { describeEndpoints, EndpointManager } from './endpoints/manager.js';
import type { EndpointSelector } from './endpoints/selector.js';
import { Reporter } from './report/reporter.js';
import { silentLogger, type Logger } from './log.js';
import type { AgentStateStore } from './state/agent-state.js';
import { AGENT_DEFAULTS } from './constants.js';
import { defaultTimers, type Timers } from './timers.js';
import { JoinCancelled, KeyRotationFailed, TagNotFound } from './errors.js';
import { validateTag, validateTags } from './tags.js';
import { validateServiceTag } from './services.js';
import { RelayPaths } from './relay/paths.js';
import type { RelayForwarding } from './relay/forwarding.js';
import type { RelaySettings } from './relay/planner.js';
import { PresharedKeys, type PskPeer } from './psk/preshared-keys.js';
import type { CertificateStatus } from './identity/renewer.js';
import { isUnreachable } from './control/failover.js';

/** The interface address of a mesh IP: with the mesh's prefix length. */
function meshAddress(meshIp: string, meshCidr: string): string {
  return `${meshIp}/${meshCidr.split('/')[1]}`;
}

/** How soon a key announcement that got no answer is made again. */
const ROTATION_RETRY_MS = 5_000;

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
  /** This node's forwarding between peers, when it offers to relay (init.relay). */
  readonly relayForwarding?: RelayForwarding;
  /** Where a key rotation keeps the node's next and then current private key (node/key-store.ts). */
  readonly keyStore?: KeyStore;
  /** The node's mTLS certificate and CA (expiry, renewal), for `info` and the metrics; none: dev mode or a bootstrap. */
  readonly certificates?: () => CertificateStatus;
}

/** Where the node's private key is kept, for key rotation (see rotateKey for the order). */
export interface KeyStore {
  /** The next key, kept beside the current one until the bootstrap took it. */
  savePending(privateKey: string): Promise<void>;
  /** The bootstrap took it: the next key is the node's key now. */
  commit(privateKey: string): Promise<void>;
  discardPending(): Promise<void>;
}

export interface KeyRotation {
  readonly previousPublicKey: string;
  readonly publicKey: string;
  /** The membership revision that carries the new key. */
  readonly revision: number;
}

/** What the agent needs of an RTT prober. */
export interface RttSource {
  setPeers(peers: readonly { name: string; meshIp: string; opensHandshake?: boolean }[]): void;
  /**
   * The named peers only: these are (now) peers with these details, those are gone; the others
   * stay as they are. Without it every change hands setPeers the whole list.
   */
  updatePeers?(peers: readonly { name: string; meshIp: string; opensHandshake?: boolean }[], removed: readonly string[]): void;
  /** This node's own mesh IP, to measure (and discount) the probe's own turnaround. */
  setSelf?(meshIp: string | undefined): void;
  samples(): RttSample__Output[];
  /** True once every peer's samples cover a whole window (not just the first probes after a start). */
  windowsFull?(): boolean;
  /** When a peer last answered (wall-clock ms): relays are chosen and watched with it. */
  lastAnswerMs?(name: string): number | undefined;
  /** How long a probe round takes now: liveness allows a few. */
  readonly currentRoundMs?: number;
  /** Per peer, when peers are probed at different cadences (rest mode): how often and since when. */
  cadenceOf?(name: string): { readonly roundMs: number; readonly sinceMs: number } | undefined;
  /** The peers' WireGuard byte counters (sent + received, by name), read at each relay review: traffic makes a peer probed often. */
  observeTraffic?(bytesByName: ReadonlyMap<string, number>): void;
  /** Probe every peer often until `untilMs`; resolves once a round begun now has finished. */
  wantFresh?(untilMs: number): Promise<void>;
  /** One probe to the peer now: its first packet opens a handshake (see HandshakeGuard). */
  probeNow?(name: string): void;
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
  /** Offer to relay for peers without a direct path (granted by the bootstrap when reachable). */
  readonly relay?: boolean;
  /** Relay timings (tests). */
  readonly relaySettings?: Partial<RelaySettings>;
  /** Rotate the WireGuard key this often (ms; 0 or absent: never). */
  readonly keyRotationMs?: number;
  /** A rotation a crash interrupted (its next key): resumed once the node is up. */
  readonly pendingPrivateKey?: string;
}

/** Counters for tests and benchmarks. */
export type AgentStats = SessionStats;

/**
 * A mesh node: the glue between its parts. The control session (control/session.ts) joins,
 * watches and re-joins; each Watch message goes to the netmap applier (netmap/applier.ts), which
 * hands every batch to the reconciler (wg/reconciler.ts) that keeps the WireGuard device equal to
 * the membership; the reporter (report/reporter.ts) heartbeats; the endpoint manager
 * (endpoints/manager.ts) finds this node's candidates and each peer's working one. Leaves on stop.
 *
 * Emits 'change' whenever what `status` would show may have changed, 'reconciled' after a pass,
 * 'step' ({ name, detail }) as the start goes ('endpoints', 'joined', 'interface', 'peers'),
 * 'address' when a re-join moved the node to a new mesh IP, and 'members' (names, full, netmap
 * before) with each batch of membership changes (every peer when `full`).
 */
export class Agent extends EventEmitter {
  private privateKey: string;
  private publicKeyValue: string;
  private keyRotationTimer: unknown;
  /** A new key's announcement that got no answer is made again (see rotateKeyNow). */
  private rotationRetryTimer: unknown;
  private rotating: Promise<unknown> = Promise.resolve();
  /** True when this run began from saved state rather than a fresh join. */
  restoredFromState = false;
  private stopped = true;
  private deviceUp = false;
  /** The device's latest bring-up, settled (stop() waits for it before closing the device). */
  private deviceStarting: Promise<unknown> | undefined;
  private fullReconcileTimer: unknown;
  private readonly reconciler: Reconciler;
  /**
   * Peers that came, went or moved since the prober was last told (told after the next WireGuard
   * pass), or 'all' (a snapshot): only these are handed on, so a change costs O(1) there.
   */
  private rttPeersPending: Set<string> | 'all' | undefined;
  /** Times the whole peer list was built for the RTT prober and handshake guard (tests read it: O(n) each). */
  peerListings = 0;
  private readonly membership: NetmapApplier;
  private readonly session: ControlSession;
  private readonly reporter: Reporter;
  private readonly paths: EndpointManager;
  private readonly relays: RelayPaths;
  private readonly psk: PresharedKeys;
  /** Restarts a new peer's handshake when the first initiations crossed; only with a prober and a real device. */
  private readonly handshakeGuard: HandshakeGuard | undefined;
  /** Each peer's public key when the prober was last told of it: a new name or key is a new peer. */
  private rttPeerKeys = new Map<string, string>();
  private readonly logger: Logger;
  private readonly timers: Timers;

  constructor(private readonly components: AgentComponents, private readonly init: AgentInit) {
    super();
    this.privateKey = init.privateKey;
    this.publicKeyValue = publicKeyFromPrivate(init.privateKey);
    this.logger = components.logger ?? silentLogger();
    this.timers = components.timers ?? defaultTimers;
    const changed = () => this.emit('change');
    this.paths = new EndpointManager(
      {
        driver: components.driver,
        netmap: () => this.membership.netmap,
        deviceUp: () => this.deviceUp,
        reconcile: { requestFull: () => this.reconciler.requestFull(), changed: (name) => this.reconciler.changed(name) },
        logger: this.logger,
        timers: this.timers,
      },
      {
        ...(init.endpoints ? { candidates: init.endpoints } : {}),
        ...(init.behindNat ? { behindNat: init.behindNat } : {}),
        ...(init.wgOptions ? { fixed: init.wgOptions } : {}),
        ...(init.endpointReviewMs !== undefined ? { reviewMs: init.endpointReviewMs } : {}),
      },
      changed,
    );
    const rtt = components.rtt;
    this.relays = new RelayPaths(
      {
        driver: components.driver,
        netmap: () => this.membership.netmap,
        deviceUp: () => this.deviceUp,
        reconcile: { changed: (name) => this.reconciler.changed(name) },
        ...(rtt?.lastAnswerMs ? {
          probes: {
            lastAnswerMs: (n: string) => rtt.lastAnswerMs!(n),
            get roundMs() { return rtt.currentRoundMs; },
            ...(rtt.cadenceOf ? { cadenceOf: (n: string) => rtt.cadenceOf!(n) } : {}),
          },
        } : {}),
        ...(rtt?.observeTraffic ? { traffic: (bytes: ReadonlyMap<string, number>) => rtt.observeTraffic!(bytes) } : {}),
        ...(components.relayForwarding ? { forwarding: components.relayForwarding } : {}),
        logger: this.logger.child({ component: 'relay' }),
        timers: this.timers,
      },
      { ...(init.relaySettings ? { settings: init.relaySettings } : {}) },
      changed,
    );
    // Preshared keys (bootstrap -psk): fetched per peer as the membership changes; a peer whose
    // key arrives is reconciled again.
    this.psk = new PresharedKeys(
      {
        fetch: (peers) => this.session.presharedKeys(peers),
        logger: this.logger.child({ component: 'psk' }),
        timers: this.timers,
        ...(components.random ? { random: components.random } : {}),
      },
      {},
      (names) => {
        for (const name of names) this.reconciler.changed(name);
      },
    );
    const psk = this.psk;
    const endpointOptions = this.paths.wgOptions;
    const relays = this.relays;
    // Endpoints and keepalive follow the endpoint manager (it changes them), allowed IPs the relays.
    const wgOptions: WgConfigOptions = {
      get endpointFor() { return endpointOptions.endpointFor; },
      get persistentKeepalive() { return endpointOptions.persistentKeepalive; },
      allowedIpsFor: (node) => relays.allowedIpsFor(node),
      keepaliveFor: (node) => relays.keepaliveFor(node),
      presharedKeyFor: (node) => psk.keyFor(node.publicKey),
      presharedKeyPending: (node) => psk.pending(node.publicKey),
    };
    this.reconciler = new Reconciler(components.driver, () => this.membership.netmap, wgOptions, this.logger, () => {
      // The prober learns of new peers once the device has them: its first probe to a peer opens
      // the handshake, and one sent before the peer exists in WireGuard is dropped unsent.
      const pending = this.rttPeersPending;
      if (pending) {
        this.rttPeersPending = undefined;
        if (pending === 'all') this.syncRttPeers();
        else this.updateRttPeers(pending);
      }
      this.emit('reconciled');
    }, { timers: this.timers });
    this.handshakeGuard = rtt?.probeNow && components.driver.reportsHandshakes
      ? new HandshakeGuard({
        timers: this.timers,
        opens: (name) => {
          const node = this.membership.netmap.nodes.get(name);
          return node !== undefined && this.opensHandshakeWith(node);
        },
        publicKeyOf: (name) => this.membership.netmap.nodes.get(name)?.publicKey,
        answered: (name, sinceMs) => {
          const at = rtt.lastAnswerMs?.(name);
          return at !== undefined && at > 0 && at >= sinceMs;
        },
        latestHandshakes: async () => new Map((await components.driver.read()).peers.map((p) => [p.publicKey, p.latestHandshakeMs])),
        restart: (name) => this.reconciler.restartPeer(name),
        probe: (name) => rtt.probeNow?.(name),
        logger: this.logger.child({ component: 'wg' }),
      })
      : undefined;
    this.membership = new NetmapApplier(
      init.meshName,
      init.nodeName,
      {
        reconcile: (names, full, before) => {
          this.reconciler.passNow(names, full);
          this.followPresharedKeys(names, full);
          // The batch's names, for what follows nodes one by one (the L2 flood list, the mesh's
          // names); O(1) per change. With the netmap it was applied to: a follower that saw another
          // reads the new one whole.
          if (this.listenerCount('members') > 0) this.emit('members', [...names], full, before);
        },
        ...(components.stateStore ? { stateStore: components.stateStore } : {}), logger: this.logger },
      {
        peersChanged: (names) => {
          // Nobody follows the peers without a prober (the handshake guard comes only with one).
          if (!this.components.rtt) return;
          if (names === 'all' || this.rttPeersPending === 'all') this.rttPeersPending = 'all';
          else {
            this.rttPeersPending ??= new Set();
            for (const name of names) this.rttPeersPending.add(name);
          }
        },
        changed,
      },
    );
    this.session = new ControlSession(
      {
        control: components.control,
        membership: this.membership,
        logger: this.logger,
        timers: this.timers,
        ...(components.timers ? { injectedTimers: components.timers } : {}),
        ...(components.random ? { random: components.random } : {}),
        ownCertificateNotAfterMs: () => components.certificates?.()?.certNotAfterMs,
      },
      {
        meshName: init.meshName,
        nodeName: init.nodeName,
        publicKey: this.publicKeyValue,
        nodeSecret: nodeSecretFromPrivate(init.privateKey),
        ...(init.bootstrapAddr !== undefined ? { bootstrapAddr: init.bootstrapAddr } : {}),
        backoffInitialMs: init.backoffInitialMs ?? AGENT_DEFAULTS.backoffInitialMs,
        backoffMaxMs: init.backoffMaxMs ?? AGENT_DEFAULTS.backoffMaxMs,
      },
      {
        joinRequest: async (attempt) => {
          await this.paths.refresh();
          if (attempt === 0) this.step('endpoints', describeEndpoints(this.paths.endpoints, this.paths.behindNat));
          // The address it holds (restored from saved state, or from the last join): a node that
          // left at its last stop gets it back when no one took it meanwhile.
          const previousMeshIp = this.membership.joined?.meshIp ?? '';
          return { endpoints: [...this.paths.endpoints], tags: this.reporter.tags, listenPort: this.listenPort, relay: init.relay ?? false, previousMeshIp };
        },
        rejoined: (response) => this.rejoined(response),
        changed,
        rttWanted: (untilMs) => void this.wantFreshRtt(untilMs),
      },
    );
    this.reporter = new Reporter(
      { session: this.session, endpoints: this.paths, relays: this.relays, ...(components.rtt ? { rtt: components.rtt } : {}), timers: this.timers },
      init.heartbeatMs ?? AGENT_DEFAULTS.heartbeatMs,
      init.tags ?? {},
      changed,
    );
    // wireguard-go restarted by its supervisor: make sure the device matches the netmap again.
    if (hasRestartNotifier(components.driver)) {
      components.driver.onRestart(() => {
        this.logger.warn('WireGuard device was re-created; reconciling');
        this.reconciler.requestFull();
        void this.relays.syncForwarding(true);
      });
    }
  }

  get netmap(): Netmap {
    return this.membership.netmap;
  }
  /** This node's WireGuard public key (the one the interface has: it changes with rotateKey). */
  get publicKey(): string {
    return this.publicKeyValue;
  }
  get connected(): boolean {
    return this.session.connected;
  }
  get joined(): JoinResponse__Output | undefined {
    return this.membership.joined;
  }
  get driver(): WgDriver {
    return this.components.driver;
  }
  get meshIp(): string | undefined {
    return this.membership.joined?.meshIp;
  }
  get currentTags(): Readonly<Record<string, string>> {
    return this.reporter.tags;
  }
  get endpoints(): readonly Endpoint[] {
    return this.paths.endpoints;
  }
  get behindNat(): boolean {
    return this.paths.behindNat;
  }
  get selector(): EndpointSelector {
    return this.paths.selector;
  }
  /** Routes through relays, and this node's own relaying. */
  get relayPaths(): RelayPaths {
    return this.relays;
  }
  get options(): AgentInit {
    return this.init;
  }
  get stats(): AgentStats {
    return this.session.stats;
  }
  /** The bootstrap calls go to now, and every one this node knows (more than one when it can fail over). */
  get bootstrap(): { current: string; all: string[] } {
    const known = this.components.control.bootstrap?.();
    if (known) return known;
    const addr = this.init.bootstrapAddr ?? '';
    return { current: addr, all: addr ? [addr] : [] };
  }
  /** This node's layer 2 (bootstrap -l2), once a part runs it (node/node.ts attaches MeshL2's status). */
  l2Status: (() => L2Status | null) | undefined;

  /** The last refused or failed control-plane call, '' once calls succeed again (shown by `info`). */
  get controlError(): string {
    return this.session.controlError;
  }

  /** Set while the bootstrap refuses this node's own certificate (revoked or expired). */
  get certificateRefusal(): CertificateRefusalState | undefined {
    return this.session.certificateRefusal;
  }

  /** The node's client certificate and CA, when it has them (mTLS). */
  certificateStatus(): CertificateStatus | undefined {
    return this.components.certificates?.();
  }

  private get listenPort(): number {
    return this.init.listenPort ?? AGENT_DEFAULTS.listenPort;
  }

  /**
   * Brings the node up. With saved state, WireGuard is restored from it at once and the bootstrap
   * is contacted in the background; otherwise joins first (retrying while the bootstrap is
   * unreachable). Either way it then watches membership and heartbeats.
   */
  async start(): Promise<void> {
    this.stopped = false;
    this.session.start();
    const saved = await this.components.stateStore?.load();
    if (saved && saved.meshName === this.init.meshName && saved.nodeName === this.init.nodeName) {
      await this.upDevice(saved.meshIp, saved.meshCidr);
      this.membership.adopt({ nodeName: saved.nodeName, meshIp: saved.meshIp, meshCidr: saved.meshCidr, meshCreatedMs: saved.meshCreatedMs, revision: saved.revision, nodes: [...saved.nodes], nodeSecret: '', presharedKeys: false, l2: saved.l2 ? { enabled: true, ...saved.l2 } : null });
      this.announceMembership();
      this.restoredFromState = true;
      this.logger.info('WireGuard restored from saved state; contacting the bootstrap', { meshIp: saved.meshIp, peers: saved.nodes.length - 1, revision: saved.revision });
      await this.reconcile();
      void this.session.rejoin();
      this.startBackgroundWork();
      return;
    }
    // The device (its key and port, and wireguard-go) comes up while the join is out: only its
    // address waits for the answer. A device that fails ends the join after the attempt in flight.
    const device = this.upDevice();
    const noMoreAttempts = new AbortController();
    device.catch(() => noMoreAttempts.abort());
    let response: JoinResponse__Output;
    try {
      response = await this.session.join(noMoreAttempts.signal);
    } catch (err) {
      const deviceError = await device.then(() => undefined, (e: unknown) => e);
      // The join was given up for the device: its failure is the one to tell.
      throw deviceError !== undefined && err instanceof JoinCancelled && !this.stopped ? deviceError : err;
    }
    // Saved while the device gets its address and peers (a save is an fsync or two: milliseconds,
    // more on a busy disk, on the critical path otherwise), and the start ends only once it is on
    // disk: an answered join is never forgotten by a crash, so a restart keeps the address the
    // bootstrap gave out. Logged as joined once saved: a node that says so has its address on disk.
    this.membership.adopt(response);
    const persisted = this.membership.persist().then(() => this.logJoined(response));
    // Awaited below; a device failure thrown first must not leave it unhandled (stop() waits for it).
    persisted.catch(() => undefined);
    this.step('joined', `mesh IP ${response.meshIp} in ${response.meshCidr}, ${response.nodes.length - 1} other nodes`);
    this.psk.enabled = response.presharedKeys;
    // Before the first reconcile: peers then come up with their keys, not without and again with.
    await this.syncPresharedKeys();
    // An answered join whose device failed: stop() leaves the mesh again.
    await device;
    // The address and the peers do not wait for each other (the first pass reads the device, and
    // neither needs the other to be there).
    const addressed = this.setDeviceAddress(response.meshIp, response.meshCidr);
    const reconciled = this.reconcile();
    // Both settle before the start goes on or fails.
    await Promise.allSettled([addressed, reconciled]);
    await addressed;
    this.step('interface', `${this.components.driver.name} up (${this.components.driver.kind}), UDP port ${this.listenPort}`);
    this.announceMembership();
    await reconciled;
    // (What follows this step, RTT probing, starts the peers' handshakes.)
    this.step('peers', `${peerCount(this.membership.netmap)} peers configured`);
    await persisted;
    this.session.watch();
    this.startBackgroundWork();
  }

  /** Leaves the mesh (unless told not to), stops every timer and stream, and closes the device. */
  async stop(options: { leave?: boolean; keepInterface?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.handshakeGuard?.stop();
    this.session.stop();
    this.reporter.stop();
    if (options.leave !== false && this.membership.joined) await this.session.leave();
    this.timers.clearTimeout(this.fullReconcileTimer);
    this.timers.clearTimeout(this.keyRotationTimer);
    this.timers.clearTimeout(this.rotationRetryTimer);
    await this.rotating;
    this.paths.stop();
    await this.relays.close();
    this.psk.close();
    this.reconciler.close();
    await this.reconciler.idle();
    await this.membership.close();
    // A device still coming up (a stop during the join) is closed once it is there.
    await this.deviceStarting;
    await this.components.driver.close({ keepInterface: options.keepInterface ?? false });
    this.session.close();
    this.emit('change');
  }

  /** Refused at once (InvalidTag) when the tag breaks the rules: a bad tag is never applied or sent. */
  async setTag(key: string, value: string): Promise<Readonly<Record<string, string>>> {
    validateTag(key, value);
    validateServiceTag(key, value);
    return this.reporter.changeTags((tags) => validateTags({ ...tags, [key]: value }));
  }

  /** Rejects with TagNotFound unless the node has the tag as its own (not an Object property). */
  async deleteTag(key: string): Promise<Readonly<Record<string, string>>> {
    return this.reporter.changeTags((tags) => {
      if (!Object.hasOwn(tags, key)) throw new TagNotFound(key);
      const next = { ...tags };
      delete next[key];
      return next;
    });
  }

  /**
   * A new WireGuard key, announced through membership, with no packet lost. The order, measured
   * with wireguard-go in two namespaces under ping -i 0.1 (2 s before, 8 s after):
   *   1. the next key is saved beside the current one (private.key.next), so a crash cannot lose a
   *      key the mesh may come to know;
   *   2. the interface switches to it. Existing sessions stop sending (wireguard-go and the kernel
   *      expire their sending keys on a private-key change) but keep receiving, and packets to a
   *      peer wait in its staged queue (128 packets) until a handshake with the new key succeeds;
   *   3. the Update announces the key (proved with the current key and secret); every peer swaps
   *      the old peer entry for the new one in one `wg set` (the reconciler's fast pass), its
   *      pings go out as a handshake to the new key, and the staged replies follow.
   * Measured: 0 of 102-164 pings lost with the peer swapping 0.5, 3 and 7 s after the switch (the
   * delay shows only as RTT: up to the swap's delay). The other orders lose or stall: peers adding
   * the new key first (without AllowedIPs, which can sit on one key only) lost 5 of 111 pings, as
   * the new key's packets failed the AllowedIPs check; peers swapping before the switch lost none
   * but stalled 5 s (their handshakes to a key the node did not have yet failed until the retry).
   * A refused or unanswered announcement switches the interface back and discards the next key.
   */
  rotateKey(nextPrivateKey?: string): Promise<KeyRotation> {
    const run = this.rotating.then(() => this.rotateKeyNow(nextPrivateKey ?? generateKeyPair().privateKey));
    this.rotating = run.catch(() => undefined);
    return run;
  }

  private async rotateKeyNow(next: string): Promise<KeyRotation> {
    if (this.stopped || !this.deviceUp || !this.membership.joined) throw new KeyRotationFailed('the node has not joined the mesh yet; try again once `wgmesh info` shows it joined');
    const previousKey = this.privateKey;
    const previousPublicKey = this.publicKeyValue;
    const publicKey = publicKeyFromPrivate(next);
    const nodeSecret = nodeSecretFromPrivate(next);
    const store = this.components.keyStore;
    const log = this.logger.child({ component: 'rotate' });
    return this.reporter.exclusive(async (sendNow) => {
      await store?.savePending(next);
      await this.components.driver.setPrivateKey(next);
      let revision: number;
      try {
        revision = await sendNow({ newPublicKey: publicKey, newNodeSecret: nodeSecret });
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (isUnreachable(err)) {
          // No answer is not a refusal: the bootstrap may have taken the key, and then going back
          // would lock this node out (the mesh knows only the new one). Keep it, announce it again.
          log.warn(`no answer to the new key's announcement; keeping the new key and announcing it again in ${ROTATION_RETRY_MS / 1000} s`, { publicKey, err: message });
          this.timers.clearTimeout(this.rotationRetryTimer);
          this.rotationRetryTimer = this.timers.setTimeout(() => {
            this.rotationRetryTimer = undefined;
            this.rotateKey(next).catch(() => undefined);
          }, ROTATION_RETRY_MS);
          throw new KeyRotationFailed(`not confirmed by the bootstrap (${message}); the new key stays and is announced again`, { cause: err });
        }
        log.warn('the bootstrap did not take the new key; back to the previous one', { publicKey: previousPublicKey, err: message });
        await this.components.driver.setPrivateKey(previousKey);
        await store?.discardPending();
        throw new KeyRotationFailed(message, { cause: err });
      }
      this.session.setKey(publicKey, nodeSecret);
      this.privateKey = next;
      this.publicKeyValue = publicKey;
      // Pair keys (-psk) follow both ends' public keys: this node's are all new.
      void this.psk.ownKeyChanged().then(() => this.reconciler.full()).catch(() => undefined);
      await store?.commit(next);
      log.info('rotated the WireGuard key', { publicKey, previous: previousPublicKey, revision });
      this.emit('change');
      return { previousPublicKey, publicKey, revision };
    });
  }

  private scheduleKeyRotation(): void {
    const every = this.init.keyRotationMs ?? 0;
    if (this.stopped || every <= 0) return;
    this.keyRotationTimer = this.timers.setTimeout(() => {
      this.rotateKey().catch((err: unknown) => this.logger.warn('scheduled key rotation failed; trying again at the next', { err: err instanceof Error ? err.message : String(err) }))
        .finally(() => this.scheduleKeyRotation());
    }, every);
  }

  /** This node's endpoint candidates changed (a port mapping came, moved or went): tell the bootstrap now, not at the next heartbeat. */
  endpointsChanged(): void {
    if (!this.stopped) this.reporter.heartbeatNow();
  }

  /** Re-reads the device and brings it to the netmap; resolves when done. */
  reconcile(): Promise<void> {
    return this.reconciler.full();
  }

  self() {
    return selfNode(this.membership.netmap);
  }

  /** When `name` last heartbeated, where this node knows better than its membership (the bootstrap). */
  lastHeartbeatMs(name: string): number | undefined {
    return this.components.lastHeartbeatMs?.(name);
  }

  /** This node's latest RTT samples, or undefined without a prober. */
  rttSamples(): RttSample__Output[] | undefined {
    return this.components.rtt?.samples();
  }

  /** How often a peer is probed now and since when (undefined: not probed, or a prober without cadences). */
  rttCadence(name: string): { readonly roundMs: number; readonly sinceMs: number } | undefined {
    return this.components.rtt?.cadenceOf?.(name);
  }

  /**
   * The mesh-wide RTT matrix as the bootstrap has it, or undefined when it cannot be asked now.
   * `fresh`: the bootstrap asks every node to measure now and answers once their rows are new (or
   * after about 2.5 s).
   */
  meshRtt(options: { fresh?: boolean } = {}): Promise<RttResponse__Output | undefined> {
    return this.session.meshRtt(options);
  }

  /**
   * Fresh RTT figures wanted until `untilMs` (the bootstrap asked every node, or a dashboard is
   * open here): every peer is probed every second, and the figures of the first such round go to
   * the bootstrap at once (all of them, changed or not: their times are news).
   */
  /** This node's own figures fresh until `untilMs` (a local dashboard is open): probing only, no report. */
  keepRttFresh(untilMs: number): void {
    void this.components.rtt?.wantFresh?.(untilMs);
  }

  async wantFreshRtt(untilMs: number): Promise<void> {
    const rtt = this.components.rtt;
    if (!rtt?.wantFresh) return;
    // At most a minute ahead, whatever the asker's clock says.
    await rtt.wantFresh(Math.min(untilMs, Date.now() + 60_000));
    this.reporter.heartbeatNow({ allRtt: true });
  }

  /** Heartbeats, periodic full reconciles and endpoint reviews: the timers of a running node. */
  private startBackgroundWork(): void {
    this.reporter.start();
    this.scheduleFullReconcile();
    this.scheduleKeyRotation();
    // A rotation a crash interrupted: announcing its key again is accepted whether or not the
    // bootstrap took it before.
    const pending = this.init.pendingPrivateKey;
    if (pending && pending !== this.privateKey) {
      this.rotateKey(pending).catch((err: unknown) => this.logger.warn('could not finish the key rotation a restart interrupted', { err: err instanceof Error ? err.message : String(err) }));
    }
    this.paths.start();
    this.relays.start();
    // Relaying follows the membership's word on this node (Node.relay), whenever it changes.
    this.on('change', () => void this.relays.syncForwarding());
    void this.relays.syncForwarding();
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

  /**
   * Brings the device up, with the node's address when it is known already (else
   * setDeviceAddress follows). stop() waits for a device being brought up before closing it.
   */
  private async upDevice(meshIp?: string, meshCidr?: string): Promise<void> {
    this.deviceUp = false;
    const up = this.components.driver.up({
      name: this.components.driver.name,
      privateKey: this.privateKey,
      listenPort: this.listenPort,
      ...(meshIp !== undefined && meshCidr !== undefined ? { address: meshAddress(meshIp, meshCidr) } : {}),
    });
    this.deviceStarting = up.catch(() => undefined);
    await up;
    if (meshIp !== undefined) this.deviceUp = true;
  }

  private async setDeviceAddress(meshIp: string, meshCidr: string): Promise<void> {
    await this.components.driver.setAddress(meshAddress(meshIp, meshCidr));
    this.deviceUp = true;
  }

  /**
   * The wg interface's move to a new mesh IP while it is under way (a re-join was given a new
   * address: the device is closed and brought up again, so for a moment it does not exist). A part
   * starting meanwhile (layer 2 reads the device's MTU) waits for it rather than failing the node:
   * it resolves once the move is done and 'address' was emitted.
   */
  get addressMove(): Promise<void> | undefined {
    return this.addressMoving;
  }
  private addressMoving: Promise<void> | undefined;

  /** A re-join was answered: a new mesh IP moves the device; then every peer is checked again. */
  private async rejoined(response: JoinResponse__Output): Promise<void> {
    const previous = this.membership.joined;
    const moved = previous !== undefined && (response.meshIp !== previous.meshIp || response.meshCidr !== previous.meshCidr);
    let moveDone = () => {};
    if (moved) this.addressMoving = new Promise<void>((resolve) => (moveDone = resolve));
    try {
      if (moved) {
        // Reaped while away and its IP reused, or the mesh was re-created: never keep an address
        // the bootstrap may have given to someone else.
        this.logger.warn('the bootstrap gave this node a new mesh IP; moving the interface to it', { meshIp: response.meshIp, previous: previous.meshIp });
        await this.components.driver.close();
        await this.upDevice(response.meshIp, response.meshCidr);
        void this.relays.syncForwarding(true);
      }
      this.membership.adopt(response);
      this.announceMembership();
      await this.membership.persist();
      this.logJoined(response);
      if (moved) this.emit('address', response.meshIp);
    } finally {
      if (moved) {
        this.addressMoving = undefined;
        moveDone();
      }
    }
    // Keys first: a full pass leaves out peers whose key is pending (a restart from saved state
    // learns only now that the mesh has preshared keys).
    this.psk.enabled = response.presharedKeys;
    await this.syncPresharedKeys();
    this.reconciler.requestFull();
  }

  /** Logged once the join is saved: a node that says it joined has its address on disk. */
  private logJoined(response: JoinResponse__Output): void {
    this.logger.info('joined the mesh', { node: response.nodeName, meshIp: response.meshIp, revision: response.revision, peers: response.nodes.length - 1 });
  }

  /** The membership is in place (and the interface up): the prober and listeners follow it. */
  private announceMembership(): void {
    this.syncRttPeers();
    this.emit('change');
  }

  /**
   * Whether this mesh gives pairs preshared keys, for how many peers this node has one (never the
   * keys), and how many times every peer was listed for them (joins and snapshots, not changes).
   */
  get presharedKeys(): { enabled: boolean; peers: number; fullSyncs: number } {
    return { enabled: this.psk.enabled, peers: this.psk.size, fullSyncs: this.psk.fullSyncs };
  }

  /** Every peer to the preshared keys (after a join): O(mesh), done once per join. */
  private syncPresharedKeys(): Promise<void> {
    if (!this.psk.enabled) return Promise.resolve();
    const netmap = this.membership.netmap;
    const peers: MeshNode[] = [];
    for (const node of netmap.nodes.values()) if (node.name !== netmap.selfName) peers.push(node);
    return this.psk.sync(peers);
  }

  /** A batch of membership changes to the preshared keys: only the peers it names (O(1) per change). */
  private followPresharedKeys(names: Iterable<string>, full: boolean): void {
    if (!this.psk.enabled) return;
    if (full) {
      void this.syncPresharedKeys();
      return;
    }
    const netmap = this.membership.netmap;
    const changed: PskPeer[] = [];
    for (const name of names) if (name !== netmap.selfName) changed.push({ name, publicKey: netmap.nodes.get(name)?.publicKey });
    void this.psk.update(changed);
  }

  private syncRttPeers(): void {
    // Without a prober or a handshake guard nobody wants the list: building it (every peer,
    // sorted) after each batch of membership changes was O(n log n) per change, and the largest
    // share of a benchmark process running 500 agents without probers.
    if (!this.components.rtt && !this.handshakeGuard) return;
    this.peerListings++;
    this.components.rtt?.setSelf?.(this.meshIp);
    const peers = peersOf(this.membership.netmap);
    this.components.rtt?.setPeers(peers.map((n) => ({ name: n.name, meshIp: n.meshIp, opensHandshake: this.opensHandshakeWith(n) })));
    if (!this.handshakeGuard) return;
    const keys = new Map(peers.map((n) => [n.name, n.publicKey]));
    this.handshakeGuard.added(peers.filter((n) => this.rttPeerKeys.get(n.name) !== n.publicKey).map((n) => ({ name: n.name, publicKey: n.publicKey })));
    this.rttPeerKeys = keys;
  }

  /**
   * Tells the prober and the handshake guard about the named peers only (each is there now, with
   * its mesh IP, or gone). A prober without updatePeers, or this node itself among the names (its
   * own mesh IP moved), gets the whole list instead.
   */
  private updateRttPeers(names: ReadonlySet<string>): void {
    const rtt = this.components.rtt;
    const netmap = this.membership.netmap;
    if (!rtt) return;
    if (!rtt.updatePeers || names.has(netmap.selfName)) {
      this.syncRttPeers();
      return;
    }
    const { present, gone } = presentAndGone(netmap, names);
    rtt.updatePeers(present.map((n) => ({ name: n.name, meshIp: n.meshIp, opensHandshake: this.opensHandshakeWith(n) })), gone);
    if (!this.handshakeGuard) return;
    for (const name of gone) this.rttPeerKeys.delete(name);
    const added = present.filter((n) => this.rttPeerKeys.get(n.name) !== n.publicKey);
    for (const n of added) this.rttPeerKeys.set(n.name, n.publicKey);
    if (added.length) this.handshakeGuard.added(added.map((n) => ({ name: n.name, publicKey: n.publicKey })));
  }

  /**
   * The later of two nodes to join opens their handshake: when it adds the other, that one has had
   * it as a peer since it joined (ties: the lower mesh IP). See RttProber.initiatorHold.
   */
  private opensHandshakeWith(n: MeshNode): boolean {
    const self = selfNode(this.membership.netmap);
    return !self || self.joinedAtMs > n.joinedAtMs || (self.joinedAtMs === n.joinedAtMs && compareNames(self.meshIp, n.meshIp) < 0);
  }

  /** Progress of start-up, for a terminal: 'endpoints', 'joined', 'interface', 'peers'. */
  private step(name: string, detail: string): void {
    this.emit('step', { name, detail });
  }
}
