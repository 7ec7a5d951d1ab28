import type { RttSample__Output, UpdateResponse__Output } from '../proto/index.js';
import type { ControlSession } from '../control/session.js';
import type { EndpointManager } from '../endpoints/manager.js';
import type { RelayPaths } from '../relay/paths.js';
import { RttReporter, type RttReport } from '../rtt/report.js';
import type { Timers } from '../timers.js';
import { TagChangeFailed } from '../errors.js';

/** What the reporter needs of an RTT prober. */
export interface RttSamplesSource {
  samples(): RttSample__Output[];
  /** True once every peer's samples cover a whole window (not just the first probes after a start). */
  windowsFull?(): boolean;
}

export interface ReporterComponents {
  readonly session: Pick<ControlSession, 'update' | 'callSucceeded' | 'heartbeatFailed'>;
  readonly endpoints: Pick<EndpointManager, 'refresh' | 'endpoints'>;
  /** The peers reached through relays (reported), and where the bootstrap's count of pairs through this node goes. */
  readonly relays?: Pick<RelayPaths, 'relayed' | 'relayPairs'>;
  readonly rtt?: RttSamplesSource;
  readonly timers: Timers;
}

/**
 * What this node tells its bootstrap: a heartbeat every heartbeatMs (its endpoint candidates, its
 * tags and the RTT figures due, see RttReporter) and tag changes. Updates go out one at a time, in
 * order: a heartbeat that started before a tag change must not land after it with the old tags,
 * and each tag change starts from the tags the one before left.
 */
export class Reporter {
  private tagsValue: Readonly<Record<string, string>>;
  private queue: Promise<unknown> = Promise.resolve();
  private timer: unknown;
  private running = false;
  /** A heartbeat is being sent; heartbeatNow() meanwhile asks for one more after it. */
  private beating = false;
  private beatAgain = false;
  /** The next heartbeat carries every RTT sample (heartbeatNow({ allRtt })). */
  private allRttNext = false;
  private readonly rttReporter = new RttReporter();

  constructor(private readonly components: ReporterComponents, private readonly heartbeatMs: number, tags: Readonly<Record<string, string>>, private readonly onChange: () => void) {
    this.tagsValue = { ...tags };
  }

  /** The tags the bootstrap holds for this node. */
  get tags(): Readonly<Record<string, string>> {
    return this.tagsValue;
  }

  start(): void {
    this.running = true;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    this.components.timers.clearTimeout(this.timer);
  }

  /**
   * A tag change is sent as an Update with the new set, and the node's tags become that set only
   * once the bootstrap took it: a refused (or unsent) change leaves no trace, not even in a
   * heartbeat sent meanwhile.
   */
  changeTags(change: (tags: Readonly<Record<string, string>>) => Record<string, string>): Promise<Readonly<Record<string, string>>> {
    return this.inTurn(async () => {
      const next = change(this.tagsValue);
      try {
        await this.send(next);
      } catch (err) {
        throw new TagChangeFailed(err);
      }
      this.tagsValue = next;
      this.onChange();
      return this.tagsValue;
    });
  }

  /**
   * A heartbeat now rather than at the next tick (this node's endpoint candidates changed: a port
   * mapping came or went). One already going is followed by another; the period restarts after.
   */
  heartbeatNow(options: { allRtt?: boolean } = {}): void {
    if (!this.running) return;
    if (options.allRtt) this.allRttNext = true;
    if (this.beating) {
      this.beatAgain = true;
      return;
    }
    this.components.timers.clearTimeout(this.timer);
    this.beat();
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = this.components.timers.setTimeout(() => this.beat(), this.heartbeatMs);
  }

  private beat(): void {
    this.beating = true;
    this.inTurn(() => this.send(this.tagsValue))
      .then(() => this.components.session.callSucceeded(), (err) => this.components.session.heartbeatFailed(err))
      .finally(() => {
        this.beating = false;
        if (this.beatAgain && this.running) {
          this.beatAgain = false;
          this.beat();
        } else this.schedule();
      });
  }

  private inTurn<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work);
    this.queue = run.catch(() => {});
    return run;
  }

  /**
   * Runs `work` in turn with heartbeats and tag changes (a key rotation: no heartbeat may go out
   * between the switch and the announcement, nor with the old key after it). `work` sends its
   * Update with `sendNow`.
   */
  exclusive<T>(work: (sendNow: (extra: { newPublicKey: string; newNodeSecret: string }) => Promise<number>) => Promise<T>): Promise<T> {
    return this.inTurn(() => work(async (extra) => (await this.send(this.tagsValue, extra)).revision ?? 0));
  }

  /** One Update: endpoints asked again, the given tags, and the RTT samples due. */
  private async send(tags: Readonly<Record<string, string>>, extra: { newPublicKey?: string; newNodeSecret?: string } = {}): Promise<UpdateResponse__Output> {
    await this.components.endpoints.refresh();
    const rtt = this.rttReport();
    const relays = this.components.relays;
    const response = await this.components.session.update({
      endpoints: [...this.components.endpoints.endpoints],
      tags,
      // The due samples, at most RTT_SAMPLES_PER_REPORT; an empty list means "no news".
      rtt: rtt.samples,
      relayed: relays?.relayed() ?? [],
      ...extra,
    });
    if (relays) relays.relayPairs = response.relayPairs ?? 0;
    // Only now does the bootstrap hold them: after a failed Update they are still due.
    this.rttReporter.sent(rtt);
    return response;
  }

  private rttReport(): RttReport {
    const rtt = this.components.rtt;
    const all = this.allRttNext;
    this.allRttNext = false;
    return this.rttReporter.next(Date.now(), rtt?.samples() ?? [], rtt?.windowsFull?.() ?? true, all);
  }
}
