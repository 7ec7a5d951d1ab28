import { applyDeltas, emptyNetmap, eventToDelta, netmapFromNodes, presentAndGone, type Netmap, type NetmapDelta } from './netmap.js';
import type { JoinResponse__Output, WatchEvent__Output } from '../proto/index.js';
import type { AgentStateStore } from '../state/agent-state.js';
import { Coalescer } from '../coalescer.js';
import { errorMessage, type Logger } from '../log.js';

/** What the applier hands changes on to. */
export interface NetmapApplierComponents {
  /**
   * Where changed peers go: the reconciler (Reconciler.passNow). `before` is the netmap the batch
   * was applied to (the new one is already in place), for listeners that follow changes by name.
   */
  readonly reconcile: (changed: Iterable<string>, full: boolean, before: Netmap) => void;
  /** Where the mesh IP and membership are kept for a restart without the bootstrap. */
  readonly stateStore?: AgentStateStore;
  readonly logger: Logger;
}

export interface NetmapApplierEvents {
  /**
   * Peers came, went or changed their mesh IP (the RTT prober follows): their names, or 'all'
   * after a snapshot. Names only, so that following a change costs O(1), not a pass over every peer.
   */
  peersChanged(names: ReadonlySet<string> | 'all'): void;
  /** The membership changed. */
  changed(): void;
}

/**
 * The node's membership: the join's answer, then every Watch message applied to it. Messages that
 * arrive in one turn of the event loop are applied as one batch, deferred once, and that batch
 * goes straight to one reconcile pass: Watch message → batch → netmap → reconcile pass. Every
 * change is saved (coalesced), so a restart without the bootstrap brings the peers back: a join's
 * membership whole, later changes as what they changed (AgentStateStore.append), so a change costs
 * its nodes' bytes, not the mesh's.
 */
export class NetmapApplier {
  private netmapValue: Netmap;
  private joinedValue: JoinResponse__Output | undefined;
  private pending: NetmapDelta[] = [];
  private closed = false;
  private readonly saver = new Coalescer(() => this.save());
  /** Nodes changed since the last write, by name; 'all': the next write saves the whole state. */
  private unsaved: Set<string> | 'all' = 'all';

  constructor(
    private readonly meshName: string,
    selfName: string,
    private readonly components: NetmapApplierComponents,
    private readonly events: NetmapApplierEvents,
  ) {
    this.netmapValue = emptyNetmap(selfName);
  }

  get netmap(): Netmap {
    return this.netmapValue;
  }

  /** The join's answer this membership started from (mesh IP, CIDR, creation time, secret). */
  get joined(): JoinResponse__Output | undefined {
    return this.joinedValue;
  }

  /** A join's answer (or the saved one) becomes the membership; the caller saves a new one (persist). */
  adopt(response: JoinResponse__Output): void {
    this.joinedValue = response;
    this.netmapValue = netmapFromNodes(response.nodeName, response.revision, response.nodes);
    this.unsaved = 'all';
  }

  /** One Watch message; applied with the others of this turn of the event loop. */
  receive(event: WatchEvent__Output): void {
    const delta = eventToDelta(event);
    if (!delta) return;
    this.pending.push(delta);
    if (this.pending.length === 1) setImmediate(() => this.applyPending());
  }

  /** Saves mesh IP and membership now (coalesced with any save running); resolves once written. */
  persist(): Promise<void> {
    return this.saver.run();
  }

  /** No more changes are applied; resolves once a save in progress is written. */
  async close(): Promise<void> {
    this.closed = true;
    this.pending = [];
    await this.saver.idle();
  }

  private applyPending(): void {
    const deltas = this.pending;
    this.pending = [];
    if (this.closed) return;
    const before = this.netmapValue;
    const next = applyDeltas(before, deltas);
    if (next === before) return;
    this.netmapValue = next;
    let full = false;
    const changed = new Set<string>();
    const moved = new Set<string>();
    for (const delta of deltas) {
      if (delta.kind === 'snapshot') {
        full = true;
        this.unsaved = 'all';
      } else {
        const name = delta.kind === 'upsert' ? delta.node.name : delta.name;
        changed.add(name);
        if (this.unsaved !== 'all') this.unsaved.add(name);
        if (delta.kind === 'remove' || before.nodes.get(name)?.meshIp !== delta.node.meshIp) moved.add(name);
      }
    }
    this.components.reconcile(changed, full, before);
    if (full) this.events.peersChanged('all');
    else if (moved.size) this.events.peersChanged(moved);
    void this.saver.run();
    this.events.changed();
  }

  private async save(): Promise<void> {
    const joined = this.joinedValue;
    const store = this.components.stateStore;
    if (!store || !joined) return;
    const names = this.unsaved;
    this.unsaved = new Set();
    const netmap = this.netmapValue;
    try {
      if (names === 'all' || store.wantsSave) {
        await store.save({
          version: 1,
          meshName: this.meshName,
          nodeName: netmap.selfName,
          meshIp: joined.meshIp,
          meshCidr: joined.meshCidr,
          meshCreatedMs: Number(joined.meshCreatedMs),
          revision: netmap.revision,
          nodes: [...netmap.nodes.values()],
          ...(joined.l2?.enabled ? { l2: { vni: joined.l2.vni, port: joined.l2.port } } : {}),
        });
      } else if (names.size > 0) {
        const { present, gone } = presentAndGone(netmap, names);
        await store.append({ revision: netmap.revision, upserts: present, removes: gone });
      }
    } catch (err) {
      // What is on disk is now uncertain: the next write saves the whole state.
      this.unsaved = 'all';
      this.components.logger.error('could not save agent state', { err: errorMessage(err) });
    }
  }
}
