import type { FloodOp } from './l2.js';
import type { L2DeviceConfig, L2Driver } from './types.js';
import { L2CommandFailed } from '../errors.js';

/**
 * L2 devices in memory, for unit tests of the reconcile logic: the flood list as a set, the MTUs
 * of other interfaces as given. `ops` records every op applied, so a test can count them.
 */
export class MemoryL2Driver implements L2Driver {
  readonly kind = 'memory' as const;
  config: L2DeviceConfig | undefined;
  readonly flood = new Set<string>();
  readonly ops: FloodOp[] = [];
  /** How many times the flood list was read back. */
  reads = 0;
  closed = false;

  constructor(private readonly mtus: Readonly<Record<string, number>> = {}) {}

  async mtuOf(iface: string): Promise<number> {
    return this.mtus[iface] ?? 1420;
  }

  async up(config: L2DeviceConfig): Promise<void> {
    this.config = config;
    this.flood.clear();
    this.closed = false;
  }

  async readFlood(): Promise<string[]> {
    this.reads++;
    return [...this.flood];
  }

  async apply(ops: readonly FloodOp[]): Promise<void> {
    if (!this.config) throw new L2CommandFailed('bridge fdb', 'the L2 devices are not up');
    for (const op of ops) {
      if (op.op === 'add') this.flood.add(op.dst);
      else this.flood.delete(op.dst);
      this.ops.push(op);
    }
  }

  async close(options: { keepInterface?: boolean } = {}): Promise<void> {
    this.closed = true;
    if (!options.keepInterface) {
      this.config = undefined;
      this.flood.clear();
    }
  }
}
