/**
 * A bound on the bytes of large answers the bootstrap has handed to gRPC and not yet seen flushed
 * to their connections. A Join answer carries the whole membership (1.2 MB at 10,000 nodes), and
 * grpc-js copies it into a frame of its own for each caller: a wave of a thousand re-joining nodes
 * that read slowly held over a gigabyte. Past the bound, answers wait (only their small requests
 * held) and go out, in order, as earlier ones are flushed or cancelled.
 */
export class SendBudget {
  private inFlight = 0;
  private readonly waiting: Grant[] = [];
  /** Counters for tests and benchmarks. */
  readonly stats = { waited: 0, peakBytes: 0 };

  constructor(readonly maxBytes: number) {}

  /** Bytes handed out now. */
  get bytesInFlight(): number {
    return this.inFlight;
  }

  /**
   * Runs `go` once `bytes` fit beside what is in flight (at once if they do; one answer larger than
   * the whole budget goes when nothing else is out). The function returned gives the bytes back
   * once the answer is flushed or its call is over, or drops a wait not yet granted; extra calls
   * do nothing.
   */
  take(bytes: number, go: () => void): () => void {
    const grant: Grant = { bytes, go, state: 'waiting' };
    if (this.waiting.length === 0 && this.fits(bytes)) this.start(grant);
    else {
      this.stats.waited++;
      this.waiting.push(grant);
    }
    return () => this.release(grant);
  }

  private fits(bytes: number): boolean {
    return this.inFlight === 0 || this.inFlight + bytes <= this.maxBytes;
  }

  private start(grant: Grant): void {
    grant.state = 'running';
    this.inFlight += grant.bytes;
    this.stats.peakBytes = Math.max(this.stats.peakBytes, this.inFlight);
    grant.go();
  }

  private release(grant: Grant): void {
    if (grant.state === 'done') return;
    const wasRunning = grant.state === 'running';
    grant.state = 'done';
    if (!wasRunning) {
      const i = this.waiting.indexOf(grant);
      if (i >= 0) this.waiting.splice(i, 1);
      return;
    }
    this.inFlight -= grant.bytes;
    // In order: the first waiting answer goes first, and later ones only behind it.
    while (this.waiting.length > 0 && this.fits(this.waiting[0]!.bytes)) this.start(this.waiting.shift()!);
  }
}

interface Grant {
  readonly bytes: number;
  readonly go: () => void;
  state: 'waiting' | 'running' | 'done';
}
