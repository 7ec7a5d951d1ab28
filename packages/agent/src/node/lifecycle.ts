import { errorMessage, silentLogger, type Logger } from '../log.js';
import { StartCancelled } from '../errors.js';

/** A part of a running node, as the lifecycle stops it. */
interface StartedPart {
  readonly name: string;
  readonly stop: () => Promise<void> | void;
}

/** How long stop() waits for a start it overtook to finish and be stopped in turn. */
const OVERTAKEN_START_WAIT_MS = 5_000;

/**
 * The parts a node has started, stopped in reverse order. A part is recorded before its start
 * runs, so one that fails half-way (a join answered, then the device refused) is stopped too.
 * `stop()` may come while a start is still running (a signal while a join is being retried): the
 * part being started is stopped with the others, and no part after it starts. A start that
 * completes after its part was stopped is stopped again then: the first stop found nothing to stop
 * (a local API still binding its socket), and what the start made would keep the process alive.
 */
export class Lifecycle {
  private readonly parts: StartedPart[] = [];
  private stopping: Promise<void> | undefined;
  /** Starts still running; stop() waits (bounded) for those it overtook. */
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly logger: Logger;

  constructor(logger?: Logger, private readonly overtakenStartWaitMs = OVERTAKEN_START_WAIT_MS) {
    this.logger = logger ?? silentLogger();
  }

  /** stop() was called: a start in progress must not go on. */
  get stopRequested(): boolean {
    return this.stopping !== undefined;
  }

  /** Names of the parts started (or being started) and not stopped, in start order. */
  get running(): string[] {
    return this.parts.map((p) => p.name);
  }

  /**
   * Starts one part and records how to stop it. Throws StartCancelled instead of starting when
   * stop() was called meanwhile, and after a start that stop() overtook.
   */
  async start<T>(name: string, start: () => Promise<T> | T, stop: (started: T | undefined) => Promise<void> | void): Promise<T> {
    if (this.stopRequested) throw new StartCancelled(name);
    let value: T | undefined;
    let started = false;
    let stoppedWhileStarting = false;
    this.parts.push({
      name,
      stop: () => {
        if (!started) stoppedWhileStarting = true;
        return stop(value);
      },
    });
    // The start, and the second stop when the first overtook it: stop() waits for both.
    const starting = (async () => {
      value = await start();
      started = true;
      this.logger.debug('started', { part: name });
      if (stoppedWhileStarting) {
        await Promise.resolve()
          .then(() => stop(value))
          .then(
            () => this.logger.debug('stopped', { part: name, after: 'its start' }),
            (err) => this.logger.warn('a part did not stop cleanly', { part: name, err: errorMessage(err) }),
          );
      }
      return value;
    })();
    this.inFlight.add(starting);
    try {
      value = await starting;
    } finally {
      this.inFlight.delete(starting);
    }
    if (this.stopRequested) throw new StartCancelled(name);
    return value;
  }

  /**
   * Runs a whole start sequence: if any step throws, every part it had started is stopped (in
   * reverse order) before the error is passed on.
   */
  async run(steps: () => Promise<void>): Promise<void> {
    try {
      await steps();
    } catch (err) {
      await this.stop().catch(() => {});
      throw err;
    }
  }

  /**
   * Stops every started part, last first; each part once, however often this is called. A part
   * that fails to stop is logged, the others are stopped anyway, and the first such error is
   * thrown at the end.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      let first: unknown;
      for (let part = this.parts.pop(); part; part = this.parts.pop()) {
        try {
          await part.stop();
          this.logger.debug('stopped', { part: part.name });
        } catch (err) {
          this.logger.warn('a part did not stop cleanly', { part: part.name, err: errorMessage(err) });
          first ??= err;
        }
      }
      await this.overtakenStarts();
      if (first !== undefined) throw first;
    })();
    return this.stopping;
  }

  /** Waits for starts still running (each stops what it made once it completes), at most overtakenStartWaitMs. */
  private async overtakenStarts(): Promise<void> {
    if (this.inFlight.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.overtakenStartWaitMs);
      timer.unref();
    });
    // A start's own failure is its caller's to report; here it only means it is over.
    await Promise.race([Promise.allSettled([...this.inFlight]), deadline]);
    clearTimeout(timer);
  }
}
