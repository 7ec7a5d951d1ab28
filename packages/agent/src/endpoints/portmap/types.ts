import type { Logger } from '../../log.js';

/** A mapping as the router granted it. */
export interface Mapping {
  /** The router's external (public) IPv4 address. */
  readonly externalIp: string;
  readonly externalPort: number;
  /** Seconds the router keeps it; it is renewed at half of this. */
  readonly lifetimeSec: number;
}

export type PortMapProtocolName = 'PCP' | 'NAT-PMP' | 'UPnP';

/** One protocol's client for one gateway and one internal port. */
export interface PortMapProtocol {
  readonly name: PortMapProtocolName;
  /** Maps the port, or renews the mapping made before; rejects with PortMappingFailed. */
  map(signal: AbortSignal): Promise<Mapping>;
  /** Deletes the mapping made; resolves once the router confirmed it is gone. */
  unmap(signal: AbortSignal): Promise<void>;
}

/** What every protocol client is built with. */
export interface PortMapContext {
  /** The default gateway's IPv4 address: the only address answers are taken from. */
  readonly gateway: string;
  /** This host's address toward the gateway (PCP's client address, UPnP's internal client). */
  readonly localIp: string;
  /** The WireGuard listen port to map (UDP). */
  readonly internalPort: number;
  /** The external port asked for (the router may give another); see PortMapperInit.externalPort. */
  readonly suggestedExternalPort: number;
  /** Lifetime asked for, seconds. */
  readonly lifetimeSec: number;
  readonly logger: Logger;
}
