/**
 * Exponential backoff with equal jitter (a wait between half the ceiling and the ceiling, the
 * ceiling doubling per attempt up to maxMs), so a restarted bootstrap is not hit by every agent
 * at once while no retry comes sooner than half the ceiling.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly initialMs = 250,
    private readonly maxMs = 10_000,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** this.attempt);
    this.attempt++;
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  reset(): void {
    this.attempt = 0;
  }
}
