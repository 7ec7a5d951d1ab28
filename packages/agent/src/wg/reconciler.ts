import type { Netmap } from '../netmap/netmap.js';
import { errorMessage, silentLogger, type Logger } from '../log.js';
import { diffWgConfig, samePeer, wgConfigFromNetmap, wgPeerFor, type WgConfigOptions } from './config.js';
import type { WgDriver, WgOp, WgPeerConfig } from './types.js';
import { Coalescer } from '../coalescer.js';

export interface ReconcilerStats {
  fullPasses: number;
  fastPasses: number;
  ops: number;
}

/**
 * Keeps a WireGuard device equal to a netmap.
 *
 * A full pass reads the device back (`wg show dump`), diffs it against the whole netmap and
 * applies the difference: at start, after a snapshot, after the device was re-created, after an
 * error, and periodically to undo drift. Between full passes, a membership delta touches only the
 * peers it names: their desired config is compared with what the device held after the last
 * pass, so one change costs O(1) work and O(1) driver operations whatever the mesh size.
 */
export class Reconciler {
  readonly stats: ReconcilerStats = { fullPasses: 0, fastPasses: 0, ops: 0 };
  /** The device's peers as of the last pass, by node name. */
  private applied = new Map<string, WgPeerConfig>();
  private readonly dirty = new Set<string>();
  private needFull = true;
  private readonly passes: Coalescer;
  private scheduled = false;
  private closed = false;
  private readonly logger: Logger;

  constructor(
    private readonly driver: WgDriver,
    private readonly netmap: () => Netmap,
    private readonly options: WgConfigOptions = {},
    logger?: Logger,
    onPass: () => void = () => {},
  ) {
    this.logger = logger ?? silentLogger();
    this.passes = new Coalescer(() => this.pass(), () => {
      if (!this.closed) onPass();
    });
  }

  /** Re-read the device and reconcile everything, soon. */
  requestFull(): void {
    this.needFull = true;
    this.schedule();
  }

  /** The named nodes changed (upserted or removed), soon. */
  changed(name: string): void {
    this.dirty.add(name);
    this.schedule();
  }

  /** A full pass now; resolves when the device matches the netmap (or the pass failed). */
  full(): Promise<void> {
    this.needFull = true;
    return this.passes.run();
  }

  /** Waits for any pass in progress. */
  idle(): Promise<void> {
    return this.passes.idle();
  }

  close(): void {
    this.closed = true;
  }

  /** Coalesces: events received in one turn of the event loop cost one pass. */
  private schedule(): void {
    // During a pass, one more follows it; otherwise the rest of this turn's events join the next.
    if (this.passes.busy) {
      void this.passes.run();
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.passes.run();
    });
  }

  /** One pass, full or fast as needed; never rejects. */
  private async pass(): Promise<void> {
    if (this.closed) return;
    try {
      if (this.needFull) await this.fullPass();
      else if (this.dirty.size > 0) await this.fastPass();
    } catch (err) {
      // What the device holds is now uncertain: the next pass reads it back.
      this.needFull = true;
      this.logger.error('could not configure WireGuard; will retry on the next change', { err: errorMessage(err) });
    }
  }

  private async fullPass(): Promise<void> {
    this.needFull = false;
    this.dirty.clear();
    const netmap = this.netmap();
    const desired = wgConfigFromNetmap(netmap, this.options);
    const actual = await this.driver.read();
    const ops = diffWgConfig(actual, desired);
    if (ops.length > 0) await this.driver.apply(ops);
    this.stats.fullPasses++;
    this.stats.ops += ops.length;
    const byKey = new Map(desired.peers.map((p) => [p.publicKey, p]));
    this.applied = new Map();
    for (const node of netmap.nodes.values()) {
      const peer = byKey.get(node.publicKey);
      if (peer && node.name !== netmap.selfName) this.applied.set(node.name, peer);
    }
    if (ops.length > 0) this.logger.debug('wireguard reconciled (full)', { ops: ops.length, revision: netmap.revision });
  }

  private async fastPass(): Promise<void> {
    const netmap = this.netmap();
    const ops: WgOp[] = [];
    const next = new Map<string, WgPeerConfig | undefined>();
    for (const name of this.dirty) {
      const node = name === netmap.selfName ? undefined : netmap.nodes.get(name);
      const desired = node ? wgPeerFor(node, this.options) : undefined;
      const old = this.applied.get(name);
      if (old && (!desired || old.publicKey !== desired.publicKey)) ops.push({ op: 'remove-peer', publicKey: old.publicKey });
      if (desired && (!old || old.publicKey !== desired.publicKey || !samePeer(old, desired))) ops.push({ op: 'set-peer', peer: desired });
      next.set(name, desired);
    }
    this.dirty.clear();
    if (ops.length > 0) await this.driver.apply(ops);
    for (const [name, peer] of next) {
      if (peer) this.applied.set(name, peer);
      else this.applied.delete(name);
    }
    this.stats.fastPasses++;
    this.stats.ops += ops.length;
    if (ops.length > 0) this.logger.debug('wireguard reconciled', { ops: ops.length, revision: netmap.revision });
  }
}
