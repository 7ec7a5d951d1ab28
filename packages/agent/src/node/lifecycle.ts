import { errorMessage, silentLogger, type Logger } from '../log.js';
import { StartCancelled } from '../errors.js';

/** A part of a running node, as the lifecycle stops it. */
interface StartedPart {
  readonly name: string;
  readonly stop: () => Promise<void> | void;
}

/**
 * The parts a node has started, stopped in reverse order. A part is recorded before its start
 * runs, so one that fails half-way (a join answered, then the device refused) is stopped too.
 * `stop()` may come while a start is still running (a signal while a join is being retried): the
 * part being started is stopped with the others, and no part after it starts.
 */
export class Lifecycle {
  private readonly parts: StartedPart[] = [];
  private stopping: Promise<void> | undefined;
  private readonly logger: Logger;

  constructor(logger?: Logger) {
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
    this.parts.push({ name, stop: () => stop(value) });
    value = await start();
    this.logger.debug('started', { part: name });
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
      if (first !== undefined) throw first;
    })();
    return this.stopping;
  }
}
