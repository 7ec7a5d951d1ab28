/**
 * The port mapper: asks the default gateway to forward the WireGuard UDP port, with PCP, then
 * NAT-PMP, then UPnP IGD, all in the background. Why this order: PCP and NAT-PMP cost one
 * datagram each and share the gateway's port 5351; a NAT-PMP-only router answers a PCP request at
 * once with "unsupported version" (RFC 6887 §9), so PCP first costs such a router one round trip,
 * while UPnP needs a multicast search, an HTTP fetch and several SOAP calls. The mapping held is
 * renewed at half its lifetime (re-made from scratch when the router forgot it or the renewal
 * fails), reported as an ENDPOINT_KIND_MAPPED candidate, and deleted on stop. Nothing here ever
 * throws into the node: a router that answers nothing is logged once and asked again rarely.
 *
 * Checked by hand against Debian's miniupnpd 2.3.1 (iptables flavour) in network namespaces, each
 * protocol alone: mapped, renewed, and on stop its DNAT rule gone from the MINIUPNPD chain. Its
 * PCP grants at least 120 s whatever is asked; UPnP was found by multicast SSDP.
 */
import { isIPv4 } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { Endpoint } from '../../proto/index.js';
import { PortMappingFailed } from '../../errors.js';
import { errorMessage, silentLogger, type Logger } from '../../log.js';
import { defaultTimers, type Timers } from '../../timers.js';
import { formatEndpoint } from '../endpoints.js';
import { defaultGateway, localAddressToward } from './gateway.js';
import { NatPmpClient } from './natpmp.js';
import { PcpClient } from './pcp.js';
import { UpnpClient } from './upnp.js';
import type { Mapping, PortMapContext, PortMapProtocol, PortMapProtocolName } from './types.js';

export const PORT_MAPPING_DEFAULTS = {
  /** Lifetime asked for, seconds (RFC 6886 recommends 7200). */
  lifetimeSec: 7200,
  /** After every protocol failed, the next try comes this much later. */
  retryMs: 5 * 60_000,
  /** PCP/NAT-PMP waits before each (re)transmission: RFC 6886's 250 ms doubling, three sends. */
  retransmitMs: [250, 500, 1000] as readonly number[],
  /** How long SSDP answers are waited for. */
  searchMs: 2000,
  /** Per UPnP HTTP request. */
  httpTimeoutMs: 2000,
  /** The delete on stop gives up after this: a stopping node is never held by its router. */
  stopTimeoutMs: 2000,
  protocols: ['PCP', 'NAT-PMP', 'UPnP'] as readonly PortMapProtocolName[],
} as const;

/** Renewals come no sooner than this, and no later than this, whatever lifetime the router gave. */
const RENEW_MIN_MS = 500;
const RENEW_MAX_MS = 3_600_000;

/** A router port mapping, held in the background. */
export interface PortMapper {
  /** Begins mapping in the background; returns at once. */
  start(): void;
  /** Stops renewing and deletes the mapping held (bounded by stopTimeoutMs); never rejects. */
  stop(): Promise<void>;
  /** The mapped endpoint while a mapping is held. */
  readonly endpoint: Endpoint | undefined;
  /** Which protocol holds it. */
  readonly protocol: PortMapProtocolName | undefined;
}

export interface PortMapperComponents {
  readonly logger?: Logger;
  readonly timers?: Timers;
}

export interface PortMapperInit {
  /** The WireGuard listen port (UDP) to map. */
  readonly internalPort: number;
  /**
   * The external port to ask for; default the internal one. The node asks for another (see
   * mappedPortFor): peers send to the WireGuard port at the router before any mapping exists,
   * and the router keeps tracking those flows (refreshed by every retry) as connections to
   * itself; a DNAT rule added later never applies to them. A port nobody used yet has no such
   * history. Measured in the e2e test: with the same port, no direct path ever came up.
   */
  readonly externalPort?: number;
  /** The gateway to ask; default the IPv4 default route's (/proc/net/route), read at every attempt. */
  readonly gateway?: string;
  /** This host's address toward the gateway; default the one the kernel picks. */
  readonly localIp?: string;
  /** The gateway's PCP/NAT-PMP port; default 5351 (tests: a fake router's). */
  readonly serverPort?: number;
  /** Where SSDP M-SEARCH goes; default the multicast group 239.255.255.250:1900. */
  readonly ssdp?: { readonly host: string; readonly port: number };
  readonly protocols?: readonly PortMapProtocolName[];
  readonly lifetimeSec?: number;
  readonly retryMs?: number;
  readonly retransmitMs?: readonly number[];
  readonly searchMs?: number;
  readonly httpTimeoutMs?: number;
  readonly stopTimeoutMs?: number;
  /** External addresses never to advertise (inside the mesh). */
  readonly exclude?: (ip: string) => boolean;
  /** The mapped endpoint appeared, moved or went away. */
  readonly onChange?: () => void;
}

/**
 * Why an external address a router reported is no use to peers, or undefined: it must be a
 * unicast IPv4 address on the public side. Private and shared (100.64/10) addresses mean another
 * NAT above this router: a mapping there reaches nobody outside it. The TEST-NET ranges pass.
 */
export function externalAddressProblem(ip: string): string | undefined {
  if (!isIPv4(ip)) return 'is not an IPv4 address';
  const addr = ipaddr.IPv4.parse(ip);
  switch (addr.range()) {
    case 'unspecified': return 'is unspecified (0.0.0.0/8)';
    case 'broadcast': return 'is the broadcast address';
    case 'multicast': return 'is a multicast address';
    case 'loopback': return 'is a loopback address';
    case 'linkLocal': return 'is link-local (169.254/16)';
    case 'private': return 'is private (RFC 1918): another NAT sits above this router';
    case 'carrierGradeNat': return 'is in 100.64/10 (carrier-grade NAT): another NAT sits above this router';
    case 'reserved': return addr.match(ipaddr.IPv4.parse('240.0.0.0'), 4) ? 'is in 240/4 (reserved)' : undefined;
    default: return undefined;
  }
}

export function createPortMapper(components: PortMapperComponents, init: PortMapperInit): PortMapper {
  return new RouterPortMapper(components, init);
}

interface Held {
  readonly client: PortMapProtocol;
  readonly mapping: Mapping;
}

class RouterPortMapper implements PortMapper {
  private readonly logger: Logger;
  private readonly timers: Timers;
  private held: Held | undefined;
  private running = false;
  private stopping: Promise<void> | undefined;
  private timer: unknown;
  private work: Promise<void> = Promise.resolve();
  private readonly abort = new AbortController();
  private clients: { key: string; list: PortMapProtocol[] } | undefined;
  private unansweredLogged = false;
  private noGatewayLogged = false;

  constructor(components: PortMapperComponents, private readonly init: PortMapperInit) {
    this.logger = components.logger ?? silentLogger();
    this.timers = components.timers ?? defaultTimers;
  }

  get endpoint(): Endpoint | undefined {
    const m = this.held?.mapping;
    return m && { ip: m.externalIp, port: m.externalPort, kind: 'ENDPOINT_KIND_MAPPED' };
  }

  get protocol(): PortMapProtocolName | undefined {
    return this.held?.client.name;
  }

  start(): void {
    if (this.running || this.stopping) return;
    this.running = true;
    this.run(() => this.attempt());
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.running = false;
    this.timers.clearTimeout(this.timer);
    this.abort.abort();
    await this.work;
    const held = this.held;
    if (!held) return;
    this.held = undefined;
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.init.stopTimeoutMs ?? PORT_MAPPING_DEFAULTS.stopTimeoutMs);
    try {
      await held.client.unmap(deadline.signal);
      this.logger.info('port mapping deleted', { protocol: held.client.name, endpoint: formatEndpoint(held.mapping.externalIp, held.mapping.externalPort) });
    } catch (err) {
      this.logger.warn('port mapping not deleted; the router drops it when its lease ends', { protocol: held.client.name, lifetime: held.mapping.lifetimeSec, err: errorMessage(err) });
    } finally {
      clearTimeout(timer);
    }
  }

  /** One job at a time; a job's failure is logged, never thrown. */
  private run(job: () => Promise<void>): void {
    this.work = this.work.then(job).catch((err: unknown) => this.logger.warn('port mapping: unexpected failure', { err: errorMessage(err) }));
  }

  private later(ms: number, job: () => Promise<void>): void {
    if (!this.running) return;
    this.timers.clearTimeout(this.timer);
    this.timer = this.timers.setTimeout(() => this.run(job), ms);
  }

  /** Tries each protocol in turn; the first usable mapping is held. */
  private async attempt(): Promise<void> {
    if (!this.running) return;
    const retryMs = this.init.retryMs ?? PORT_MAPPING_DEFAULTS.retryMs;
    const clients = await this.clientsNow();
    if (!clients) {
      this.later(retryMs, () => this.attempt());
      return;
    }
    const reasons: string[] = [];
    for (const client of clients.list) {
      if (!this.running) return;
      try {
        const mapping = await client.map(this.abort.signal);
        const problem = this.problemOf(mapping.externalIp);
        if (problem) {
          reasons.push(`${client.name}: external address ${mapping.externalIp} ${problem}`);
          this.logger.warn('port mapping not advertised: the router\'s external address is no use to peers', { protocol: client.name, ip: mapping.externalIp, reason: problem });
          await client.unmap(this.abort.signal).catch(() => {});
          continue;
        }
        this.hold(client, mapping, 'port mapping made');
        return;
      } catch (err) {
        if (!this.running) return;
        reasons.push(errorMessage(err));
        this.logger.debug('port mapping attempt failed', { protocol: client.name, err: errorMessage(err) });
      }
    }
    if (!this.running) return;
    if (!this.unansweredLogged) {
      this.logger.info('no port mapping: router answers neither NAT-PMP, PCP nor UPnP', { gateway: clients.key, reasons, retryMs });
      this.unansweredLogged = true;
    }
    this.later(retryMs, () => this.attempt());
  }

  /** Renews with the protocol that made the mapping; a failure drops it and starts over. */
  private async renew(): Promise<void> {
    const held = this.held;
    if (!this.running || !held) return;
    let mapping: Mapping;
    try {
      mapping = await held.client.map(this.abort.signal);
      const problem = this.problemOf(mapping.externalIp);
      if (problem) throw new PortMappingFailed(held.client.name, `external address ${mapping.externalIp} ${problem}`);
    } catch (err) {
      if (!this.running) return;
      this.held = undefined;
      this.logger.warn('port mapping lost', { protocol: held.client.name, endpoint: formatEndpoint(held.mapping.externalIp, held.mapping.externalPort), err: errorMessage(err) });
      this.init.onChange?.();
      this.unansweredLogged = false;
      await this.attempt();
      return;
    }
    const moved = mapping.externalIp !== held.mapping.externalIp || mapping.externalPort !== held.mapping.externalPort;
    this.hold(held.client, mapping, moved ? 'port mapping changed' : 'port mapping renewed');
  }

  private hold(client: PortMapProtocol, mapping: Mapping, message: string): void {
    const before = this.held?.mapping;
    this.held = { client, mapping };
    this.unansweredLogged = false;
    this.logger.info(message, { protocol: client.name, endpoint: formatEndpoint(mapping.externalIp, mapping.externalPort), internalPort: this.init.internalPort, lifetime: mapping.lifetimeSec });
    if (!before || before.externalIp !== mapping.externalIp || before.externalPort !== mapping.externalPort) this.init.onChange?.();
    const renewMs = Math.min(Math.max(mapping.lifetimeSec * 500, RENEW_MIN_MS), RENEW_MAX_MS);
    this.later(renewMs, () => this.renew());
  }

  private problemOf(ip: string): string | undefined {
    return externalAddressProblem(ip) ?? (this.init.exclude?.(ip) ? 'is inside the mesh' : undefined);
  }

  /** The protocol clients for the current gateway (kept while it stays: PCP's nonce, ports granted). */
  private async clientsNow(): Promise<{ key: string; list: PortMapProtocol[] } | undefined> {
    const gateway = this.init.gateway ?? (await defaultGateway());
    if (!gateway) {
      if (!this.noGatewayLogged) this.logger.info('no port mapping: this host has no IPv4 default gateway');
      this.noGatewayLogged = true;
      return undefined;
    }
    this.noGatewayLogged = false;
    let localIp: string;
    try {
      localIp = this.init.localIp ?? (await localAddressToward(gateway));
    } catch (err) {
      this.logger.debug('port mapping: no route to the gateway', { gateway, err: errorMessage(err) });
      return undefined;
    }
    const key = `${gateway} from ${localIp}`;
    if (this.clients?.key === key) return this.clients;
    const d = PORT_MAPPING_DEFAULTS;
    const context: PortMapContext = { gateway, localIp, internalPort: this.init.internalPort, suggestedExternalPort: this.init.externalPort ?? this.init.internalPort, lifetimeSec: this.init.lifetimeSec ?? d.lifetimeSec, logger: this.logger };
    const udp = { ...context, retransmitMs: this.init.retransmitMs ?? d.retransmitMs, ...(this.init.serverPort !== undefined ? { serverPort: this.init.serverPort } : {}) };
    const make: Record<PortMapProtocolName, () => PortMapProtocol> = {
      PCP: () => new PcpClient(udp),
      'NAT-PMP': () => new NatPmpClient(udp),
      UPnP: () => new UpnpClient({ ...context, searchMs: this.init.searchMs ?? d.searchMs, httpTimeoutMs: this.init.httpTimeoutMs ?? d.httpTimeoutMs, ...(this.init.ssdp ? { ssdp: this.init.ssdp } : {}) }),
    };
    this.clients = { key, list: (this.init.protocols ?? d.protocols).map((name) => make[name]()) };
    return this.clients;
  }
}
