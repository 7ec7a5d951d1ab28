/**
 * A resumable watch of one etcd key prefix, on etcd's Watch stream directly. (etcd3's own Watcher
 * resumes after a reconnect from the response header's revision, which can lie past events not yet
 * delivered, and hides a compaction behind a generic error; here the resume point is the last
 * event delivered, and a compacted start is a value.)
 */
import type { Etcd3, IDuplexStream, IWatchRequest, IWatchResponse } from 'etcd3';

export type RawWatchEvent =
  | { readonly type: 'put'; readonly key: string; readonly value: Buffer; readonly revision: number }
  | { readonly type: 'delete'; readonly key: string; readonly revision: number }
  /** etcd no longer has the revisions asked for (compacted up to `compactRevision`): the watch has ended. */
  | { readonly type: 'compacted'; readonly compactRevision: number }
  /** Every change up to `revision` has been delivered (the answer to requestProgress). */
  | { readonly type: 'progress'; readonly revision: number };

export interface PrefixWatchInit {
  readonly prefix: string;
  /** Deliver changes with a mod revision above this one. */
  readonly afterRevision: number;
  readonly onEvent: (event: RawWatchEvent) => void;
  /** Connected (or reconnected) and watching; lost the stream (it retries by itself, with backoff). */
  readonly onStatus?: (status: 'watching' | 'disconnected', err?: Error) => void;
  readonly backoffMs: { readonly initial: number; readonly max: number };
}

export interface PrefixWatch {
  /** The mod revision of the last change delivered (afterRevision until the first). */
  readonly revision: number;
  /** Asks etcd for a 'progress' event: it comes after every change up to etcd's current revision. False while disconnected. */
  requestProgress(): boolean;
  stop(): Promise<void>;
}

/** The end of the key range holding every key that starts with `prefix`. */
export function prefixRangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

export function watchPrefix(client: Etcd3, init: PrefixWatchInit): PrefixWatch {
  const key = Buffer.from(init.prefix);
  let last = init.afterRevision;
  let stopped = false;
  let stream: IDuplexStream<IWatchRequest, IWatchResponse> | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let backoff = init.backoffMs.initial;

  const finish = () => {
    stopped = true;
    clearTimeout(retryTimer);
    const s = stream;
    stream = undefined;
    s?.cancel();
  };

  const lost = (s: IDuplexStream<IWatchRequest, IWatchResponse>, err: Error) => {
    if (stopped || stream !== s) return;
    stream = undefined;
    s.cancel();
    init.onStatus?.('disconnected', err);
    retryTimer = setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, init.backoffMs.max);
  };

  function connect(): void {
    if (stopped) return;
    client.watchClient.watch().then(
      (s) => {
        if (stopped) {
          s.cancel();
          return;
        }
        stream = s;
        s.on('data', (res) => {
          if (stopped || stream !== s) return;
          const compactRevision = Number(res.compact_revision ?? 0);
          if (compactRevision > 0) {
            finish();
            init.onEvent({ type: 'compacted', compactRevision });
            return;
          }
          if (res.canceled) {
            lost(s, new Error(`etcd canceled the watch${res.cancel_reason ? `: ${res.cancel_reason}` : ''}`));
            return;
          }
          if (res.created) {
            backoff = init.backoffMs.initial;
            init.onStatus?.('watching');
          }
          const events = res.events ?? [];
          if (events.length === 0 && !res.created) {
            // A progress answer: etcd sends it once every event up to this revision is out.
            init.onEvent({ type: 'progress', revision: Number(res.header.revision) });
            return;
          }
          for (const ev of events) {
            const revision = Number(ev.kv.mod_revision);
            if (revision < last) continue; // never deliver a change twice across a resume
            last = revision;
            const evKey = ev.kv.key.toString();
            init.onEvent(String(ev.type).toLowerCase() === 'delete' ? { type: 'delete', key: evKey, revision } : { type: 'put', key: evKey, value: ev.kv.value, revision });
            if (stopped) return;
          }
        });
        s.on('error', (err) => lost(s, err));
        s.on('end', () => lost(s, new Error('etcd ended the watch stream')));
        // Resume after the last change delivered: etcd's start revision is inclusive.
        s.write({ create_request: { key, range_end: prefixRangeEnd(key), start_revision: String(last + 1) } });
      },
      (err: Error) => {
        if (stopped) return;
        init.onStatus?.('disconnected', err);
        retryTimer = setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, init.backoffMs.max);
      },
    );
  }

  connect();
  return {
    get revision() {
      return last;
    },
    requestProgress() {
      if (!stream || stopped) return false;
      stream.write({ progress_request: {} });
      return true;
    },
    async stop() {
      finish();
    },
  };
}
