import type { EventEmitter } from 'node:events';
import type { JoinResponse__Output, L2Status__Output } from '../proto/index.js';
import { peersOf, type Netmap } from '../netmap/netmap.js';
import { errorMessage, silentLogger, type Logger } from '../log.js';
import { diffFlood, floodOpsForPeer, l2InterfaceNames, l2Mtu, l2MtuProblem, type FloodOp } from './l2.js';
import type { L2Driver } from './types.js';
import { L2CommandFailed } from '../errors.js';

/** What MeshL2 follows: the agent (or a fake in tests). */
export interface L2Membership extends Pick<EventEmitter, 'on' | 'off'> {
  readonly netmap: Netmap;
  readonly joined: JoinResponse__Output | undefined;
  /** The wg interface's move to a new mesh IP, while under way (Agent.addressMove): the device is gone for a moment. */
  readonly addressMove?: Promise<void> | undefined;
}

export interface MeshL2Init {
  readonly meshName: string;
  /** The wg interface the VXLAN device runs over (its MTU sets the L2 MTU). */
  readonly wgInterface: string;
  /** Local interfaces to put in the bridge (-l2-bridge-if). */
  readonly bridgeIfs?: readonly string[];
  /** An address for the bridge, CIDR (-l2-addr). */
  readonly address?: string;
  /** Leave the devices in place on stop (-keep-interface). */
  readonly keepInterface?: boolean;
  /** A full pass (the flood list read back and diffed) this often, to undo drift; 0: only at start, re-join and after a failure. */
  readonly fullPassMs?: number;
}

export interface MeshL2Stats {
  fullPasses: number;
  fastPasses: number;
  ops: number;
  /** Wake-ups of the full-pass timer (none in a mesh without L2). */
  wakeups: number;
}

const FULL_PASS_MS = 30_000;

/**
 * A node's layer 2 (bootstrap -l2): when the mesh has it (JoinResponse.l2), a bridge br<MESH> with
 * a VXLAN device vx<MESH> over the wg interface, and one flood entry per peer, kept equal to the
 * membership as WireGuard's peers are (wg/reconciler.ts): a full pass reads the flood list back
 * (`bridge fdb show`) and diffs it; between full passes, each membership change touches only the
 * peers it names (one entry added or removed per change, nothing read). Devices are removed on stop
 * unless keepInterface.
 */
export class MeshL2 {
  readonly stats: MeshL2Stats = { fullPasses: 0, fastPasses: 0, ops: 0, wakeups: 0 };
  /** The mesh IP each peer's entry points at, as this part applied it. */
  private readonly applied = new Map<string, string>();
  private upFor: string | undefined;
  /** The driver was asked to make the devices (and may have, in part, if that failed): stop removes them. */
  private made = false;
  private mtu = 0;
  private error = '';
  private queue: Promise<void> = Promise.resolve();
  private needFull = true;
  private stopped = false;
  private fullTimer: NodeJS.Timeout | undefined;
  private readonly logger: Logger;
  private readonly names: { bridge: string; vxlan: string };
  private readonly onChange = () => this.enqueue(() => this.ensureUp());
  private readonly onAddress = () => this.enqueue(async () => {
    this.upFor = undefined;
    await this.ensureUp();
  });
  private readonly onMembers = (names: string[], full: boolean) => this.enqueue(() => (full || this.needFull ? this.full() : this.fast(names)));

  constructor(private readonly membership: L2Membership, private readonly driver: L2Driver, private readonly init: MeshL2Init, logger?: Logger) {
    this.logger = logger ?? silentLogger();
    this.names = l2InterfaceNames(init.meshName);
  }

  /** Whether the mesh has L2, as the join said. */
  get enabled(): boolean {
    return this.membership.joined?.l2?.enabled === true;
  }

  async start(): Promise<void> {
    this.membership.on('change', this.onChange);
    this.membership.on('address', this.onAddress);
    this.membership.on('members', this.onMembers);
    this.enqueue(() => this.ensureUp());
    await this.settled();
    const joined = this.membership.joined;
    if (joined && !this.enabled && (this.init.bridgeIfs?.length || this.init.address)) {
      this.logger.warn('-l2-bridge-if/-l2-addr given, but this mesh has no layer 2 (its bootstrap runs without -l2): ignored', { mesh: this.init.meshName });
    }
    // A start that could not make the devices fails the node: the operator asked for -l2 devices it cannot have.
    if (this.enabled && this.upFor === undefined && this.error) throw new L2CommandFailed('layer 2', this.error);
    this.armFullPasses();
  }

  /**
   * Full passes (and retries of a failed bring-up) every fullPassMs, once the mesh has L2: a node
   * of a mesh without it has nothing to read back, and is not woken for nothing (a re-join that
   * brings L2 arms them, see ensureUp).
   */
  private armFullPasses(): void {
    const every = this.init.fullPassMs ?? FULL_PASS_MS;
    if (this.fullTimer || this.stopped || every <= 0 || !this.enabled) return;
    this.fullTimer = setInterval(() => {
      this.stats.wakeups++;
      this.enqueue(() => (this.upFor ? this.full() : this.ensureUp()));
    }, every);
    this.fullTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.fullTimer);
    this.membership.off('change', this.onChange);
    this.membership.off('address', this.onAddress);
    this.membership.off('members', this.onMembers);
    await this.idle();
    if (this.made) {
      this.upFor = undefined;
      this.made = false;
      await this.driver.close({ keepInterface: this.init.keepInterface ?? false });
      this.logger.info(this.init.keepInterface ? 'layer 2: devices left in place (-keep-interface)' : 'layer 2: devices removed', { bridge: this.names.bridge });
    }
  }

  /**
   * Every pass run, none queued meanwhile, and no move of the wg interface under way. A node
   * restarted from saved state whose join got a new mesh IP moves its interface while its parts
   * start: a bring-up that ran into the missing device is redone after the move ('address'), and
   * the start is judged on that one (it failed the node, which then left the mesh, in the L2 lab).
   */
  private async settled(): Promise<void> {
    for (;;) {
      const queue = this.queue;
      await this.membership.addressMove;
      await queue;
      if (queue === this.queue && this.membership.addressMove === undefined) return;
    }
  }

  /** Resolves once every pass asked for so far has run. */
  idle(): Promise<void> {
    return this.queue;
  }

  status(): L2Status__Output | null {
    const l2 = this.membership.joined?.l2;
    if (!l2?.enabled) return null;
    return {
      up: this.upFor !== undefined,
      bridge: this.names.bridge,
      vxlan: this.names.vxlan,
      vni: l2.vni,
      port: l2.port,
      mtu: this.mtu,
      floodEntries: this.applied.size,
      bridgeIfs: [...(this.init.bridgeIfs ?? [])],
      address: this.init.address ?? '',
      error: this.error,
    };
  }

  private enqueue(pass: () => Promise<void>): void {
    this.queue = this.queue.then(async () => {
      if (this.stopped) return;
      try {
        await pass();
      } catch (err) {
        this.error = errorMessage(err);
        this.needFull = true;
        this.logger.warn(`layer 2: ${this.error}; trying again at the next change`, { bridge: this.names.bridge });
      }
    });
  }

  /** Makes the devices when the mesh has L2 and the node has its mesh IP (again after a move), then a full pass. */
  private async ensureUp(): Promise<void> {
    this.armFullPasses();
    const joined = this.membership.joined;
    if (!joined?.l2?.enabled || !joined.meshIp || this.upFor === joined.meshIp) return;
    const { vni, port } = joined.l2;
    const mtu = l2Mtu(await this.driver.mtuOf(this.init.wgInterface), joined.meshIp);
    const problem = l2MtuProblem(mtu);
    if (problem) throw new L2CommandFailed('layer 2', `${problem}; raise the wg interface's MTU`);
    this.applied.clear();
    this.made = true;
    await this.driver.up({
      ...this.names, vni, port, local: joined.meshIp, mtu,
      bridgeIfs: this.init.bridgeIfs ?? [],
      ...(this.init.address ? { address: this.init.address } : {}),
    });
    this.upFor = joined.meshIp;
    this.mtu = mtu;
    this.logger.info('layer 2 up', { bridge: this.names.bridge, vxlan: this.names.vxlan, vni, port, mtu, meshIp: joined.meshIp });
    await this.full();
  }

  /** Reads the flood list back and makes it every peer's mesh IP. */
  private async full(): Promise<void> {
    if (this.upFor === undefined) return;
    const peers = peersOf(this.membership.netmap);
    const ops = diffFlood(await this.driver.readFlood(), peers.map((p) => p.meshIp));
    await this.apply(ops);
    this.applied.clear();
    for (const p of peers) this.applied.set(p.name, p.meshIp);
    this.needFull = false;
    this.error = '';
    this.stats.fullPasses++;
  }

  /** The named peers only, from what this part applied: at most one entry added and one removed per peer. */
  private async fast(names: readonly string[]): Promise<void> {
    if (this.upFor === undefined) return;
    const netmap = this.membership.netmap;
    const ops: FloodOp[] = [];
    const next = new Map<string, string | undefined>();
    for (const name of names) {
      if (name === netmap.selfName) continue;
      const after = netmap.nodes.get(name)?.meshIp;
      ops.push(...floodOpsForPeer(this.applied.get(name), after));
      next.set(name, after);
    }
    // Removals first: in one batch a leaver's address may have gone to a joiner named before it.
    await this.apply([...ops.filter((o) => o.op === 'del'), ...ops.filter((o) => o.op === 'add')]);
    for (const [name, ip] of next) {
      if (ip === undefined) this.applied.delete(name);
      else this.applied.set(name, ip);
    }
    this.stats.fastPasses++;
  }

  private async apply(ops: readonly FloodOp[]): Promise<void> {
    if (ops.length === 0) return;
    await this.driver.apply(ops);
    this.stats.ops += ops.length;
    this.logger.debug('layer 2: flood list changed', { ops: ops.map((o) => `${o.op} ${o.dst}`).join(', ') });
  }
}
