import type { Writable } from 'node:stream';

/** How far one watcher may fall behind before its stream is ended (defaults in constants.ts). */
export interface WatchQueueLimits {
  /** Live changes sent to the stream and not yet flushed to its connection. */
  readonly maxEvents: number;
  /** The same, in encoded bytes. */
  readonly maxBytes: number;
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
   * replay is bounded by the history), only the live changes queued behind them are.
   */
  send(bytes: Buffer, catchUp: boolean): void;
  /** Stops sending and drops what is queued (the stream ended or was cancelled). */
  close(): void;
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
export function createWatchWriter(stream: Writable, limits: WatchQueueLimits, onOverflow: (lag: WatchLag) => void): WatchWriter {
  const queue: { bytes: Buffer; live: boolean }[] = [];
  let head = 0;
  let events = 0;
  let bytes = 0;
  let waitingForDrain = false;
  let closed = false;

  const flushed = (chunk: Buffer) => () => {
    events--;
    bytes -= chunk.length;
  };

  function pump(): void {
    waitingForDrain = false;
    while (!closed && head < queue.length) {
      const item = queue[head]!;
      queue[head++] = undefined as never;
      const room = stream.write(item.bytes, item.live ? flushed(item.bytes) : undefined);
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

  function close(): void {
    if (closed) return;
    closed = true;
    queue.length = 0;
    head = 0;
    stream.removeListener('drain', pump);
  }

  return {
    send(chunk, catchUp) {
      if (closed) return;
      if (!catchUp) {
        events++;
        bytes += chunk.length;
        if (events > limits.maxEvents || bytes > limits.maxBytes) {
          const lag = { events, bytes };
          close();
          onOverflow(lag);
          return;
        }
      }
      queue.push({ bytes: chunk, live: !catchUp });
      if (!waitingForDrain) pump();
    },
    close,
  };
}
