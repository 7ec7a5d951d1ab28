import { Coalescer } from './coalescer.js';
import { keepAliveTimers, type Timers } from './timers.js';

/**
 * The shortest time between two rewrites of a file other tools read (-memberlist-file,
 * -hosts-file). The original wgmesh looks for a change once a second; a 10,000-member document
 * is megabytes, and a join wave brings hundreds of changes a second, each of which would
 * otherwise rewrite it.
 */
export const FILE_REWRITE_MIN_INTERVAL_MS = 1000;

/**
 * Runs a task that writes the latest state somewhere (a file other tools read) at most once per
 * interval: a request after a quiet interval runs it at once, the requests of a busy interval
 * once at its end. Runs never overlap, and each reads the state as it is then, so the last run
 * always follows the last request. For outputs whose every write costs O(mesh): a join wave
 * brings hundreds of requests a second.
 */
export class PacedTask {
  private readonly runner: Coalescer;
  /** Set while the last run is younger than the interval. */
  private pause: unknown;
  /** Requests the pause holds back, resolved after the run at its end. */
  private held: { promise: Promise<void>; resolve: () => void } | undefined;
  private stopped = false;

  constructor(task: () => Promise<void>, private readonly intervalMs: number, private readonly timers: Timers = keepAliveTimers) {
    this.runner = new Coalescer(task);
  }

  /** Asks for a run; resolves once a run that started after this request is done. */
  request(): Promise<void> {
    if (this.stopped) return this.runner.idle();
    if (this.pause !== undefined) {
      if (!this.held) {
        let resolve!: () => void;
        const promise = new Promise<void>((r) => (resolve = r));
        this.held = { promise, resolve };
      }
      return this.held.promise;
    }
    this.pause = this.timers.setTimeout(() => {
      this.pause = undefined;
      const held = this.held;
      this.held = undefined;
      if (held) void this.request().then(held.resolve);
    }, this.intervalMs);
    return this.runner.run();
  }

  /** Runs now, whatever the pause (what it held back is then in the file too). */
  now(): Promise<void> {
    return this.runner.run();
  }

  /** Resolves when no run is under way (one the pause holds back is not waited for). */
  idle(): Promise<void> {
    return this.runner.idle();
  }

  /** Resolves once every request so far has had its run (including one the pause holds back). */
  settled(): Promise<void> {
    return this.held?.promise ?? this.runner.idle();
  }

  /** No more runs after this; `flush`: run once more first if the pause held a request back. */
  async stop(flush: boolean): Promise<void> {
    this.stopped = true;
    this.timers.clearTimeout(this.pause);
    this.pause = undefined;
    const held = this.held;
    this.held = undefined;
    if (held && flush) await this.runner.run();
    await this.runner.idle();
    held?.resolve();
  }
}
