import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import type { Endpoint } from '../proto/index.js';
import { errorMessage, silentLogger, type Logger } from '../log.js';
import { discoverPublicEndpoint } from '../stun/client.js';
import { endpointAddressProblem, lanEndpoints, unmapIp } from './endpoints.js';

export interface EndpointDiscoveryInit {
  /** The WireGuard listen port every candidate carries. */
  readonly listenPort: number;
  /** STUN servers, HOST:PORT, tried in order. Empty: no STUN candidate. */
  readonly stunServers?: readonly string[];
  /** -listen-addr: advertise only this address; no discovery. */
  readonly configuredIp?: string;
  /** Addresses never to advertise (the node's own mesh IP). */
  readonly exclude?: (ip: string) => boolean;
  /** How long a STUN answer is reused before asking again. */
  readonly stunRefreshMs?: number;
  readonly logger?: Logger;
  /** This machine's interfaces; default os.networkInterfaces (tests count the reads). */
  readonly interfaces?: () => NodeJS.Dict<NetworkInterfaceInfo[]>;
}

/**
 * This node's endpoint candidates: its LAN addresses and, via STUN, its public address (paired
 * with its WireGuard port: a port-preserving NAT maps it unchanged, and the bootstrap's observed
 * endpoint covers the NATs that do not). Also tells whether the node is behind NAT.
 */
export class EndpointDiscovery {
  private stunIp: string | undefined;
  private stunAt = 0;
  private stunFailedLogged = false;
  private stunInFlight: Promise<void> | undefined;
  /** This machine's own addresses as the last candidates() read them (behindNat compares STUN's answer with them). */
  private ownAddresses: ReadonlySet<string> | undefined;
  private readonly logger: Logger;

  constructor(private readonly init: EndpointDiscoveryInit) {
    this.logger = init.logger ?? silentLogger();
  }

  /** Behind NAT: STUN saw an address that is none of this machine's own. */
  get behindNat(): boolean {
    if (!this.stunIp) return false;
    // The addresses candidates() read just before (every heartbeat asks for candidates, then for
    // this): the interfaces are read once per heartbeat, not twice.
    const own = this.ownAddresses ?? addressesOf(this.readInterfaces());
    return !own.has(this.stunIp);
  }

  async candidates(): Promise<Endpoint[]> {
    const port = this.init.listenPort;
    if (this.init.configuredIp) return [{ ip: this.init.configuredIp, port, kind: 'ENDPOINT_KIND_CONFIGURED' }];
    const exclude = this.init.exclude ?? (() => false);
    const interfaces = this.readInterfaces();
    this.ownAddresses = addressesOf(interfaces);
    const out = lanEndpoints(port, exclude, interfaces);
    await this.refreshStun();
    // A STUN server on this host or inside the mesh answers with an address peers cannot use,
    // and the bootstrap would refuse the whole Join or Update for it.
    const stunIp = this.stunIp;
    const usable = stunIp !== undefined && endpointAddressProblem(stunIp) === undefined && !exclude(stunIp) && !exclude(unmapIp(stunIp));
    if (usable && !out.some((e) => e.ip === stunIp)) out.push({ ip: stunIp, port, kind: 'ENDPOINT_KIND_STUN' });
    return out;
  }

  /**
   * Asks the STUN servers now, so that the next candidates() has the answer at hand (a node starts
   * this before its key and agent are made, and its join's request then waits for nothing).
   */
  prefetch(): void {
    if (!this.init.configuredIp) void this.refreshStun();
  }

  private readInterfaces(): NodeJS.Dict<NetworkInterfaceInfo[]> {
    return (this.init.interfaces ?? networkInterfaces)();
  }

  private refreshStun(): Promise<void> {
    // One query at a time: a second caller waits for the answer of the one in flight.
    if (this.stunInFlight) return this.stunInFlight;
    const servers = this.init.stunServers ?? [];
    if (servers.length === 0 || Date.now() - this.stunAt < (this.init.stunRefreshMs ?? 60_000)) return Promise.resolve();
    this.stunAt = Date.now();
    this.stunInFlight = this.queryStun([...servers]).finally(() => (this.stunInFlight = undefined));
    return this.stunInFlight;
  }

  private async queryStun(servers: string[]): Promise<void> {
    try {
      const found = await discoverPublicEndpoint(servers, { logger: this.logger });
      if (found.ip !== this.stunIp) this.logger.info('public address discovered by STUN', { ip: found.ip, server: found.server });
      this.stunIp = found.ip;
      this.stunFailedLogged = false;
    } catch (err) {
      // Keep the last answer; a STUN outage must not drop a working candidate.
      if (!this.stunFailedLogged) this.logger.warn('STUN discovery failed; advertising LAN addresses only', { err: errorMessage(err) });
      this.stunFailedLogged = true;
    }
  }
}

function addressesOf(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): Set<string> {
  const out = new Set<string>();
  for (const addrs of Object.values(interfaces)) for (const a of addrs ?? []) out.add(a.address);
  return out;
}
