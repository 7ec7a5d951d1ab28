import { Metadata, type ServerWritableStream } from '@grpc/grpc-js';
import type { Writable } from 'node:stream';
import { loadProtos } from '@wgmesh/agent/proto/load';
import { type Logger } from '@wgmesh/agent/log';
import { type MeshHandlers } from '@wgmesh/agent/proto/gen/wgmesh/v1/Mesh';
import { type WatchEvent } from '@wgmesh/agent/proto/gen/wgmesh/v1/WatchEvent';
import { type WatchRequest__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/WatchRequest';
import { deltaToEvent, type Identity, type MemberDelta, type MemberTable } from '../members/table.js';
import { WatchFanout, type FanoutListener, type FanoutWatcher } from './watch-fanout.js';
import type { MeshNode } from '@wgmesh/agent/netmap/netmap';
import { NodeNotFound, WatcherFellBehind } from '../errors.js';
import type { ServerSurfaceCall } from './auth.js';
import { toServiceError } from './status.js';
import type { EncodedMembership } from './membership-bytes.js';
import type { SendBudget } from './send-budget.js';

/**
 * The server side of Mesh.Watch: who may watch, list-and-watch from the member table
 * (MemberTable.watch), each change encoded once for every watcher, and a bounded queue per
 * watcher (createWatchWriter) so a watcher that stops reading is cut off rather than buffered for.
 */

export interface WatchServiceComponents {
  readonly table: MemberTable;
  /** The node a call acts for and its proof of identity, checked as for every Mesh call. */
  readonly caller: (call: ServerSurfaceCall, req: WatchRequest__Output) => { name: string; identity: Identity };
  readonly logger: Logger;
  /** Counters the service keeps: open watchers, changes sent (one per change per watcher), watchers cut off. */
  readonly stats: { watchers: number; eventsSent: number; watchersFellBehind: number };
  /** Snapshots encoded once per revision (shared with Join's answers). */
  readonly membership?: EncodedMembership;
  /** Bytes of whole-membership answers in flight (shared with Join's answers); none: unbounded. */
  readonly budget?: SendBudget;
  /** Told of each fan-out of live changes. */
  readonly onFanout?: FanoutListener;
}

/** The Watch handler, and what ends every open stream (the bootstrap stopping). */
export function createWatchHandler(components: WatchServiceComponents, limits: WatchQueueLimits): { Watch: MeshHandlers['Watch']; closeWatchers(): void } {
  const { table, caller, logger, stats, membership, budget } = components;
  /** Each open Watch stream, with what stops sending to it. */
  const openStreams = new Map<ServerWritableStream<WatchRequest__Output, WatchEvent>, () => void>();
  const serializeEvent = loadProtos().mesh.wgmesh.v1.Mesh.service.Watch.responseSerialize;
  /** Each change's encoded event, kept while the change is (in the table's history). */
  const encoded = new WeakMap<MemberDelta, Buffer>();
  function encodedDelta(delta: MemberDelta): Buffer {
    let bytes = encoded.get(delta);
    if (!bytes) encoded.set(delta, (bytes = serializeEvent(deltaToEvent(delta))));
    return bytes;
  }
  // Live changes go to every stream through one fan-out, coalesced while they come fast.
  const fanout = new WatchFanout({ encode: encodedDelta, minGapMs: limits.flushMinGapMs, gapPerWatcherMs: limits.flushGapPerWatcherMs, maxGapMs: limits.flushMaxGapMs, ...(components.onFanout ? { onFlush: components.onFanout } : {}) });
  const stopPublishing = table.subscribe((delta) => fanout.publish(delta));

  const Watch: MeshHandlers['Watch'] = (call) => {
    const req: WatchRequest__Output = call.request;
    let unsubscribe: (() => void) | undefined;
    let name: string;
    try {
      let identity: Identity;
      ({ name, identity } = caller(call, req));
      // Only members may watch, and only as themselves.
      table.authorize(name, identity);
    } catch (err) {
      call.emit('error', toServiceError(err));
      return;
    }

    // Headers now, so the agent knows the stream is up even when there is nothing to send yet.
    call.sendMetadata(new Metadata());
    // What this watcher has not read is bounded: past the limit its stream ends, and it resumes
    // from its revision on reconnect.
    const writer = createWatchWriter(call, limits, (lag) => {
      stats.watchersFellBehind++;
      logger.warn('watcher fell behind; ending its stream (it resumes from its revision on reconnect)', { node: name, events: lag.events, bytes: lag.bytes, revision: table.revision });
      endWith(new WatcherFellBehind(name, lag.events, lag.bytes));
    });
    /** A snapshot of the membership now, for a stream's start or a resync. */
    const sendSnapshot = (event: WatchEvent, catchUp: boolean) => {
      stats.eventsSent++;
      const snapshot = membership && event.snapshot ? membership.snapshotEvent(Number(event.revision), event.snapshot.nodes as MeshNode[]) : undefined;
      // A stream's first snapshot (the whole membership: 1.2 MB at 10,000 nodes, and grpc-js copies
      // it per watcher) waits for room in the budget Join answers go under, so that many watchers
      // starting at once hold a bounded number of copies.
      if (snapshot && catchUp && budget) writer.sendHeld(snapshot, (go) => budget.take(snapshot.length, go));
      else writer.send(snapshot ?? serializeEvent(event), catchUp);
    };
    // Catching up and joining the fan-out happen in one synchronous step: no change falls between.
    table.catchUp(Number(req.sinceRevision), (event, delta) => {
      if (!delta) return sendSnapshot(event, true);
      stats.eventsSent++;
      writer.send(encodedDelta(delta), true);
    });
    const watcher: FanoutWatcher = {
      name,
      batches: req.batches,
      send(bytes, changes) {
        stats.eventsSent += changes;
        writer.send(bytes, false, changes);
      },
      // A node removed (left, reaped, revoked) is told so at once, and re-joins or says why it cannot.
      removed: () => endWith(new NodeNotFound(name)),
      get stalled() {
        return writer.stalled;
      },
    };
    fanout.add(watcher);
    // The table re-read a shared store whose history was gone: the changes before, then the whole membership anew.
    const stopResync = table.onResync(() => {
      fanout.flushNow();
      sendSnapshot(table.snapshotEvent(), false);
    });
    unsubscribe = () => {
      fanout.remove(watcher);
      stopResync();
    };

    // Not membership: written as it comes, outside the history and its revisions.
    const stopRttWanted = table.onRttWanted((untilMs) => writer.send(serializeEvent({ revision: 0, rttWanted: { untilMs } }), false));
    stats.watchers++;
    openStreams.set(call, finish);
    /** Ends the stream with the error's status, sending nothing more. */
    function endWith(err: Error): void {
      finish();
      call.emit('error', toServiceError(err));
    }
    function finish(): void {
      writer.close();
      stopRttWanted();
      if (!unsubscribe) return;
      unsubscribe();
      unsubscribe = undefined;
      stats.watchers--;
      openStreams.delete(call);
    }
    call.on('cancelled', finish);
    call.on('close', finish);
    call.on('error', finish);
  };

  return {
    Watch,
    closeWatchers() {
      stopPublishing();
      fanout.close();
      for (const [call, finish] of openStreams) {
        finish();
        call.end();
      }
    },
  };
}

interface Held {
  ready: boolean;
  release?: () => void;
}

interface QueuedEvent {
  readonly bytes: Buffer;
  /** Live changes it carries (0: catch-up, not counted). */
  readonly live: number;
  readonly held?: Held;
}

/** How far one watcher may fall behind before its stream is ended (defaults in constants.ts). */
export interface WatchQueueLimits {
  /** Live changes sent to the stream and not yet flushed to its connection. */
  readonly maxEvents: number;
  /** The same, in encoded bytes. */
  readonly maxBytes: number;
  /** The shortest wait between two fan-outs of live changes while they keep coming, and per open stream (WatchFanout). */
  readonly flushMinGapMs: number;
  readonly flushGapPerWatcherMs: number;
  readonly flushMaxGapMs: number;
}

/** What a watcher had waiting, unflushed, when it crossed a limit. */
export interface WatchLag {
  readonly events: number;
  readonly bytes: number;
}

export interface WatchWriter {
  /**
   * Sends one encoded event. `catchUp` marks the snapshot or replayed deltas a stream starts
   * with: they are not counted (a snapshot of a large mesh is one event of megabytes, and a
   * replay is bounded by the history), only the live changes queued behind them are; a message
   * carrying several (a batch) counts as `changes`.
   */
  send(bytes: Buffer, catchUp: boolean, changes?: number): void;
  /**
   * Queues a catch-up event that may be written only once `hold` lets it (a snapshot waiting for
   * room in the bootstrap's SendBudget): `hold(go)` calls `go` when it may go out and returns the
   * release, called once the event was flushed or the writer closed. Events sent after it wait
   * behind it (live ones counted as usual).
   */
  sendHeld(bytes: Buffer, hold: (go: () => void) => () => void): void;
  /** Stops sending and drops what is queued (the stream ended or was cancelled). */
  close(): void;
  /** The stream is not taking more now: what is sent waits in this writer's queue. */
  readonly stalled: boolean;
}

/**
 * Writes a watcher's events with a bound on what it may hold. grpc-js buffers every write a
 * stream cannot flush (its Writable is in object mode: writableLength counts messages, and a
 * write's callback fires once HTTP/2 flow control let it out to the socket), so a watcher that
 * stops reading would hold every later change. Here events go to the stream only while write()
 * says it has room (up to its high-water mark of 16 messages); the rest wait in this queue. Live
 * events are counted from send() until their write callback; when the count passes a limit the
 * queue is dropped and `onOverflow` ends the stream, whose status then follows the few messages
 * already handed to grpc-js.
 */
export function createWatchWriter(stream: Writable, limits: Pick<WatchQueueLimits, 'maxEvents' | 'maxBytes'>, onOverflow: (lag: WatchLag) => void): WatchWriter {
  const queue: QueuedEvent[] = [];
  /** Held events granted or waiting: each one's release is due once it is flushed, or at close. */
  const holding = new Set<Held>();
  let head = 0;
  let events = 0;
  let bytes = 0;
  let waitingForDrain = false;
  let closed = false;

  const flushed = (chunk: Buffer, changes: number) => () => {
    events -= changes;
    bytes -= chunk.length;
  };

  function pump(): void {
    waitingForDrain = false;
    while (!closed && head < queue.length) {
      const item = queue[head]!;
      // A held event not let out yet: it and everything behind it wait for its go.
      if (item.held && !item.held.ready) break;
      queue[head++] = undefined as never;
      const held = item.held;
      const done = held ? () => releaseHeld(held) : item.live ? flushed(item.bytes, item.live) : undefined;
      const room = stream.write(item.bytes, done);
      if (!room) {
        waitingForDrain = true;
        stream.once('drain', pump);
        break;
      }
    }
    // Reuse the array once it is empty, rather than shifting it one element at a time.
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    }
  }

  function releaseHeld(held: Held): void {
    if (!holding.delete(held)) return;
    held.release?.();
  }

  function close(): void {
    if (closed) return;
    closed = true;
    queue.length = 0;
    head = 0;
    stream.removeListener('drain', pump);
    for (const held of [...holding]) releaseHeld(held);
  }

  return {
    send(chunk, catchUp, changes = 1) {
      if (closed) return;
      if (!catchUp) {
        events += changes;
        bytes += chunk.length;
        if (events > limits.maxEvents || bytes > limits.maxBytes) {
          const lag = { events, bytes };
          close();
          onOverflow(lag);
          return;
        }
      }
      queue.push({ bytes: chunk, live: catchUp ? 0 : changes });
      if (!waitingForDrain) pump();
    },
    sendHeld(chunk, hold) {
      if (closed) return;
      const held: Held = { ready: false };
      holding.add(held);
      queue.push({ bytes: chunk, live: 0, held });
      const release = hold(() => {
        held.ready = true;
        if (!waitingForDrain) pump();
      });
      // Closed meanwhile (or while go ran): give the room back at once.
      if (holding.has(held)) held.release = release;
      else release();
    },
    close,
    get stalled() {
      return waitingForDrain;
    },
  };
}
