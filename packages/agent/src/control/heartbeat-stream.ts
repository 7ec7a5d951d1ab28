import { status as grpcStatus, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import type { HeartbeatAnswer__Output, HeartbeatMessage, UpdateRequest, UpdateResponse__Output } from '../proto/index.js';
import { ControlCallError } from '../errors.js';

/** A broken stream is opened again after this long at first, doubling up to HEARTBEAT_STREAM_BACKOFF_MAX_MS. */
export const HEARTBEAT_STREAM_BACKOFF_MS = 1000;
export const HEARTBEAT_STREAM_BACKOFF_MAX_MS = 60_000;
/** A bootstrap without Mesh.Heartbeat (UNIMPLEMENTED) is asked again this much later: it may have been upgraded. */
export const HEARTBEAT_STREAM_RETRY_UNIMPLEMENTED_MS = 10 * 60_000;
/** Messages sent and not yet answered: Reporter sends one at a time, so more means a stuck stream. */
const MAX_PENDING = 16;

export interface HeartbeatStreamInit {
  /** Opens Mesh.Heartbeat (one bidi stream). */
  open(): ClientDuplexStream<HeartbeatMessage, HeartbeatAnswer__Output>;
  /** The unary Mesh.Update: used while the stream is not (yet, or not at all) available. */
  unary(req: UpdateRequest): Promise<UpdateResponse__Output>;
  /** One message's answer must come within this long, as a unary call's deadline. */
  readonly timeoutMs: number;
  readonly now?: () => number;
  readonly random?: () => number;
}

interface Pending {
  readonly seq: number;
  readonly req: UpdateRequest;
  readonly resolve: (res: UpdateResponse__Output) => void;
  readonly reject: (err: unknown) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * Updates (heartbeats and tag changes) over one long-lived Mesh.Heartbeat stream instead of a unary
 * call each: for the bootstrap a message on an open stream costs a fraction of a call's HTTP/2
 * stream set-up, headers and trailers. Each update is answered as the unary call would be (its
 * response, or a ControlCallError with the same code). The stream is opened by the first update;
 * after it broke, updates go as unary calls until a backoff has passed, and the next one reopens
 * it. A bootstrap that does not know the method (UNIMPLEMENTED: an older one) gets unary calls,
 * asked again every HEARTBEAT_STREAM_RETRY_UNIMPLEMENTED_MS; the update that found out is sent
 * unary at once (the bootstrap never saw it).
 */
export class HeartbeatStream {
  private stream: ClientDuplexStream<HeartbeatMessage, HeartbeatAnswer__Output> | undefined;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  /** No stream is opened before this time (a backoff after a break, or the wait after UNIMPLEMENTED). */
  private notBefore = 0;
  private backoffMs = HEARTBEAT_STREAM_BACKOFF_MS;
  /** This stream has answered a message: the bootstrap knows the method. */
  private answered = false;
  private closed = false;
  /** Counters for tests and benchmarks. */
  readonly stats = { opened: 0, sentOnStream: 0, sentUnary: 0, broken: 0, unimplemented: 0 };

  constructor(private readonly init: HeartbeatStreamInit) {}

  /** True while updates go over the stream (an open one). */
  get open(): boolean {
    return this.stream !== undefined;
  }

  update(req: UpdateRequest): Promise<UpdateResponse__Output> {
    if (this.closed) return this.init.unary(req);
    if (!this.stream && this.now() < this.notBefore) return this.viaUnary(req);
    const stream = this.stream ?? this.openStream();
    if (this.pending.size >= MAX_PENDING) {
      this.broke(stream, new ControlCallError(grpcStatus.RESOURCE_EXHAUSTED, `${MAX_PENDING} heartbeats unanswered; reopening the stream`, 'Heartbeat'));
      return this.viaUnary(req);
    }
    return new Promise<UpdateResponse__Output>((resolve, reject) => {
      const seq = ++this.seq;
      const timer = setTimeout(() => {
        // As a unary call past its deadline; a stream that stopped answering is not trusted again.
        this.broke(stream, new ControlCallError(grpcStatus.DEADLINE_EXCEEDED, `no answer to the heartbeat within ${this.init.timeoutMs} ms`, 'Update'));
      }, this.init.timeoutMs);
      timer.unref?.();
      this.pending.set(seq, { seq, req, resolve, reject, timer });
      this.stats.sentOnStream++;
      stream.write({ seq, update: req });
    });
  }

  /** Ends the stream (the client is closing); later updates go unary. */
  close(): void {
    this.closed = true;
    const stream = this.stream;
    if (stream) this.broke(stream, new ControlCallError(grpcStatus.CANCELLED, 'the control client closed', 'Update'), false);
  }

  private viaUnary(req: UpdateRequest): Promise<UpdateResponse__Output> {
    this.stats.sentUnary++;
    return this.init.unary(req);
  }

  private openStream(): ClientDuplexStream<HeartbeatMessage, HeartbeatAnswer__Output> {
    const stream = this.init.open();
    this.stream = stream;
    this.answered = false;
    this.stats.opened++;
    stream.on('data', (answer: HeartbeatAnswer__Output) => {
      if (this.stream !== stream) return;
      const seq = Number(answer.seq);
      const p = this.pending.get(seq);
      if (!p) return;
      this.pending.delete(seq);
      clearTimeout(p.timer);
      if (!this.answered) {
        this.answered = true;
        this.backoffMs = HEARTBEAT_STREAM_BACKOFF_MS;
      }
      if (answer.code) p.reject(new ControlCallError(answer.code, answer.message, 'Update'));
      else p.resolve(answer.response ?? { revision: 0, relayPairs: 0 });
    });
    stream.on('error', (err: ServiceError) => {
      if (this.stream !== stream) return;
      if (err.code === grpcStatus.UNIMPLEMENTED && !this.answered) {
        this.unimplemented(stream);
        return;
      }
      this.broke(stream, new ControlCallError(err.code ?? grpcStatus.UNKNOWN, err.details || err.message, 'Update'));
    });
    // Ended cleanly by the bootstrap (it is stopping): reopened by the next update.
    stream.on('end', () => {
      if (this.stream !== stream) return;
      this.broke(stream, new ControlCallError(grpcStatus.UNAVAILABLE, 'the bootstrap ended the heartbeat stream before answering', 'Update'), this.pending.size > 0);
    });
    return stream;
  }

  /** The bootstrap has no Mesh.Heartbeat: what was sent on the stream goes unary (the bootstrap never saw it). */
  private unimplemented(stream: ClientDuplexStream<HeartbeatMessage, HeartbeatAnswer__Output>): void {
    this.stream = undefined;
    stream.cancel();
    this.stats.unimplemented++;
    this.notBefore = this.now() + HEARTBEAT_STREAM_RETRY_UNIMPLEMENTED_MS;
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) {
      clearTimeout(p.timer);
      this.viaUnary(p.req).then(p.resolve, p.reject);
    }
  }

  /**
   * The stream is given up: every unanswered update fails with `err` (as a unary call cut off
   * would), and the next stream waits for the backoff when `backoff`.
   */
  private broke(stream: ClientDuplexStream<HeartbeatMessage, HeartbeatAnswer__Output>, err: ControlCallError, backoff = true): void {
    if (this.stream !== stream) return;
    this.stream = undefined;
    stream.removeAllListeners('data');
    stream.on('error', () => {});
    stream.cancel();
    this.stats.broken++;
    if (backoff) {
      this.notBefore = this.now() + this.backoffMs * (0.8 + this.random() * 0.4);
      this.backoffMs = Math.min(this.backoffMs * 2, HEARTBEAT_STREAM_BACKOFF_MAX_MS);
    }
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) {
      clearTimeout(p.timer);
      p.reject(err);
    }
  }

  private now(): number {
    return (this.init.now ?? Date.now)();
  }

  private random(): number {
    return (this.init.random ?? Math.random)();
  }
}
