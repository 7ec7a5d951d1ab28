/** What a WireGuard peer should look like. Keys are base64, endpoints "ip:port" ("[v6]:port"). */
export interface WgPeerConfig {
  readonly publicKey: string;
  readonly endpoint?: string;
  readonly allowedIps: readonly string[];
  /** Seconds; 0 or absent means off. */
  readonly persistentKeepalive?: number;
  /**
   * The pair's preshared key, base64 (bootstrap -psk). Absent in a set-peer: the device keeps the
   * one it has (as for an endpoint); read back: the device has none. Never logged or shown.
   */
  readonly presharedKey?: string;
}

/** A peer as read back from the device. */
export interface WgPeerState extends WgPeerConfig {
  /** Unix ms of the latest handshake, 0 if none. */
  readonly latestHandshakeMs: number;
  readonly rxBytes: number;
  readonly txBytes: number;
}

/** How the interface itself is set up (once, by `up`). */
export interface WgInterfaceConfig {
  readonly name: string;
  readonly privateKey: string;
  readonly listenPort: number;
  /**
   * The node's mesh address with the mesh prefix length, e.g. "198.18.0.2/16". Absent: the
   * interface comes up without one, and `setAddress` gives it one later (a joining node brings
   * its device up while its Join is answered, which is where the address comes from).
   */
  readonly address?: string;
  readonly mtu?: number;
}

export interface WgDeviceState {
  readonly name: string;
  readonly publicKey: string;
  readonly listenPort: number;
  readonly peers: readonly WgPeerState[];
}

/** One change to a device's peers. Reconcile emits these; drivers apply them. */
export type WgOp =
  | { readonly op: 'set-peer'; readonly peer: WgPeerConfig }
  | { readonly op: 'remove-peer'; readonly publicKey: string };

export type WgBackendKind = 'kernel' | 'userspace' | 'memory';

/**
 * A WireGuard device. `read` returns the device's actual state, never a remembered copy: the
 * reconciler's full passes diff against it. Its fast passes do not read (see Reconciler for what
 * they trust instead).
 */
export interface WgDriver {
  readonly kind: WgBackendKind;
  /**
   * Its read() tells each peer's latest handshake, as a real device does. A driver that cannot is
   * never asked to configure a silent peer afresh (HandshakeGuard).
   */
  readonly reportsHandshakes?: boolean;
  readonly name: string;
  /** Create (or take over) the interface, set key, port and address (when given), and bring it up. */
  up(config: WgInterfaceConfig): Promise<void>;
  /** Make `address` the interface's only global address (after an `up` without one). */
  setAddress(address: string): Promise<void>;
  read(): Promise<WgDeviceState>;
  apply(ops: readonly WgOp[]): Promise<void>;
  /** Switch the interface to another private key (key rotation); peers and port stay. */
  setPrivateKey(privateKey: string): Promise<void>;
  /** Remove the interface (unless keepInterface) and stop anything the driver started. */
  close(options?: { keepInterface?: boolean }): Promise<void>;
}

/** Drivers are made by a factory passed in by the caller, never picked by a global. */
export type WgDriverFactory = (interfaceName: string) => WgDriver | Promise<WgDriver>;
