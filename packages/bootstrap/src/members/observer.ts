import { errorMessage, silentLogger, type Logger } from '@wgmesh/agent/log';
import { handshakeAlive } from '@wgmesh/agent/endpoints/selector';
import { type Timers } from '@wgmesh/agent/timers';
import { type WgPeerState } from '@wgmesh/agent/wg/types';
import type { MemberTable } from './table.js';

/**
 * Publishes, for each member, the endpoint the bootstrap's own WireGuard device sees it at: the
 * address and port after any NAT, which is what other nodes behind NATs need to reach it.
 */
export class EndpointObserver {
  private timer: unknown;
  private running = false;
  private readonly logger: Logger;

  constructor(
    private readonly table: MemberTable,
    private readonly readPeers: () => Promise<readonly WgPeerState[]>,
    private readonly init: { intervalMs?: number; timers: Timers; now?: () => number; logger?: Logger; active?: () => boolean },
  ) {
    this.logger = init.logger ?? silentLogger();
  }

  start(): void {
    this.running = true;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    this.init.timers.clearTimeout(this.timer);
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = this.init.timers.setTimeout(() => {
      this.check().finally(() => this.schedule());
    }, this.init.intervalMs ?? 2000);
  }

  /** One pass: each member's observed endpoint, updated where it changed. */
  async check(): Promise<void> {
    // Of several bootstraps only the leader records what it observes: each sees a node behind a
    // NAT at another address, and taking turns would rewrite the member for nothing.
    if (this.init.active && !this.init.active()) return;
    let peers: readonly WgPeerState[];
    try {
      peers = await this.readPeers();
    } catch (err) {
      this.logger.debug('cannot read the WireGuard device for observed endpoints', { err: errorMessage(err) });
      return;
    }
    const now = (this.init.now ?? Date.now)();
    const byKey = new Map(peers.map((p) => [p.publicKey, p]));
    for (const member of this.table.list()) {
      if (member.isBootstrap) continue;
      const peer = byKey.get(member.publicKey);
      // Only a live session shows where the node really is now.
      if (!peer?.endpoint || !handshakeAlive(peer, now)) continue;
      const parsed = /^\[?([^\]]+?)\]?:(\d+)$/.exec(peer.endpoint);
      if (!parsed) continue;
      const observed = member.endpoints.find((e) => e.kind === 'ENDPOINT_KIND_OBSERVED');
      if (observed && observed.ip === parsed[1] && observed.port === Number(parsed[2])) continue;
      try {
        await this.table.setObservedEndpoint(member.name, { ip: parsed[1]!, port: Number(parsed[2]), kind: 'ENDPOINT_KIND_OBSERVED' });
        this.logger.info('observed endpoint', { node: member.name, endpoint: peer.endpoint });
      } catch (err) {
        this.logger.warn('could not record an observed endpoint', { node: member.name, err: errorMessage(err) });
      }
    }
  }
}
