/**
 * Where `wgmesh ui` gets its data: the local node's API, the same calls `info -json` (Info),
 * `info -watch` (Watch) and `rtt -json` (Rtt) make. The Watch stream pushes a status on every
 * membership change and every two seconds; when it breaks (the node restarted), it is opened
 * again after a second, and meanwhile the page is told the node cannot be reached.
 */
import type { ServiceError } from '@grpc/grpc-js';
import type { AgentClient } from '@wgmesh/agent/proto/gen/wgmesh/v1/Agent';
import type { InfoResponse__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/InfoResponse';
import type { RttResponse__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/RttResponse';
import { deadline, describeLocalError, unary } from '../local-api/client.js';

export type Status = InfoResponse__Output;
export type RttMatrix = RttResponse__Output;

/** The node's API as the UI uses it (an in-memory one in tests). */
export interface StatusFeed {
  info(): Promise<Status>;
  rtt(): Promise<RttMatrix>;
  /** Calls onStatus with each status pushed, onEnd once when the stream stops; returns a cancel. */
  watch(onStatus: (status: Status) => void, onEnd: (err: Error | undefined) => void): () => void;
}

/** Exactly what `info -json` / `rtt -json` print: plain JSON values. */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

export function agentFeed(client: AgentClient, socketPath: string): StatusFeed {
  const explain = (err: unknown) => new Error(describeLocalError(err as ServiceError, socketPath), { cause: err });
  return {
    info: () => unary<Status>((cb) => client.info({}, deadline(), cb)).then(plain, (err) => Promise.reject(explain(err))),
    rtt: () => unary<RttMatrix>((cb) => client.rtt({ fresh: true }, deadline(), cb)).then(plain, (err) => Promise.reject(explain(err))),
    watch(onStatus, onEnd) {
      const stream = client.watch({});
      let ended = false;
      const end = (err: Error | undefined) => {
        if (ended) return;
        ended = true;
        onEnd(err);
      };
      stream.on('data', (s: Status) => onStatus(plain(s)));
      stream.on('error', (err: Error) => end(explain(err)));
      stream.on('end', () => end(undefined));
      return () => {
        ended = true;
        stream.cancel();
      };
    },
  };
}

export type SourceEvent = { readonly kind: 'status'; readonly status: Status } | { readonly kind: 'error'; readonly message: string };

export interface StatusSourceInit {
  /** How long after the stream breaks it is opened again. */
  readonly retryMs?: number;
}

/** The latest status, kept current from the Watch stream, and its listeners. */
export class StatusSource {
  private status: Status | undefined;
  private error: string | undefined;
  private cancel: (() => void) | undefined;
  private retry: NodeJS.Timeout | undefined;
  private running = false;
  private readonly listeners = new Set<(e: SourceEvent) => void>();
  private readonly retryMs: number;

  constructor(
    private readonly feed: StatusFeed,
    init: StatusSourceInit = {},
  ) {
    this.retryMs = init.retryMs ?? 1000;
  }

  /** Asks the node once (so a node that is not there fails the start), then follows its Watch stream. */
  async start(): Promise<void> {
    this.status = await this.feed.info();
    this.running = true;
    this.open();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.retry);
    this.cancel?.();
    this.cancel = undefined;
  }

  latest(): Status | undefined {
    return this.status;
  }

  /** Why the node cannot be reached now, or undefined while the stream is up. */
  lastError(): string | undefined {
    return this.error;
  }

  info(): Promise<Status> {
    return this.feed.info();
  }

  rtt(): Promise<RttMatrix> {
    return this.feed.rtt();
  }

  subscribe(listener: (e: SourceEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: SourceEvent): void {
    for (const l of this.listeners) l(e);
  }

  private open(): void {
    if (!this.running) return;
    this.cancel = this.feed.watch(
      (status) => {
        this.status = status;
        this.error = undefined;
        this.emit({ kind: 'status', status });
      },
      (err) => {
        this.cancel = undefined;
        if (!this.running) return;
        this.error = err?.message ?? 'the node closed its status stream';
        this.emit({ kind: 'error', message: this.error });
        this.retry = setTimeout(() => this.open(), this.retryMs);
      },
    );
  }
}
