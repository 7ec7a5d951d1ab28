import { status as grpcStatus } from '@grpc/grpc-js';
import type { JoinRequest, LeaveRequest, PresharedKeysRequest, RenewRequest, RttMatrixRequest, UpdateRequest, WatchRequest } from '../proto/index.js';
import { ControlCallError, type ControlClient, type WatchCallbacks, type WatchHandle } from './client.js';
import { ControlReconnect } from '../errors.js';
import { errorMessage, silentLogger, type Logger } from '../log.js';
import { defaultTimers, type Timers } from '../timers.js';

/** gRPC codes that say the bootstrap could not be reached or did not answer in time: another may. */
const UNREACHABLE_CODES = new Set([grpcStatus.UNAVAILABLE, grpcStatus.DEADLINE_EXCEEDED]);

/** Socket errors (outside a gRPC status) that mean the same. */
const UNREACHABLE_ERRNO = /\b(ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|EPIPE)\b/;

/** The first Watch after a move waits up to this long (uniformly at random), so a dead bootstrap's agents do not all arrive at once. */
export const FAILOVER_JITTER_MS = 1000;

/**
 * True when a call failed because its bootstrap is unreachable (UNAVAILABLE, DEADLINE_EXCEEDED, a
 * refused or reset connection): the next bootstrap may answer. Answers (PERMISSION_DENIED,
 * NOT_FOUND, INVALID_ARGUMENT, …) are the mesh's verdict and would be the same on any bootstrap.
 */
export function isUnreachable(err: unknown): boolean {
  if (err instanceof ControlCallError) return UNREACHABLE_CODES.has(err.code);
  return UNREACHABLE_ERRNO.test(errorMessage(err));
}

/** One bootstrap the agent can talk to. */
export interface ControlTarget {
  /** How `info` and the logs name it; also what tells targets apart when they are resolved again. */
  readonly name: string;
}

export interface FailoverComponents<T extends ControlTarget> {
  /** A client for one target (made once per target, closed when the target goes away or on close()). */
  connect(target: T): ControlClient;
  /** The targets anew (host names resolved again), asked when every known target failed in a row. */
  resolve?(): Promise<readonly T[]>;
  readonly logger?: Logger;
  readonly timers?: Timers;
  readonly random?: () => number;
}

export interface FailoverInit<T extends ControlTarget> {
  /** In the order they are tried; at least one. */
  readonly targets: readonly T[];
  /** The first Watch after a move waits a random part of this; default FAILOVER_JITTER_MS. */
  readonly jitterMs?: number;
  /** Which target to start with (modulo their number); default the first. See spreadIndex. */
  readonly firstIndex?: number;
}

/**
 * A start position in a list of `count` bootstraps that differs from node to node but is stable
 * for one: a fleet given the same list spreads over all of them instead of crowding the first.
 */
export function spreadIndex(key: string, count: number): number {
  let hash = 0x811c9dc5; // FNV-1a
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return count > 0 ? hash % count : 0;
}

interface Entry<T> {
  readonly target: T;
  readonly client: ControlClient;
}

interface OpenWatch<T> {
  readonly entry: Entry<T>;
  /** Ends the stream here and tells the session (which reconnects, from its revision, to the current target). */
  end(err: ControlCallError): void;
}

/**
 * A control client over a list of bootstraps that serve one mesh. Every call goes to the current
 * one. When it is unreachable (isUnreachable), the client moves to the next (round-robin) and:
 * a unary call is tried once on each target before its error is thrown (the session's backoff
 * then applies); a Watch open on the old target is ended, so the session reconnects to the new
 * one from the last revision it saw (since_revision means the same on every bootstrap of a mesh),
 * after a random pause of up to jitterMs. Answers that refuse a call are passed on unchanged and
 * never move the client. When every target failed in a row, the targets are resolved again.
 * With one target it behaves exactly as that target's client.
 */
export class FailoverControlClient<T extends ControlTarget> implements ControlClient {
  private entries: Entry<T>[];
  private index = 0;
  /** Moves since a call last succeeded: once every target has failed, they are resolved again. */
  private failuresInRow = 0;
  /** The next Watch is the first since a move: it waits a random pause first. */
  private jitterNextWatch = false;
  private resolving: Promise<void> | undefined;
  private closed = false;
  private readonly watches = new Set<OpenWatch<T>>();
  private readonly logger: Logger;
  private readonly timers: Timers;
  private readonly random: () => number;
  private readonly jitterMs: number;

  constructor(private readonly components: FailoverComponents<T>, init: FailoverInit<T>) {
    if (init.targets.length === 0) throw new Error('FailoverControlClient needs at least one target');
    this.logger = components.logger ?? silentLogger();
    this.timers = components.timers ?? defaultTimers;
    this.random = components.random ?? Math.random;
    this.jitterMs = init.jitterMs ?? FAILOVER_JITTER_MS;
    this.entries = uniqueByName(init.targets).map((target) => ({ target, client: components.connect(target) }));
    this.index = (init.firstIndex ?? 0) % this.entries.length;
  }

  /** The target calls go to now. */
  get current(): T {
    return this.entries[this.index]!.target;
  }

  /** Every known target, in the order they are tried. */
  get targets(): readonly T[] {
    return this.entries.map((e) => e.target);
  }

  /** For `info`: the current target's name and all of them. */
  bootstrap(): { current: string; all: string[] } {
    return { current: this.current.name, all: this.entries.map((e) => e.target.name) };
  }

  join(req: JoinRequest) {
    return this.call((c) => c.join(req));
  }

  connectNow(): void {
    this.entries[this.index]!.client.connectNow?.();
  }

  update(req: UpdateRequest) {
    return this.call((c) => c.update(req));
  }

  leave(req: LeaveRequest) {
    return this.call((c) => c.leave(req));
  }

  rtt(req: RttMatrixRequest) {
    return this.call((c) => c.rtt(req));
  }

  presharedKeys(req: PresharedKeysRequest) {
    return this.call(async (c) => {
      if (!c.presharedKeys) throw new Error('this control client cannot ask for preshared keys');
      return c.presharedKeys(req);
    });
  }

  renew(req: RenewRequest) {
    return this.call(async (c) => {
      if (!c.renew) throw new Error('this control client cannot renew certificates');
      return c.renew(req);
    });
  }

  /**
   * Every target gets a new client (connect() again: it reads the credentials in force now, e.g. a
   * renewed certificate); the old ones are closed, and a Watch open on one ends with UNAVAILABLE
   * so the session reconnects (from its revision) over the new one. Nothing else is touched.
   */
  reconnect(reason: string): void {
    if (this.closed) return;
    const old = this.entries;
    this.entries = old.map((e) => ({ target: e.target, client: this.components.connect(e.target) }));
    for (const e of old) {
      for (const w of [...this.watches]) if (w.entry === e) w.end(new ControlReconnect(grpcStatus.UNAVAILABLE, `${reason}; reconnecting`, 'Watch'));
      e.client.close();
    }
    this.logger.info(`${reason}: new connections to the bootstraps`, { bootstraps: this.entries.length });
  }

  watch(req: WatchRequest, callbacks: WatchCallbacks): WatchHandle {
    const entry = this.entries[this.index]!;
    let inner: WatchHandle | undefined;
    let done = false;
    let timer: unknown;
    const finish = () => {
      done = true;
      this.timers.clearTimeout(timer);
      this.watches.delete(open);
    };
    const open: OpenWatch<T> = {
      entry,
      end: (err) => {
        if (done) return;
        finish();
        inner?.cancel();
        callbacks.onEnd(err);
      },
    };
    const start = () => {
      inner = entry.client.watch(req, {
        onOpen: () => {
          if (done) return;
          this.succeeded();
          callbacks.onOpen();
        },
        onEvent: (event) => {
          if (!done) callbacks.onEvent(event);
        },
        onEnd: (err) => {
          if (done) return;
          finish();
          if (err && isUnreachable(err)) this.failed(entry, err);
          callbacks.onEnd(err);
        },
      });
      // A client may end the stream before returning it: cancel what it returned late.
      if (done) inner.cancel();
    };
    this.watches.add(open);
    const wait = this.jitterNextWatch && this.jitterMs > 0 ? Math.round(this.random() * this.jitterMs) : 0;
    this.jitterNextWatch = false;
    if (wait > 0) {
      this.logger.debug('watching the next bootstrap after a pause', { bootstrap: entry.target.name, waitMs: wait });
      timer = this.timers.setTimeout(start, wait);
    } else {
      start();
    }
    return {
      cancel: () => {
        if (done) return;
        finish();
        inner?.cancel();
      },
    };
  }

  close(): void {
    this.closed = true;
    for (const w of [...this.watches]) w.end(new ControlCallError(grpcStatus.CANCELLED, 'client closed', 'Watch'));
    for (const e of this.entries) e.client.close();
  }

  /** A unary call on the current target, then on each next one while they are unreachable; the last error when none answered. */
  private async call<R>(fn: (client: ControlClient) => Promise<R>): Promise<R> {
    let lastError: unknown;
    const tried = new Set<Entry<T>>();
    for (;;) {
      const entry = this.entries[this.index]!;
      if (tried.has(entry)) throw lastError;
      tried.add(entry);
      try {
        const result = await fn(entry.client);
        this.succeeded();
        return result;
      } catch (err) {
        if (!isUnreachable(err)) {
          // An answer: the bootstrap is there, and another would answer the same.
          if (err instanceof ControlCallError) this.succeeded();
          throw err;
        }
        lastError = err;
        this.failed(entry, err);
      }
    }
  }

  private succeeded(): void {
    this.failuresInRow = 0;
  }

  /** `entry` was unreachable: when it is still the current one, move on to the next. */
  private failed(entry: Entry<T>, err: unknown): void {
    if (this.closed || this.entries[this.index] !== entry) return;
    this.failuresInRow++;
    if (this.entries.length > 1) {
      this.index = (this.index + 1) % this.entries.length;
      const next = this.entries[this.index]!;
      this.jitterNextWatch = true;
      this.logger.warn(`bootstrap ${entry.target.name} unreachable; moving to ${next.target.name}`, { bootstrap: entry.target.name, err: errorMessage(err) });
      // The Watch there ends: the session reconnects to the new target from its revision.
      for (const w of [...this.watches]) {
        if (w.entry === entry) w.end(new ControlCallError(grpcStatus.UNAVAILABLE, `bootstrap ${entry.target.name} unreachable; moving to ${next.target.name}`, 'Watch'));
      }
    }
    if (this.failuresInRow >= this.entries.length) {
      this.failuresInRow = 0;
      if (this.entries.length > 1) this.logger.warn('every bootstrap is unreachable; retrying them in turn', { bootstraps: this.entries.length });
      void this.resolveAgain();
    }
  }

  /** Resolves the targets again (once at a time); clients of targets still listed are kept. */
  private resolveAgain(): Promise<void> {
    const resolve = this.components.resolve;
    if (!resolve || this.resolving) return this.resolving ?? Promise.resolve();
    this.resolving = resolve.call(this.components)
      .then((targets) => {
        if (this.closed || targets.length === 0) return;
        this.replaceTargets(uniqueByName(targets));
      })
      .catch((err: unknown) => {
        this.logger.debug('could not resolve the bootstraps again', { err: errorMessage(err) });
      })
      .finally(() => {
        this.resolving = undefined;
      });
    return this.resolving;
  }

  private replaceTargets(targets: readonly T[]): void {
    const before = new Map(this.entries.map((e) => [e.target.name, e]));
    const current = this.entries[this.index]!;
    const entries = targets.map((target) => before.get(target.name) ?? { target, client: this.components.connect(target) });
    const kept = new Set(entries);
    for (const e of this.entries) {
      if (kept.has(e)) continue;
      for (const w of [...this.watches]) if (w.entry === e) w.end(new ControlCallError(grpcStatus.UNAVAILABLE, `bootstrap ${e.target.name} no longer resolves`, 'Watch'));
      e.client.close();
    }
    const changed = entries.length !== this.entries.length || entries.some((e, i) => e !== this.entries[i]);
    this.entries = entries;
    this.index = Math.max(0, entries.indexOf(current));
    if (changed) this.logger.info('bootstraps resolved again', { bootstraps: entries.map((e) => e.target.name).join(', ') });
  }
}

function uniqueByName<T extends ControlTarget>(targets: readonly T[]): T[] {
  const seen = new Set<string>();
  return targets.filter((t) => !seen.has(t.name) && seen.add(t.name));
}
