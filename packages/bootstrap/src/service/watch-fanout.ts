import type { MemberDelta } from '../members/table.js';

/**
 * Live membership changes to every open Watch stream, coalesced. A wave of joins is n changes to
 * up to n streams: written one message per change per stream, that was n²/2 stream writes (each a
 * gRPC frame, an HTTP/2 write and a syscall: ~40 µs), most of a 1,000-node wave's bootstrap CPU,
 * and as many messages for every agent to receive. Here changes wait in one shared list and go
 * out together in a flush:
 * - At rest a change is flushed in the same turn of the event loop (setImmediate): no added delay.
 * - After a fan-out the next waits gapPerWatcherMs for every stream it wrote to (stalled ones
 *   only queue, see FanoutWatcher.stalled) and for every change the
 *   last one carried (within minGapMs..maxGapMs), and at least as long as the last one took. A
 *   fan-out's cost grows with the streams, so stream writes per second stay bounded, handing out
 *   changes takes at most about half the bootstrap's time, and every agent gets at most one
 *   message per gap to apply. Changes that come one at a time wait little (50 ms with 1,000
 *   streams, only when one follows another that closely); a wave, whose fan-outs carry many, is
 *   handed out every maxGapMs (250 ms), in batches that grow with it.
 * - A watcher that asked for batches (WatchRequest.batches) gets a flush's changes as one message
 *   (WatchEvent.batch), encoded once for every watcher that needs the same run of changes; one
 *   that did not gets each change as the message it always was (also encoded once, see encode).
 *   A single change is always the plain message, so its bytes on the wire are what they were.
 */

export interface FanoutWatcher {
  /** Takes a message: `changes` is how many membership changes it carries (the writer's bound counts changes). */
  send(bytes: Buffer, changes: number): void;
  /** Reads WatchEvent.batch. */
  readonly batches: boolean;
  /** This watcher's node was removed by one of the changes just sent: its stream ends (see watch.ts). */
  removed(): void;
  /**
   * Its connection is not taking what it is sent (its writer waits for it to drain): sending it
   * more only queues, so it does not count toward the cost of a fan-out (see fanoutGapMs).
   */
  readonly stalled: boolean;
  readonly name: string;
}

/** Told of each fan-out: how long it took (s), to how many streams, how many changes it carried, and how many of those streams were not stalled. */
export type FanoutListener = (seconds: number, watchers: number, changes: number, flowing: number) => void;

export interface WatchFanoutInit {
  /** A change's own message (shared with catch-up replays, so encoded once). */
  readonly encode: (delta: MemberDelta) => Buffer;
  /** The shortest wait between two flushes while changes keep coming (ms). */
  readonly minGapMs: number;
  /** And per open stream and per change the last fan-out carried (ms): the wait grows with what fan-outs cost, ... */
  readonly gapPerWatcherMs?: number;
  /** ... up to this (ms), unless the last fan-out itself took longer. */
  readonly maxGapMs?: number;
  readonly onFlush?: FanoutListener;
}

interface Subscription {
  readonly watcher: FanoutWatcher;
  /** Where its changes start in the pending list: it caught up to everything before (see add). */
  from: number;
}

export class WatchFanout {
  private pending: MemberDelta[] = [];
  private readonly watchers = new Map<FanoutWatcher, Subscription>();
  private scheduled: 'immediate' | 'timer' | undefined;
  private handle: NodeJS.Immediate | NodeJS.Timeout | undefined;
  /** When the last flush ended and how long it took (performance.now ms). */
  private lastEnd = -Infinity;
  private lastTook = 0;
  private lastChanges = 0;
  /** Streams the last fan-out wrote to that were taking what they were sent. */
  private lastStreams = 0;
  private closed = false;

  constructor(private readonly init: WatchFanoutInit) {}

  /**
   * A watcher from now on: it has caught up to the table as it is (its snapshot or replay was
   * sent in this same synchronous step), so only changes published after this go to it.
   */
  add(watcher: FanoutWatcher): void {
    this.watchers.set(watcher, { watcher, from: this.pending.length });
  }

  remove(watcher: FanoutWatcher): void {
    this.watchers.delete(watcher);
  }

  /** The member table published a change (MemberTable.subscribe). */
  publish(delta: MemberDelta): void {
    if (this.closed) return;
    this.pending.push(delta);
    this.schedule();
  }

  /** Hands every pending change out now (before a resync's snapshot, say). */
  flushNow(): void {
    this.cancel();
    this.flush();
  }

  close(): void {
    this.closed = true;
    this.cancel();
    this.pending = [];
    this.watchers.clear();
  }

  private schedule(): void {
    if (this.scheduled) return;
    const wait = this.lastEnd + fanoutGapMs(this.init, { streams: this.lastStreams, lastTookMs: this.lastTook, lastChanges: this.lastChanges }) - performance.now();
    if (wait <= 0) {
      this.scheduled = 'immediate';
      this.handle = setImmediate(() => this.flushScheduled());
    } else {
      this.scheduled = 'timer';
      this.handle = setTimeout(() => this.flushScheduled(), wait);
    }
  }

  private cancel(): void {
    if (this.scheduled === 'immediate') clearImmediate(this.handle as NodeJS.Immediate);
    else if (this.scheduled === 'timer') clearTimeout(this.handle as NodeJS.Timeout);
    this.scheduled = undefined;
    this.handle = undefined;
  }

  private flushScheduled(): void {
    this.scheduled = undefined;
    this.handle = undefined;
    this.flush();
  }

  private flush(): void {
    const deltas = this.pending;
    if (deltas.length === 0) return;
    this.pending = [];
    const started = performance.now();
    const removedNames = new Set<string>();
    for (const d of deltas) if (d.kind === 'remove') removedNames.add(d.name);
    // The batch for each run of changes a watcher needs (they differ only by where they start).
    const batches = new Map<number, Buffer>();
    let sentTo = 0;
    let flowing = 0;
    for (const sub of [...this.watchers.values()]) {
      const from = sub.from;
      sub.from = 0;
      if (from >= deltas.length) continue;
      sentTo++;
      const { watcher } = sub;
      const count = deltas.length - from;
      if (count === 1) watcher.send(this.init.encode(deltas[from]!), 1);
      else if (watcher.batches) {
        let bytes = batches.get(from);
        if (!bytes) batches.set(from, (bytes = encodeBatch(deltas, from, this.init.encode)));
        watcher.send(bytes, count);
      } else {
        for (let i = from; i < deltas.length; i++) watcher.send(this.init.encode(deltas[i]!), 1);
      }
      if (!watcher.stalled) flowing++;
      // Only live changes end a stream (a resume may replay an old remove the node re-joined since).
      if (removedNames.has(watcher.name) && this.watchers.has(watcher)) watcher.removed();
    }
    this.lastEnd = performance.now();
    this.lastTook = this.lastEnd - started;
    this.lastChanges = deltas.length;
    this.lastStreams = flowing;
    this.init.onFlush?.(this.lastTook / 1000, sentTo, deltas.length, flowing);
  }
}

/** How long after a fan-out ended the next may start: the last one wrote to `streams` flowing streams, took `lastTookMs` and carried `lastChanges`. */
export function fanoutGapMs(init: Pick<WatchFanoutInit, 'minGapMs' | 'gapPerWatcherMs' | 'maxGapMs'>, last: { streams: number; lastTookMs: number; lastChanges: number }): number {
  const grown = Math.min(last.streams * Math.max(1, last.lastChanges) * (init.gapPerWatcherMs ?? 0), init.maxGapMs ?? Infinity);
  return Math.max(init.minGapMs, grown, last.lastTookMs);
}

/**
 * A WatchEvent carrying `deltas[from..]` as a batch, from each change's own encoded message:
 * field 1 (revision, the last change's) and field 6 (batch: a WatchBatch, whose field 1 repeats
 * the events) written around the bytes already encoded, rather than encoding every node again.
 */
export function encodeBatch(deltas: readonly MemberDelta[], from: number, encode: (delta: MemberDelta) => Buffer): Buffer {
  const events: Buffer[] = [];
  let inner = 0;
  for (let i = from; i < deltas.length; i++) {
    const event = encode(deltas[i]!);
    events.push(event);
    inner += 1 + varintLength(event.length) + event.length;
  }
  const revision = deltas[deltas.length - 1]!.revision;
  const out = Buffer.allocUnsafe(1 + varintLength(revision) + 1 + varintLength(inner) + inner);
  let at = 0;
  out[at++] = (1 << 3) | 0;
  at = writeVarint(out, at, revision);
  out[at++] = (6 << 3) | 2;
  at = writeVarint(out, at, inner);
  for (const event of events) {
    out[at++] = (1 << 3) | 2;
    at = writeVarint(out, at, event.length);
    at += event.copy(out, at);
  }
  return out;
}

function varintLength(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    n++;
  }
  return n;
}

/** A non-negative integer below 2^53 as a protobuf varint at `at`; returns where it ended. */
function writeVarint(out: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    out[at++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  out[at++] = value;
  return at;
}
