import { isIP } from 'node:net';
import type { WgDeviceState, WgDriver, WgInterfaceConfig, WgOp, WgPeerState } from './types.js';
import { publicKeyFromPrivate } from './keys.js';
import { InvalidWgConfig } from './errors.js';

/**
 * An in-memory WireGuard device for unit tests and scale simulations: it keeps the peer table
 * and records every operation it is asked to apply, so tests can count driver work.
 */
export class MemoryWgDriver implements WgDriver {
  readonly kind = 'memory' as const;
  /** Every operation applied, in order (empty when constructed with record: false). */
  readonly operations: WgOp[] = [];
  /** How many operations were applied, recorded or not. */
  operationCount = 0;
  private readonly peers = new Map<string, WgPeerState>();
  private config: WgInterfaceConfig | undefined;
  private publicKey = '';
  closed = false;

  /** record: false keeps only the count, for simulations of thousands of nodes in one process. */
  constructor(readonly name: string, private readonly options: { record?: boolean } = {}) {}

  get isUp(): boolean {
    return this.config !== undefined && !this.closed;
  }

  get interfaceConfig(): WgInterfaceConfig | undefined {
    return this.config;
  }

  async up(config: WgInterfaceConfig): Promise<void> {
    this.config = config;
    this.publicKey = publicKeyFromPrivate(config.privateKey);
    this.closed = false;
  }

  async read(): Promise<WgDeviceState> {
    // Like the real drivers: a closed device cannot be read.
    if (!this.config || this.closed) throw new Error(`interface ${this.name} is not up`);
    return {
      name: this.name,
      publicKey: this.publicKey,
      listenPort: this.config.listenPort,
      peers: [...this.peers.values()],
    };
  }

  async apply(ops: readonly WgOp[]): Promise<void> {
    if (!this.config) throw new Error(`interface ${this.name} is not up`);
    // Like `wg set`, which resolves every endpoint before it changes anything: one it cannot
    // resolve fails the whole call, and the device is left as it was.
    for (const op of ops) {
      if (op.op === 'set-peer' && op.peer.endpoint !== undefined && !resolvable(op.peer.endpoint)) {
        throw new InvalidWgConfig(`peer ${op.peer.publicKey}: endpoint "${op.peer.endpoint}" cannot be resolved (Name or service not known)`);
      }
    }
    for (const op of ops) {
      this.operationCount++;
      if (this.options.record !== false) this.operations.push(op);
      if (op.op === 'remove-peer') {
        this.peers.delete(op.publicKey);
      } else {
        const previous = this.peers.get(op.peer.publicKey);
        this.peers.set(op.peer.publicKey, {
          ...op.peer,
          latestHandshakeMs: previous?.latestHandshakeMs ?? 0,
          rxBytes: previous?.rxBytes ?? 0,
          txBytes: previous?.txBytes ?? 0,
        });
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.peers.clear();
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
