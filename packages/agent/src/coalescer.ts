/**
 * Runs a task now, or, if it is running, once more when it finishes: a burst of requests costs
 * one or two runs, and a run always starts after the last request. The task handles its own
 * errors (it must not reject).
 */
export class Coalescer {
  private running: Promise<void> | undefined;
  private again = false;

  /** afterBurst runs once a run finds no request left (the burst is done), before run() resolves. */
  constructor(private readonly task: () => Promise<void>, private readonly afterBurst: () => void = () => {}) {}

  /** A run is going (a request now costs one more run after it). */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Asks for a run; resolves when no run is pending any more. */
  run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.task();
      } while (this.again);
      this.afterBurst();
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Resolves when the current run (if any) and the one asked for meanwhile are done. */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }
}
