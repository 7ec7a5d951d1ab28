import { defaultTimers, type Timers } from '@wgmesh/agent/timers';
import { errorMessage, silentLogger, type Logger } from '@wgmesh/agent/log';
import { type NodeStatus__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/NodeStatus';
import { ConfigError, NodeNotFound } from '../errors.js';
import { systemClock, type Clock, type MemberTable } from './table.js';

/** Defaults of the liveness monitor. An agent heartbeats every 5 s, so suspect means one and a half beats missed. */
export const LIVENESS_DEFAULTS = {
  suspectAfterMs: 8_000,
  // Failed (and shown so everywhere) within 15 s of the last heartbeat: 12 s + 1 s check + fan-out.
  failedAfterMs: 12_000,
  reapAfterMs: 600_000,
  checkIntervalMs: 1_000,
} as const;

export interface LivenessInit {
  /** Silent this long (ms since the last heartbeat): suspect. Default 8 s. */
  readonly suspectAfterMs?: number;
  /** Silent this long: failed. Must be greater than suspectAfterMs. Default 12 s. */
  readonly failedAfterMs?: number;
  /** Failed and silent this long: removed from the mesh (every node drops its peer). At least failedAfterMs. Default 10 min. */
  readonly reapAfterMs?: number;
  /** How often a pass runs. Default 1 s. */
  readonly checkIntervalMs?: number;
  /** Wall-clock milliseconds; must be the table's clock (heartbeat times come from it). Default Date.now. */
  readonly clock?: Clock;
  readonly timers?: Timers;
  readonly logger?: Logger;
  /** Nodes never judged (the bootstrap's own node). Members flagged isBootstrap are exempt anyway. */
  readonly exempt?: (name: string) => boolean;
  /**
   * Whether this monitor judges now (of several bootstraps, only the leader does). When it becomes
   * active, members it has no heartbeat for count as last seen then (the restart grace).
   */
  readonly active?: () => boolean;
}

export interface LivenessStats {
  passes: number;
  suspected: number;
  failed: number;
  revived: number;
  reaped: number;
}

type Action = { kind: 'status'; status: NodeStatus__Output } | { kind: 'reap' };

/**
 * Judges members by their heartbeats: a silent node becomes suspect, then failed, and is reaped
 * (removed) when it stays failed and silent long enough. Each judgement is one table change, so
 * one Watch delta; a pass that judges nothing changes nothing and saves nothing.
 *
 * Heartbeat times live in the table's memory only, so after a bootstrap restart every member
 * counts as last seen when the monitor started: a restart never reaps anyone at once. Only a
 * real heartbeat (which the table itself applies, making the node alive) ever improves a status,
 * except that the monitor corrects a status it set while a heartbeat was already queued.
 */
export class LivenessMonitor {
  readonly stats: LivenessStats = { passes: 0, suspected: 0, failed: 0, revived: 0, reaped: 0 };
  private readonly suspectAfterMs: number;
  private readonly failedAfterMs: number;
  private readonly reapAfterMs: number;
  private readonly checkIntervalMs: number;
  private readonly clock: Clock;
  private readonly timers: Timers;
  private readonly logger: Logger;
  private readonly exempt: (name: string) => boolean;
  /** Members without a heartbeat since this time count as last seen at it (the restart grace). */
  private graceFromMs: number;
  private timer: unknown;
  private running = false;
  private wasActive = true;
  private pass: Promise<void> | undefined;

  constructor(private readonly table: MemberTable, private readonly init: LivenessInit) {
    this.suspectAfterMs = init.suspectAfterMs ?? LIVENESS_DEFAULTS.suspectAfterMs;
    this.failedAfterMs = init.failedAfterMs ?? LIVENESS_DEFAULTS.failedAfterMs;
    this.reapAfterMs = init.reapAfterMs ?? LIVENESS_DEFAULTS.reapAfterMs;
    this.checkIntervalMs = init.checkIntervalMs ?? LIVENESS_DEFAULTS.checkIntervalMs;
    validate(this.suspectAfterMs, this.failedAfterMs, this.reapAfterMs, this.checkIntervalMs);
    this.clock = init.clock ?? systemClock;
    this.timers = init.timers ?? defaultTimers;
    this.logger = init.logger ?? silentLogger();
    this.exempt = init.exempt ?? (() => false);
    this.graceFromMs = this.clock.now();
  }

  /** Runs a pass every checkIntervalMs (never two at once). The restart grace counts from here. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.graceFromMs = this.clock.now();
    this.schedule();
  }

  /** Stops the passes; resolves once a pass in progress has finished. */
  async stop(): Promise<void> {
    this.running = false;
    this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    await this.pass;
  }

  /** One pass over the members. Failures (a store that cannot save) are logged and retried next pass. */
  check(): Promise<void> {
    const next = () => this.runPass();
    const run = (this.pass ?? Promise.resolve()).then(next, next);
    this.pass = run;
    return run;
  }

  private schedule(): void {
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      void this.check().finally(() => {
        if (this.running) this.schedule();
      });
    }, this.checkIntervalMs);
  }

  private async runPass(): Promise<void> {
    if (this.init.active && !this.init.active()) {
      this.wasActive = false;
      return;
    }
    if (!this.wasActive) {
      this.wasActive = true;
      this.graceFromMs = this.clock.now();
    }
    this.stats.passes++;
    for (const node of this.table.list()) {
      const name = node.name;
      if (node.status === 'NODE_STATUS_LEFT' || node.isBootstrap || this.exempt(name)) continue;
      const now = this.clock.now();
      const heartbeat = this.table.lastSeenMs(name);
      const silentMs = now - (heartbeat ?? this.graceFromMs);
      const action = this.judge(node.status, silentMs, heartbeat !== undefined);
      if (!action) continue;
      try {
        await this.apply(name, action, silentMs);
      } catch (err) {
        // Gone meanwhile (a Leave, or reaped by another path): nothing left to judge.
        if (err instanceof NodeNotFound) continue;
        this.logger.warn('could not record a liveness change; retrying on the next pass', { node: name, err: errorMessage(err) });
      }
    }
  }

  /** What the silence means for a member, or undefined when its status is already right. */
  private judge(status: NodeStatus__Output, silentMs: number, heardFrom: boolean): Action | undefined {
    if (silentMs >= this.failedAfterMs) {
      if (status === 'NODE_STATUS_FAILED') return silentMs >= this.reapAfterMs ? { kind: 'reap' } : undefined;
      return { kind: 'status', status: 'NODE_STATUS_FAILED' };
    }
    if (silentMs >= this.suspectAfterMs) {
      // Never better than the status it has: a failed node stays failed until it heartbeats.
      if (status === 'NODE_STATUS_SUSPECT' || status === 'NODE_STATUS_FAILED') return undefined;
      return { kind: 'status', status: 'NODE_STATUS_SUSPECT' };
    }
    // Recently heard from but not alive: this monitor marked it while its heartbeat was queued.
    if (heardFrom && (status === 'NODE_STATUS_SUSPECT' || status === 'NODE_STATUS_FAILED')) {
      return { kind: 'status', status: 'NODE_STATUS_ALIVE' };
    }
    return undefined;
  }

  private async apply(name: string, action: Action, silentMs: number): Promise<void> {
    const silentS = Math.round(silentMs / 100) / 10;
    if (action.kind === 'reap') {
      await this.table.remove(name);
      this.stats.reaped++;
      this.logger.info(`node silent for ${silentS} s: removed from the mesh`, { node: name, silentMs });
      return;
    }
    // Without an identity the table sets the status and leaves the heartbeat time alone.
    await this.table.update(name, undefined, { status: action.status });
    switch (action.status) {
      case 'NODE_STATUS_SUSPECT':
        this.stats.suspected++;
        this.logger.info(`node silent for ${silentS} s: suspect`, { node: name, silentMs });
        break;
      case 'NODE_STATUS_FAILED':
        this.stats.failed++;
        this.logger.warn(`node silent for ${silentS} s: failed`, { node: name, silentMs });
        break;
      default:
        this.stats.revived++;
        this.logger.info('node heard from again: alive', { node: name });
    }
  }
}

function validate(suspectAfterMs: number, failedAfterMs: number, reapAfterMs: number, checkIntervalMs: number): void {
  const all = { suspectAfterMs, failedAfterMs, reapAfterMs, checkIntervalMs };
  for (const [key, value] of Object.entries(all)) {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new ConfigError(`liveness ${key} must be a finite number of milliseconds, got ${String(value)}`);
  }
  if (!(suspectAfterMs > 0)) throw new ConfigError(`liveness suspectAfterMs must be greater than 0, got ${suspectAfterMs}`);
  if (!(failedAfterMs > suspectAfterMs)) {
    throw new ConfigError(`liveness failedAfterMs (${failedAfterMs}) must be greater than suspectAfterMs (${suspectAfterMs}): a node is suspect before it is failed`);
  }
  if (!(reapAfterMs >= failedAfterMs)) {
    throw new ConfigError(`liveness reapAfterMs (${reapAfterMs}) must be at least failedAfterMs (${failedAfterMs}): only a failed node is reaped`);
  }
  if (!(checkIntervalMs > 0)) throw new ConfigError(`liveness checkIntervalMs must be greater than 0, got ${checkIntervalMs}`);
}
