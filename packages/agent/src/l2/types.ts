import type { FloodOp } from './l2.js';

/** What the L2 devices of a node should be (the part `up` sets once). */
export interface L2DeviceConfig {
  readonly bridge: string;
  readonly vxlan: string;
  readonly vni: number;
  /** VXLAN's UDP port, between mesh IPs. */
  readonly port: number;
  /** This node's mesh IP: the VXLAN device's source. */
  readonly local: string;
  /** Of the VXLAN device and the bridge. */
  readonly mtu: number;
  /** Local interfaces to put in the bridge (-l2-bridge-if). */
  readonly bridgeIfs: readonly string[];
  /** An address for the bridge, CIDR (-l2-addr). */
  readonly address?: string;
}

export type L2DriverKind = 'ip' | 'memory';

/**
 * A node's L2 devices: a bridge with a VXLAN device in it. Like a WgDriver, `readFlood` reads the
 * device back (never a remembered copy) so a full pass can diff against it.
 */
export interface L2Driver {
  readonly kind: L2DriverKind;
  /** The MTU of an interface (the wg interface, under the VXLAN device). */
  mtuOf(iface: string): Promise<number>;
  /** Creates both devices afresh (removing any left by an earlier run), MTU, ports, address, up. No flood entries yet. */
  up(config: L2DeviceConfig): Promise<void>;
  /** The mesh IPs the VXLAN device floods to (its all-zeros entries), as the device has them. */
  readFlood(): Promise<string[]>;
  /** Adds and removes flood entries; a removed peer's learned entries go with it. */
  apply(ops: readonly FloodOp[]): Promise<void>;
  /** Removes both devices (unless keepInterface). */
  close(options?: { keepInterface?: boolean }): Promise<void>;
}
