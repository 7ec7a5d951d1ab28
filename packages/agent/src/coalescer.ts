/**
 * Runs a task now, or, if it is running, once more when it finishes: a burst of requests costs
 * one or two runs, and a run always starts after the last request. The task handles its own
 * errors (it must not reject).
 */
export class Coalescer {
  private running: Promise<void> | undefined;
  private again = false;

  constructor(private readonly task: () => Promise<void>) {}

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
