import type { Netmap } from '../netmap/netmap.js';
import { errorMessage, silentLogger, type Logger } from '../log.js';
import { applyOpsToPeers, diffWgConfig, peerOps, wgConfigFromNetmap, wgPeerFor, type WgConfigOptions } from './config.js';
import type { WgDriver, WgOp, WgPeerState } from './types.js';
import { Coalescer } from '../coalescer.js';
import { defaultTimers, type Timers } from '../timers.js';
import { AGENT_DEFAULTS } from '../constants.js';

export interface ReconcilerStats {
  fullPasses: number;
  fastPasses: number;
  ops: number;
  /** Peers the device refused at their last attempt (e.g. an endpoint `wg` cannot resolve), being retried. */
  failingPeers: number;
}

/** How a peer the device refused is retried; defaults in AGENT_DEFAULTS. */
export interface ReconcilerRetryInit {
  readonly timers?: Timers;
  /** The first retry comes this long after the failure; each further one waits twice as long. */
  readonly initialMs?: number;
  readonly maxMs?: number;
}

/** One peer's share of a pass: a node's ops (fast pass) or one public key's (full pass). */
interface PeerOps {
  /** The node's name; the public key for a peer no node has (a stale one being removed). */
  readonly id: string;
  readonly node?: string;
  readonly publicKey: string;
  readonly ops: readonly WgOp[];
}

interface FailingPeer {
  readonly node?: string;
  readonly publicKey: string;
  /** The last error, logged once: a peer failing the same way again is not logged again. */
  err: string;
  attempts: number;
  timer: unknown;
}

/**
 * Keeps a WireGuard device equal to a netmap.
 *
 * A full pass reads the device back (`wg show dump`), diffs it against the whole netmap and
 * applies the difference. The agent asks for one at start and re-join, on a snapshot, when NAT
 * status changes keepalive, after wireguard-go was restarted, and every 30 s ±20 % to undo drift;
 * the reconciler itself after a failed pass. Between full passes, a membership delta touches only
 * the peers it names, so one change costs O(1) work and O(1) driver operations whatever the mesh
 * size: it reads nothing back.
 *
 * Both passes decide each peer with the same rule (`peerOps`), given the device's state of that
 * peer. A full pass has it fresh from the read. The fast pass trusts `device`: the peers as the
 * last full pass read them, with every op applied since (changed as `wg set` changes them,
 * `peerAfterOp`). What that misses:
 * - Handshakes and roaming since the last full read. A handshake the last read saw that is still
 *   recent enough makes a session live for sure (handshake times only grow, and a peer removed
 *   here starts again from none), so its endpoint is kept, wherever it roamed to since. But a
 *   session that began after the last full read looks dead: a changed desired endpoint for that
 *   peer is applied, replacing the one WireGuard found, as for a peer without a session.
 * - Changes made to the device by anyone else (`wg set` by hand, a re-created device): undone by
 *   the next full pass.
 *
 * One bad peer never stops the others: when the device refuses a batch, its peers are applied one
 * by one, the ones refused are logged and retried with backoff, and the rest are configured.
 */
export class Reconciler {
  readonly stats: ReconcilerStats = { fullPasses: 0, fastPasses: 0, ops: 0, failingPeers: 0 };
  /** The device's peers by public key, as the fast pass trusts them to be (see above). */
  private device = new Map<string, WgPeerState>();
  /** The public key each node's peer was last configured under, by node name: a key change or removal removes it. */
  private keyOf = new Map<string, string>();
  private readonly dirty = new Set<string>();
  /** Nodes whose peer is to be removed and configured again (restartPeer). */
  private readonly restarts = new Set<string>();
  private needFull = true;
  private readonly passes: Coalescer;
  private scheduled = false;
  private closed = false;
  private readonly logger: Logger;
  /** Peers the device refused at their last attempt, by PeerOps id. */
  private readonly failing = new Map<string, FailingPeer>();
  private readonly timers: Timers;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;

  constructor(
    private readonly driver: WgDriver,
    private readonly netmap: () => Netmap,
    private readonly options: WgConfigOptions = {},
    logger?: Logger,
    onPass: () => void = () => {},
    retry: ReconcilerRetryInit = {},
  ) {
    this.logger = logger ?? silentLogger();
    this.timers = retry.timers ?? defaultTimers;
    this.retryInitialMs = retry.initialMs ?? AGENT_DEFAULTS.peerRetryInitialMs;
    this.retryMaxMs = retry.maxMs ?? AGENT_DEFAULTS.peerRetryMaxMs;
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

  /**
   * A batch of membership changes the caller has already gathered (the Watch messages of one turn
   * of the event loop, see NetmapApplier): the named nodes (every peer when `full`) are passed now,
   * with no deferral of its own. During a pass, one more follows it.
   */
  passNow(changed: Iterable<string>, full = false): void {
    for (const name of changed) this.dirty.add(name);
    if (full) this.needFull = true;
    void this.passes.run();
  }

  /**
   * Removes the named node's peer from the device and configures it again, at the next pass:
   * WireGuard then starts that peer's handshake state afresh (see HandshakeGuard). Resolves once
   * done (or given up: a peer the node no longer has, or under another key by now).
   */
  restartPeer(name: string): Promise<void> {
    this.restarts.add(name);
    return this.passes.run();
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
    for (const entry of this.failing.values()) this.timers.clearTimeout(entry.timer);
  }

  /** Coalesces: requests made in one turn of the event loop cost one pass. */
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
      if (this.restarts.size > 0) await this.restartPass();
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
    const ops = diffWgConfig(actual, desired, Date.now());
    const nodeByKey = new Map<string, string>();
    for (const node of netmap.nodes.values()) if (node.name !== netmap.selfName) nodeByKey.set(node.publicKey, node.name);
    // The diff touches each public key once: a key is a peer.
    const groups: PeerOps[] = ops.map((op) => {
      const publicKey = op.op === 'set-peer' ? op.peer.publicKey : op.publicKey;
      const node = op.op === 'set-peer' ? nodeByKey.get(publicKey) : undefined;
      return { id: node ?? publicKey, ...(node ? { node } : {}), publicKey, ops: [op] };
    });
    const failed = await this.applyPeers(groups);
    this.stats.fullPasses++;
    this.stats.ops += ops.length;
    // The device as read, plus what it took; a refused peer is as the device had it (if at all),
    // so its retry sees what is left to do.
    this.device = new Map(actual.peers.map((p) => [p.publicKey, p]));
    for (const group of groups) if (!failed.has(group.id)) applyOpsToPeers(this.device, group.ops);
    this.keyOf = new Map();
    for (const peer of desired.peers) {
      const node = nodeByKey.get(peer.publicKey);
      if (node) this.keyOf.set(node, peer.publicKey);
    }
    // A full pass settles every peer: the ones it did not fail are no longer failing.
    for (const id of [...this.failing.keys()]) if (!failed.has(id)) this.succeeded(id);
    this.recordFailures(groups, failed);
    if (ops.length > 0) this.logger.debug('wireguard reconciled (full)', { ops: ops.length, failed: failed.size, revision: netmap.revision });
  }

  /** The restarts asked for: each peer that is on the device as configured goes and comes back in one batch. */
  private async restartPass(): Promise<void> {
    const netmap = this.netmap();
    const ops: WgOp[] = [];
    for (const name of this.restarts) {
      const node = name === netmap.selfName ? undefined : netmap.nodes.get(name);
      const desired = node ? wgPeerFor(node, this.options) : undefined;
      if (!desired || this.keyOf.get(name) !== desired.publicKey || !this.device.has(desired.publicKey)) continue;
      ops.push({ op: 'remove-peer', publicKey: desired.publicKey }, { op: 'set-peer', peer: desired });
    }
    this.restarts.clear();
    if (ops.length === 0) return;
    try {
      await this.driver.apply(ops);
      applyOpsToPeers(this.device, ops);
      this.stats.ops += ops.length;
    } catch (err) {
      // The peers may be gone or half there: a full pass reads back what the device holds.
      this.needFull = true;
      throw err;
    }
  }

  private async fastPass(): Promise<void> {
    const netmap = this.netmap();
    const now = Date.now();
    const groups: PeerOps[] = [];
    const next = new Map<string, string | undefined>();
    for (const name of this.dirty) {
      const node = name === netmap.selfName ? undefined : netmap.nodes.get(name);
      const desired = node ? wgPeerFor(node, this.options) : undefined;
      const oldKey = this.keyOf.get(name);
      const ops: WgOp[] = [];
      // Under a new key (or none) the node's old peer goes; then the same rule as a full pass.
      if (oldKey !== undefined && oldKey !== desired?.publicKey) ops.push(...peerOps(this.device.get(oldKey), undefined, now));
      if (desired) ops.push(...peerOps(this.device.get(desired.publicKey), desired, now));
      next.set(name, desired?.publicKey);
      if (ops.length > 0) groups.push({ id: name, node: name, publicKey: desired?.publicKey ?? oldKey!, ops });
    }
    this.dirty.clear();
    const failed = await this.applyPeers(groups);
    for (const group of groups) if (!failed.has(group.id)) applyOpsToPeers(this.device, group.ops);
    for (const [name, key] of next) {
      // A refused peer's ops were not applied: the device keeps what it had.
      if (failed.has(name)) continue;
      if (key !== undefined) this.keyOf.set(name, key);
      else this.keyOf.delete(name);
      this.succeeded(name);
    }
    this.recordFailures(groups, failed);
    const ops = groups.reduce((n, g) => n + g.ops.length, 0);
    this.stats.fastPasses++;
    this.stats.ops += ops;
    if (ops > 0) this.logger.debug('wireguard reconciled', { ops, failed: failed.size, revision: netmap.revision });
  }

  /**
   * Applies every peer's ops and returns the errors of the peers the device refused, by id. The
   * peers not failing before go in one batch; only when the device refuses it are they applied one
   * by one (one `wg set` each). Peers already failing always go one by one, so a bad peer costs
   * one extra command per pass rather than a batch of them. Rejects when the device itself is
   * gone (it cannot be read): then no peer is to blame.
   */
  private async applyPeers(groups: readonly PeerOps[]): Promise<Map<string, unknown>> {
    const failed = new Map<string, unknown>();
    const suspects = groups.filter((g) => this.failing.has(g.id));
    const rest = groups.filter((g) => !this.failing.has(g.id));
    if (rest.length > 0) {
      try {
        await this.driver.apply(rest.flatMap((g) => g.ops));
      } catch (err) {
        await this.driver.read().catch(() => {
          throw err;
        });
        await this.applyEach(rest, failed);
      }
    }
    await this.applyEach(suspects, failed);
    return failed;
  }

  private async applyEach(groups: readonly PeerOps[], failed: Map<string, unknown>): Promise<void> {
    for (const group of groups) {
      try {
        await this.driver.apply(group.ops);
      } catch (err) {
        failed.set(group.id, err);
      }
    }
  }

  /** Logs each refused peer (once per distinct error) and schedules its retry. */
  private recordFailures(groups: readonly PeerOps[], failed: ReadonlyMap<string, unknown>): void {
    if (failed.size === 0) return;
    for (const group of groups) {
      const err = failed.get(group.id);
      if (err === undefined) continue;
      let entry = this.failing.get(group.id);
      if (!entry) {
        entry = { ...(group.node ? { node: group.node } : {}), publicKey: group.publicKey, err: '', attempts: 0, timer: undefined };
        this.failing.set(group.id, entry);
      }
      this.timers.clearTimeout(entry.timer);
      entry.attempts++;
      const delay = Math.min(this.retryInitialMs * 2 ** (entry.attempts - 1), this.retryMaxMs);
      const message = errorMessage(err);
      if (message !== entry.err) {
        entry.err = message;
        this.logger.warn('WireGuard refused a peer; the other peers are configured, this one is retried', {
          node: group.node, publicKey: group.publicKey, err: message, retryInMs: delay,
        });
      }
      entry.timer = this.timers.setTimeout(() => this.retry(group.id), delay);
    }
    this.stats.failingPeers = this.failing.size;
  }

  private retry(id: string): void {
    const entry = this.failing.get(id);
    if (!entry || this.closed) return;
    entry.timer = undefined;
    // A node's peer is retried on its own; a stale key only a full pass knows about.
    if (entry.node) this.changed(entry.node);
    else this.requestFull();
  }

  private succeeded(id: string): void {
    const entry = this.failing.get(id);
    if (!entry) return;
    this.timers.clearTimeout(entry.timer);
    this.failing.delete(id);
    this.stats.failingPeers = this.failing.size;
    this.logger.info('a peer WireGuard refused before is settled', { node: entry.node, publicKey: entry.publicKey, attempts: entry.attempts });
  }
}
