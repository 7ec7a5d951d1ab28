import type { Agent } from '../agent.js';
import type { Netmap } from '../netmap/netmap.js';
import { errorMessage, silentLogger, type Logger } from '../log.js';
import { HostsFileKeeper } from './hosts-file.js';
import { DnsServer } from './server.js';
import { DNS_DEFAULTS, MeshZone } from './zone.js';

export interface MeshNamesInit {
  /** The zone (normalized, see normalizeDnsDomain). */
  readonly domain: string;
  /** Serve DNS on the mesh IP at this port; undefined: no DNS server (the hosts file alone). */
  readonly port?: number;
  /** Keep a marked block of hosts lines in this file. */
  readonly hostsFile?: string;
}

/**
 * A node's names: the DNS server on its mesh IP (moving with it) and the -hosts-file block, both
 * from the agent's netmap. A DNS server that cannot listen is logged, not fatal: the mesh itself
 * works without names, and the log says how to free the port or turn DNS off.
 */
export class MeshNames {
  readonly zone: MeshZone;
  readonly server: DnsServer | undefined;
  private readonly hosts: HostsFileKeeper | undefined;
  private readonly logger: Logger;
  /** The netmap the names last followed. */
  private followed: Netmap | undefined;
  /**
   * A membership batch: the hosts block and the DNS index follow its names, at a cost of O(names).
   * A batch applied to a netmap other than the one followed last (or a snapshot) is read whole.
   */
  private readonly onMembers = (names: readonly string[], full: boolean, before: Netmap) => {
    const after = this.agent.netmap;
    const inStep = !full && before === this.followed;
    this.followed = after;
    if (inStep) this.zone.follow(before, after, names);
    if (this.hosts) void (inStep ? this.hosts.follow(after, this.init.domain, names) : this.hosts.update(after, this.init.domain));
  };
  /** Any other change: only a netmap no batch brought (a join's or re-join's answer) is read whole. */
  private readonly onChange = () => {
    if (this.agent.netmap === this.followed) return;
    this.followed = this.agent.netmap;
    // (The DNS index notices a netmap it did not follow at the next query and rebuilds.)
    if (this.hosts) void this.hosts.update(this.followed, this.init.domain);
  };
  private readonly onAddress = (ip: string) => void this.listen(ip);

  constructor(private readonly agent: Agent, private readonly init: MeshNamesInit, logger?: Logger) {
    this.logger = logger ?? silentLogger();
    this.zone = new MeshZone({ netmap: () => agent.netmap, meshCidr: () => agent.joined?.meshCidr }, init.domain);
    this.server = init.port === undefined ? undefined : new DnsServer(this.zone, init.port, this.logger);
    this.hosts = init.hostsFile ? new HostsFileKeeper(init.hostsFile, agent.options.meshName, this.logger) : undefined;
  }

  /** Times the hosts block was built from every node's line (for tests of what a change costs). */
  get hostsFileBuilds(): number | undefined {
    return this.hosts?.builds;
  }

  /** Resolves once the hosts block has every change followed so far. */
  async idle(): Promise<void> {
    await this.hosts?.idle();
  }

  async start(): Promise<void> {
    this.agent.on('members', this.onMembers);
    this.agent.on('change', this.onChange);
    this.agent.on('address', this.onAddress);
    if (this.agent.meshIp) await this.listen(this.agent.meshIp);
    this.followed = this.agent.netmap;
    await this.hosts?.update(this.followed, this.init.domain);
  }

  async stop(): Promise<void> {
    this.agent.off('members', this.onMembers);
    this.agent.off('change', this.onChange);
    this.agent.off('address', this.onAddress);
    await this.server?.stop();
    await this.hosts?.remove();
  }

  private async listen(ip: string): Promise<void> {
    if (!this.server) return;
    try {
      await this.server.moveTo(ip);
      this.logger.info('DNS: serving the mesh names', { listen: this.server.listening, zone: this.init.domain });
    } catch (err) {
      this.logger.warn(`${errorMessage(err)}; the mesh works without names`, { zone: this.init.domain });
    }
  }
}

export { DNS_DEFAULTS };
