import type { Endpoint } from '../proto/index.js';
import type { Netmap } from '../netmap/netmap.js';
import type { WgConfigOptions } from '../wg/config.js';
import type { WgDriver } from '../wg/types.js';
import { EndpointSelector } from './selector.js';
import { AGENT_DEFAULTS } from '../constants.js';
import type { Logger } from '../log.js';
import type { Timers } from '../timers.js';

/** How often peers without a handshake are moved to their next endpoint candidate, by default. */
const ENDPOINT_REVIEW_MS = 2000;

export interface EndpointManagerComponents {
  readonly driver: WgDriver;
  readonly netmap: () => Netmap;
  /** Whether the interface is up (before it is, the first full pass picks keepalive up anyway). */
  readonly deviceUp: () => boolean;
  /** Asks the reconciler for a full pass (keepalive changed) or a pass of one node (its endpoint moved). */
  readonly reconcile: { requestFull(): void; changed(name: string): void };
  readonly logger: Logger;
  readonly timers: Timers;
}

export interface EndpointManagerInit {
  /** This node's endpoint candidates, asked again before every heartbeat and join. */
  readonly candidates?: () => Endpoint[] | Promise<Endpoint[]>;
  /** Whether this node is behind NAT (then it keeps NAT mappings open with persistent keepalive). */
  readonly behindNat?: () => boolean;
  /** Fixed WireGuard options (tests): no candidate trials, no review. */
  readonly fixed?: WgConfigOptions;
  readonly reviewMs?: number;
}

/**
 * Both ends of a path: this node's own endpoint candidates (and from them, whether it is behind
 * NAT, which turns persistent keepalive on), and for each peer the candidate WireGuard is told to
 * use, moved on to the next one while no handshake comes (the review).
 */
export class EndpointManager {
  readonly selector = new EndpointSelector();
  /** What the reconciler builds peers with; mutable on purpose: keepalive follows NAT status. */
  readonly wgOptions: { endpointFor?: WgConfigOptions['endpointFor']; persistentKeepalive?: number };
  private lastEndpoints: Endpoint[] = [];
  private behindNatValue = false;
  private reviewTimer: unknown;
  private running = false;

  constructor(private readonly components: EndpointManagerComponents, private readonly init: EndpointManagerInit, private readonly onChange: () => void) {
    this.wgOptions = init.fixed ? { ...init.fixed } : {
      endpointFor: (node) => {
        const endpoint = this.selector.endpointFor(node);
        // A peer with several candidates came: reviews start (they stop while nobody has a choice).
        if (this.reviewTimer === undefined) this.scheduleReview();
        return endpoint;
      },
    };
  }

  /** This node's candidates as last asked. */
  get endpoints(): readonly Endpoint[] {
    return this.lastEndpoints;
  }

  get behindNat(): boolean {
    return this.behindNatValue;
  }

  /** Asks for this node's endpoint candidates again; NAT status (and with it keepalive) follows from them. */
  async refresh(): Promise<void> {
    this.lastEndpoints = (await this.init.candidates?.()) ?? this.lastEndpoints;
    this.checkNat();
  }

  /** Starts reviewing peers' handshakes (unless the options are fixed). */
  start(): void {
    this.running = true;
    this.scheduleReview();
  }

  stop(): void {
    this.running = false;
    this.components.timers.clearTimeout(this.reviewTimer);
    this.reviewTimer = undefined;
  }

  private checkNat(): void {
    const behind = this.init.behindNat?.() ?? false;
    if (behind === this.behindNatValue) return;
    this.behindNatValue = behind;
    this.wgOptions.persistentKeepalive = behind ? AGENT_DEFAULTS.persistentKeepalive : 0;
    this.components.logger.info(behind ? 'behind NAT: persistent keepalive on' : 'not behind NAT: persistent keepalive off');
    if (this.components.deviceUp()) this.components.reconcile.requestFull();
    this.onChange();
  }

  /**
   * The next review, only while some peer has more than one candidate: with none, a review could
   * change nothing, and the timer is set again when the reconciler asks for a peer's endpoint.
   */
  private scheduleReview(): void {
    if (!this.running || this.init.fixed || !this.selector.hasChoices()) {
      this.reviewTimer = undefined;
      return;
    }
    this.reviewTimer = this.components.timers.setTimeout(() => {
      void this.review().finally(() => this.scheduleReview());
    }, this.init.reviewMs ?? ENDPOINT_REVIEW_MS);
  }

  /** Moves peers without a handshake to their next endpoint candidate. */
  private async review(): Promise<void> {
    if (!this.selector.hasChoices()) return;
    let peers;
    try {
      peers = (await this.components.driver.read()).peers;
    } catch {
      return;
    }
    const advanced = new Set(this.selector.review(peers));
    if (advanced.size === 0) return;
    for (const node of this.components.netmap().nodes.values()) {
      if (advanced.has(node.publicKey)) {
        this.components.logger.info('no handshake yet: trying the next endpoint', { node: node.name, endpoint: this.selector.endpointFor(node) });
        this.components.reconcile.changed(node.name);
      }
    }
  }
}

/** The 'endpoints' progress step: the public address when STUN found one, and every candidate. */
export function describeEndpoints(endpoints: readonly Endpoint[], behindNat: boolean): string {
  const stun = endpoints.find((e) => e.kind === 'ENDPOINT_KIND_STUN');
  const list = endpoints.map((e) => e.ip).join(', ') || 'none';
  return stun ? `public address ${stun.ip} (STUN${behindNat ? ', behind NAT' : ''}); candidates ${list}` : `candidates ${list}`;
}
