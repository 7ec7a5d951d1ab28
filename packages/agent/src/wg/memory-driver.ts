import { isIP } from 'node:net';
import type { WgDeviceState, WgDriver, WgInterfaceConfig, WgOp, WgPeerState } from './types.js';
import { publicKeyFromPrivate } from './keys.js';
import { InterfaceNotUp, InvalidWgConfig } from '../errors.js';
import { applyOpsToPeers } from './config.js';
import { checkInterfaceConfig } from './wg-tool.js';

/** One in-memory WireGuard interface. */
interface MemoryDevice {
  config: WgInterfaceConfig;
  publicKey: string;
  readonly peers: Map<string, WgPeerState>;
}

/**
 * The interfaces of one in-memory "host", by name: what a kernel is to the real drivers. Drivers
 * given the same host see the same interfaces, so one closed with keepInterface is taken over,
 * peers and all, by the next driver for that name (as the kernel driver takes over the interface
 * an earlier run left). A driver made without one gets a host of its own.
 */
export class MemoryWgHost {
  private readonly devices = new Map<string, MemoryDevice>();

  /** Whether an interface of that name exists. */
  has(name: string): boolean {
    return this.devices.has(name);
  }

  /** @internal for MemoryWgDriver */
  get(name: string): MemoryDevice | undefined {
    return this.devices.get(name);
  }

  /** @internal for MemoryWgDriver */
  set(name: string, device: MemoryDevice): void {
    this.devices.set(name, device);
  }

  /** @internal for MemoryWgDriver */
  delete(name: string): void {
    this.devices.delete(name);
  }
}

export interface MemoryWgDriverInit {
  /** false keeps only the count, for simulations of thousands of nodes in one process. */
  readonly record?: boolean;
  /** The interfaces this driver's lives among; default: a host of its own. */
  readonly host?: MemoryWgHost;
}

/**
 * An in-memory WireGuard device for unit tests and scale simulations: it keeps the peer table
 * and records every operation it is asked to apply, so tests can count driver work. It behaves
 * as the real drivers do where the driver compliance suite can tell (which configs `up` refuses,
 * what `wg set` keeps, that a closed device is gone, keepInterface as the kernel driver has it).
 */
export class MemoryWgDriver implements WgDriver {
  readonly kind = 'memory' as const;
  /** Handshakes happen here only through simulateHandshake() (a test hook): a test that uses it may say so. */
  reportsHandshakes = false;
  /** Every operation applied, in order (empty when constructed with record: false). */
  readonly operations: WgOp[] = [];
  /** How many operations were applied, recorded or not. */
  operationCount = 0;
  private readonly host: MemoryWgHost;

  constructor(
    readonly name: string,
    private readonly options: MemoryWgDriverInit = {},
  ) {
    this.host = options.host ?? new MemoryWgHost();
  }

  /** Whether the interface exists (made by this driver or kept by an earlier one). */
  get isUp(): boolean {
    return this.host.has(this.name);
  }

  get interfaceConfig(): WgInterfaceConfig | undefined {
    return this.host.get(this.name)?.config;
  }

  async up(config: WgInterfaceConfig): Promise<void> {
    if (config.name !== this.name) throw new InvalidWgConfig(`driver for ${this.name} was given config for ${config.name}`);
    checkInterfaceConfig(config);
    const publicKey = publicKeyFromPrivate(config.privateKey);
    const existing = this.host.get(this.name);
    // An interface an earlier run kept is taken over with its peers (and, until told another, its
    // address), as the kernel driver does.
    const address = config.address ?? existing?.config.address;
    if (existing) Object.assign(existing, { config: address !== undefined ? { ...config, address } : config, publicKey });
    else this.host.set(this.name, { config, publicKey, peers: new Map() });
  }

  async setAddress(address: string): Promise<void> {
    const device = this.device();
    checkInterfaceConfig({ ...device.config, address });
    device.config = { ...device.config, address };
  }

  async setPrivateKey(privateKey: string): Promise<void> {
    const device = this.device();
    checkInterfaceConfig({ ...device.config, privateKey });
    Object.assign(device, { config: { ...device.config, privateKey }, publicKey: publicKeyFromPrivate(privateKey) });
  }

  async read(): Promise<WgDeviceState> {
    const device = this.device();
    return {
      name: this.name,
      publicKey: device.publicKey,
      listenPort: device.config.listenPort,
      peers: [...device.peers.values()],
    };
  }

  async apply(ops: readonly WgOp[]): Promise<void> {
    const device = this.device();
    // Like `wg set`, which resolves every endpoint before it changes anything: one it cannot
    // resolve fails the whole call, and the device is left as it was.
    for (const op of ops) {
      if (op.op === 'set-peer' && op.peer.endpoint !== undefined && !resolvable(op.peer.endpoint)) {
        throw new InvalidWgConfig(`peer ${op.peer.publicKey}: endpoint "${op.peer.endpoint}" cannot be resolved (Name or service not known)`);
      }
    }
    this.operationCount += ops.length;
    if (this.options.record !== false) this.operations.push(...ops);
    const owners = ownersOf(device);
    for (const op of ops) {
      const key = op.op === 'set-peer' ? op.peer.publicKey : op.publicKey;
      for (const ip of device.peers.get(key)?.allowedIps ?? []) owners.delete(ip);
      applyOpsToPeers(device.peers, [op]);
      if (op.op !== 'set-peer') continue;
      // As in WireGuard, an allowed IP belongs to one peer: given to one, it leaves any other.
      for (const ip of op.peer.allowedIps) {
        const holder = owners.get(ip);
        const held = holder === undefined ? undefined : device.peers.get(holder);
        if (held && holder !== key) device.peers.set(holder!, { ...held, allowedIps: held.allowedIps.filter((x) => x !== ip) });
        owners.set(ip, key);
      }
    }
  }

  /** Removes the interface and its peers, unless keepInterface (then the next `up` takes it over). */
  async close(options: { keepInterface?: boolean } = {}): Promise<void> {
    if (!options.keepInterface) this.host.delete(this.name);
  }

  /**
   * Test hook, which no real driver has: what a device does on its own when a handshake with a
   * peer completes, at `atMs` (default now), from `endpoint` if given (the peer roamed there, as
   * WireGuard follows a peer to the address its packets come from).
   */
  simulateHandshake(publicKey: string, options: { atMs?: number; endpoint?: string } = {}): void {
    const device = this.device();
    const peer = device.peers.get(publicKey);
    if (!peer) throw new Error(`simulateHandshake: ${this.name} has no peer ${publicKey}`);
    device.peers.set(publicKey, {
      ...peer,
      ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
      latestHandshakeMs: options.atMs ?? Date.now(),
    });
  }

  private device(): MemoryDevice {
    // Like the real drivers: an interface that is not there cannot be read or changed.
    const device = this.host.get(this.name);
    if (!device) throw new InterfaceNotUp(this.name);
    return device;
  }
}

/**
 * Whether `wg set` would resolve an endpoint, as far as an in-memory host can tell: an IP literal
 * and a port; it looks up no names, and has no interfaces for an IPv6 zone to name (only a
 * numeric zone passes, as an interface index does).
 */
function resolvable(endpoint: string): boolean {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(endpoint);
  if (!match) return false;
  if (match[2] !== undefined) return isIP(match[2]) === 4;
  const [ip = '', zone] = match[1]!.split('%', 2);
  return isIP(ip) !== 0 && (zone === undefined || /^\d+$/.test(zone));
}

/** Which peer holds each allowed IP, per device: a set takes IPs from their holder in O(its IPs), not O(peers). */
const ownerIndexes = new WeakMap<MemoryDevice, Map<string, string>>();

/** The device's allowed-IP holders, built once from its peers. */
function ownersOf(device: MemoryDevice): Map<string, string> {
  let owners = ownerIndexes.get(device);
  if (!owners) {
    owners = new Map();
    for (const [key, peer] of device.peers) for (const ip of peer.allowedIps) owners.set(ip, key);
    ownerIndexes.set(device, owners);
  }
  return owners;
}
