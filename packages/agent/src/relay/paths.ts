import type { MeshNode, Netmap } from '../netmap/netmap.js';
import { peersOf, selfNode } from '../netmap/netmap.js';
import { hostPrefix } from '../wg/config.js';
import type { WgDriver, WgPeerState } from '../wg/types.js';
import { errorMessage, type Logger } from '../log.js';
import type { Timers } from '../timers.js';
import { AGENT_DEFAULTS } from '../constants.js';
import { RelayPlanner, type PathChange, type RelaySettings } from './planner.js';
import type { RelayForwarding } from './forwarding.js';

/** How often routes are reviewed while some peer is unsettled (no direct session, or relayed), and otherwise. */
const REVIEW_BUSY_MS = 1_000;
const REVIEW_SETTLED_MS = 5_000;

export interface RelayPathsComponents {
  readonly driver: WgDriver;
  readonly netmap: () => Netmap;
  readonly deviceUp: () => boolean;
  /** Asks the reconciler to pass the named nodes (their allowed IPs changed). */
  readonly reconcile: { changed(name: string): void };
  /** The RTT prober: who answered when, and how near. Without it relays are chosen and dropped on handshakes alone. */
  readonly probes?: {
    lastAnswerMs(name: string): number | undefined;
    readonly roundMs?: number;
    /** Per peer with the prober's rest mode: see PathObservation.probeCadence. */
    cadenceOf?(name: string): { readonly roundMs: number; readonly sinceMs: number } | undefined;
  };
  /**
   * Fed the peers' WireGuard byte counters (sent + received, by node name) at each review, read
   * for it even when no relay needs them: the prober tells traffic from its own probes with them.
   */
  readonly traffic?: (bytesByName: ReadonlyMap<string, number>) => void;
  /** This node's own forwarding, when it offered to relay. */
  readonly forwarding?: RelayForwarding;
  readonly logger: Logger;
  readonly timers: Timers;
  /** Wall clock (ms); default Date.now. Handshake times and due times are on it. */
  readonly now?: () => number;
}

export interface RelayPathsInit {
  readonly settings?: Partial<RelaySettings>;
}

/**
 * Routes for peers without a direct path, through relays (RelayPlanner decides which), and this
 * node's own forwarding when the bootstrap made it a relay. What the WireGuard config asks of
 * it: each peer's allowed IPs (its own /32, moved to the relay's entry while relayed, and on a
 * relay's entry the /32s routed through it) and keepalive (a relayed peer's own entry keeps
 * handshaking, so the direct path is found again).
 */
export class RelayPaths {
  readonly planner: RelayPlanner;
  private timer: unknown;
  /** Fires when a pending return to direct is due (see RelayPlanner.dueMs). */
  private dueTimer: unknown;
  private dueAt: number | undefined;
  private running = false;
  private forwardingSync: Promise<void> = Promise.resolve();
  private relayPairsValue = 0;
  private relayCheckedFor: Netmap | undefined;
  private relayInMesh = false;

  constructor(private readonly components: RelayPathsComponents, init: RelayPathsInit = {}, private readonly onChange: () => void = () => {}) {
    this.planner = new RelayPlanner(init.settings);
  }

  /** The relay a peer is reached through now, undefined when direct. */
  via(name: string): string | undefined {
    return this.planner.via(name);
  }

  /** The peers reached through relays now, with their relay (sent with heartbeats). */
  relayed(): { peer: string; via: string }[] {
    return this.planner.relayed();
  }

  /** As the bootstrap last said (heartbeat answers): pairs routed through this node. */
  get relayPairs(): number {
    return this.relayPairsValue;
  }

  set relayPairs(value: number) {
    if (value === this.relayPairsValue) return;
    this.relayPairsValue = value;
    this.onChange();
  }

  private now(): number {
    return this.components.now?.() ?? Date.now();
  }

  get forwarding(): RelayForwarding | undefined {
    return this.components.forwarding;
  }

  /** A node's allowed IPs on this device. */
  allowedIpsFor(node: MeshNode): string[] {
    const own = this.planner.via(node.name) ? [] : [hostPrefix(node.meshIp)];
    const through = this.planner.routedThrough(node.name);
    if (through.size === 0) return own;
    const netmap = this.components.netmap();
    const routed: string[] = [];
    for (const peer of through) {
      const ip = netmap.nodes.get(peer)?.meshIp;
      if (ip) routed.push(hostPrefix(ip));
    }
    return [...own, ...routed.sort()];
  }

  /** Keepalive for a relayed peer's own entry, so it keeps trying the direct path; undefined: the default. */
  keepaliveFor(node: MeshNode): number | undefined {
    return this.planner.via(node.name) ? AGENT_DEFAULTS.persistentKeepalive : undefined;
  }

  start(): void {
    this.running = true;
    this.schedule(REVIEW_BUSY_MS);
  }

  stop(): void {
    this.running = false;
    this.components.timers.clearTimeout(this.timer);
    this.components.timers.clearTimeout(this.dueTimer);
    this.dueAt = undefined;
  }

  /**
   * This node relays exactly while the membership says it does (Node.relay, granted by the
   * bootstrap); forwarding follows that, one switch at a time. `reapply` after the interface was
   * re-created: its sysctl started over.
   */
  syncForwarding(reapply = false): Promise<void> {
    const forwarding = this.components.forwarding;
    if (!forwarding) return Promise.resolve();
    this.forwardingSync = this.forwardingSync.then(async () => {
      const want = this.running && this.components.deviceUp() && selfNode(this.components.netmap())?.relay === true;
      if (want === forwarding.enabled && !(want && reapply)) return;
      try {
        if (want) await forwarding.enable();
        else await forwarding.disable();
      } catch (err) {
        this.components.logger.error('relaying: cannot change forwarding', { err: errorMessage(err) });
      }
      this.onChange();
    });
    return this.forwardingSync;
  }

  /** Forwarding off and its rules gone (on stop). */
  async close(): Promise<void> {
    this.stop();
    await this.forwardingSync;
    await this.components.forwarding?.disable().catch((err: Error) => this.components.logger.error('relaying: cannot remove forwarding rules', { err: err.message }));
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timer = this.components.timers.setTimeout(() => {
      void this.review().then((busy) => this.schedule(busy ? REVIEW_BUSY_MS : REVIEW_SETTLED_MS));
    }, ms);
  }

  /** Whether a node other than this one offers to relay; asked again only when the netmap changed. */
  private meshHasRelay(netmap: Netmap): boolean {
    if (this.relayCheckedFor !== netmap) {
      this.relayCheckedFor = netmap;
      const nodes = netmap.nodes;
      // The table counts its relays as it changes: O(1) here, not a pass over the membership.
      this.relayInMesh = nodes.relays - (nodes.get(netmap.selfName)?.relay ? 1 : 0) > 0;
    }
    return this.relayInMesh;
  }

  /** One review; true while some peer is unsettled. */
  async review(now = this.now()): Promise<boolean> {
    const netmap = this.components.netmap();
    // Without any relay in the mesh there is nothing to decide: no device read, no sorting of the
    // membership (a second's review of every node of a big mesh costs, in simulations of many agents).
    // The traffic watch alone costs one device read per settled review (every 5 s), nothing else.
    const relaying = this.meshHasRelay(netmap) || this.planner.hasRelayed();
    const traffic = this.components.traffic;
    if (!this.components.deviceUp() || (!relaying && !traffic)) return false;
    let device: Map<string, WgPeerState>;
    try {
      device = new Map((await this.components.driver.read()).peers.map((p) => [p.publicKey, p]));
    } catch {
      return relaying;
    }
    if (traffic) {
      const bytes = new Map<string, number>();
      for (const node of netmap.nodes.values()) {
        const state = device.get(node.publicKey);
        if (state && node.name !== netmap.selfName) bytes.set(node.name, state.rxBytes + state.txBytes);
      }
      traffic(bytes);
    }
    if (!relaying) return false;
    const peers = peersOf(netmap);
    const probes = this.components.probes;
    const changes = this.planner.review(peers, {
      now,
      selfName: netmap.selfName,
      selfIsRelay: selfNode(netmap)?.relay === true,
      device,
      ...(probes ? { lastAnswerMs: (name: string) => probes.lastAnswerMs(name) } : {}),
      ...(probes?.roundMs !== undefined ? { probeRoundMs: probes.roundMs } : {}),
      ...(probes?.cadenceOf ? { probeCadence: (name: string) => probes.cadenceOf!(name) } : {}),
    });
    this.apply(changes);
    this.scheduleDue();
    return this.planner.unsettled({ now, device });
  }

  /** A timer for the earliest pending return to direct, at its exact time: both ends switch together. */
  private scheduleDue(): void {
    const due = this.planner.dueMs();
    if (due === this.dueAt || !this.running) return;
    this.components.timers.clearTimeout(this.dueTimer);
    this.dueAt = due;
    if (due === undefined) return;
    this.dueTimer = this.components.timers.setTimeout(() => {
      this.dueAt = undefined;
      this.apply(this.planner.settleDue(this.now()));
      this.scheduleDue();
    }, Math.max(0, due - this.now()));
  }

  private apply(changes: readonly PathChange[]): void {
    for (const change of changes) {
      this.components.logger.info(change.to ? `peer ${change.peer} through relay ${change.to}` : `peer ${change.peer} direct again`, {
        peer: change.peer, ...(change.from ? { from: change.from } : {}), reason: change.reason,
      });
      // The relay gaining the /32 first, then the peer's own entry: never a moment with no route.
      if (change.to) this.components.reconcile.changed(change.to);
      this.components.reconcile.changed(change.peer);
      if (change.from) this.components.reconcile.changed(change.from);
    }
    if (changes.length) this.onChange();
  }
}
