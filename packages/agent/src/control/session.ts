import { status as grpcStatus } from '@grpc/grpc-js';
import type { Endpoint, JoinResponse__Output, PresharedKey__Output, RttResponse__Output, UpdateRequest, UpdateResponse__Output, WatchEvent__Output } from '../proto/index.js';
import { Backoff } from './backoff.js';
import { ControlCallError, type ControlClient, type WatchHandle } from './client.js';
import { errorMessage, type Logger } from '../log.js';
import { ControlReconnect, JoinCancelled } from '../errors.js';
import type { Timers } from '../timers.js';
import { describeCertificateRefusal, readCertificateRefusal, sameRefusal, type CertificateRefusalState } from './certificate-refusal.js';

/** Fatal join failures: retrying cannot help, the operator must act. */
const PERMANENT_JOIN_CODES = new Set([
  grpcStatus.INVALID_ARGUMENT, grpcStatus.ALREADY_EXISTS, grpcStatus.NOT_FOUND, grpcStatus.PERMISSION_DENIED,
  grpcStatus.RESOURCE_EXHAUSTED, grpcStatus.UNIMPLEMENTED, grpcStatus.UNAUTHENTICATED,
]);

/** Codes with which the bootstrap says it does not (or no longer) know this node as this node. */
const REMOVED_CODES = new Set([grpcStatus.NOT_FOUND, grpcStatus.PERMISSION_DENIED]);

/** A control-plane error that lasts is logged again this often. */
const CONTROL_ERROR_RELOG_MS = 60_000;

/** Counters for tests and benchmarks. */
export interface SessionStats {
  watchConnects: number;
  joins: number;
}

/** Where Watch messages go, and the revision a Watch resumes from: the NetmapApplier. */
export interface MembershipSink {
  readonly netmap: { readonly revision: number };
  receive(event: WatchEvent__Output): void;
}

export interface ControlSessionComponents {
  readonly control: ControlClient;
  readonly membership: MembershipSink;
  readonly logger: Logger;
  readonly timers: Timers;
  /** Injected timers (tests): the join retry's pause uses them too instead of a real timer. */
  readonly injectedTimers?: Timers;
  readonly random?: () => number;
  /**
   * When this node's own client certificate expires (mTLS). The TLS layer refuses an expired one
   * before the bootstrap can say why: a failed call after that time is read as "expired".
   */
  readonly ownCertificateNotAfterMs?: () => number | undefined;
}

export interface ControlSessionInit {
  readonly meshName: string;
  readonly nodeName: string;
  readonly publicKey: string;
  /** Dev mode: what every call proves the node with (nodeSecretFromPrivate). */
  readonly nodeSecret: string;
  /** Shown in logs only. */
  readonly bootstrapAddr?: string;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
}

/** What the session asks of the node around it. */
export interface ControlSessionHooks {
  /** What a Join carries besides the identity, asked again before every attempt (0 is the first). */
  joinRequest(attempt: number): Promise<{ endpoints: Endpoint[]; tags: Readonly<Record<string, string>>; listenPort: number; previousMeshIp?: string }>;
  /** A re-join was answered: the node takes it (moving its device when the IP changed). */
  rejoined(response: JoinResponse__Output): Promise<void>;
  /** `connected` or `controlError` changed. */
  changed(): void;
  /** The bootstrap asked every node for fresh RTT figures until then (its wall clock, ms). Not membership. */
  rttWanted?(untilMs: number): void;
}

/**
 * This node's conversation with its bootstrap: the join (retried with backoff while the bootstrap
 * is unreachable), the Watch stream (resumed from the last revision after it ends), a re-join when
 * the bootstrap no longer knows the node, the node secret every call carries, and the last
 * control-plane error for `info`.
 */
export class ControlSession {
  readonly stats: SessionStats = { watchConnects: 0, joins: 0 };
  private active = false;
  private connectedValue = false;
  private watchHandle: WatchHandle | undefined;
  private watchTimer: unknown;
  private rejoining: Promise<void> | undefined;
  private sleeping: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  private readonly watchBackoff: Backoff;
  private controlErrorValue = '';
  private controlErrorLoggedAt = 0;
  private certificateRefusalValue: CertificateRefusalState | undefined;
  private certificateRefusalLoggedAt = 0;

  private key: { publicKey: string; nodeSecret: string };

  constructor(private readonly components: ControlSessionComponents, private readonly init: ControlSessionInit, private readonly hooks: ControlSessionHooks) {
    this.watchBackoff = this.newBackoff();
    this.key = { publicKey: init.publicKey, nodeSecret: init.nodeSecret };
  }

  /** After a key rotation the bootstrap took: every later call proves the node with the new key. */
  setKey(publicKey: string, nodeSecret: string): void {
    this.key = { publicKey, nodeSecret };
  }

  get connected(): boolean {
    return this.connectedValue;
  }

  /** The last refused or failed control-plane call, '' once calls succeed again (shown by `info`). */
  get controlError(): string {
    return this.controlErrorValue;
  }

  /** Set while the bootstrap refuses this node's own certificate (revoked or expired). */
  get certificateRefusal(): CertificateRefusalState | undefined {
    return this.certificateRefusalValue;
  }

  /** The session may call the bootstrap from now on. */
  start(): void {
    this.active = true;
  }

  /** Ends every stream, timer and pause: a join being retried gives up (JoinCancelled). */
  stop(): void {
    this.active = false;
    this.sleeping?.wake();
    this.components.timers.clearTimeout(this.watchTimer);
    this.watchHandle?.cancel();
    this.watchHandle = undefined;
    this.connectedValue = false;
  }

  /** What every control-plane call names: mesh, node, key, and (dev mode) the node's secret. */
  identity(): { meshName: string; nodeName: string; publicKey: string; nodeSecret: string } {
    return { meshName: this.init.meshName, nodeName: this.init.nodeName, publicKey: this.key.publicKey, nodeSecret: this.key.nodeSecret };
  }

  /**
   * Joins, retrying with backoff while the bootstrap is unreachable; a refusal retrying cannot
   * help is thrown at once. After stop(), throws JoinCancelled with the last attempt's error.
   * Once `noMoreAttempts` is aborted (the node's device failed meanwhile), the attempt in flight
   * still returns its answer, so that the node can leave again, but a failed one is not retried:
   * JoinCancelled with its error.
   */
  async join(noMoreAttempts?: AbortSignal): Promise<JoinResponse__Output> {
    // An abort during the pause between attempts ends the pause.
    const wake = () => this.sleeping?.wake();
    noMoreAttempts?.addEventListener('abort', wake);
    try {
      return await this.joinAttempts(noMoreAttempts);
    } finally {
      noMoreAttempts?.removeEventListener('abort', wake);
    }
  }

  private async joinAttempts(noMoreAttempts: AbortSignal | undefined): Promise<JoinResponse__Output> {
    const backoff = this.newBackoff();
    let attempt = 0;
    let lastError: unknown;
    for (;;) {
      if (!this.active || noMoreAttempts?.aborted) throw new JoinCancelled(lastError);
      try {
        // The connection comes up while the request is made (its endpoints: STUN).
        this.components.control.connectNow?.();
        const request = await this.hooks.joinRequest(attempt++);
        if (!this.active) throw new JoinCancelled(lastError);
        // The first join sends the secret too: a join the bootstrap saved but could not answer
        // (it crashed) is then retried as the same node.
        const response = await this.components.control.join({ ...this.identity(), ...request });
        this.stats.joins++;
        if (!this.active) throw new JoinCancelled(undefined);
        return response;
      } catch (err) {
        if (err instanceof JoinCancelled) throw err;
        // A call cut short by our own stop (its channel closed) says nothing about the bootstrap.
        if (!this.active) throw new JoinCancelled(lastError);
        if (err instanceof ControlCallError && PERMANENT_JOIN_CODES.has(err.code)) throw err;
        lastError = err;
        if (noMoreAttempts?.aborted) throw new JoinCancelled(lastError);
        const wait = backoff.next();
        this.components.logger.warn(`bootstrap unreachable, retrying in ${(wait / 1000).toFixed(1)} s`, { bootstrap: this.init.bootstrapAddr, err: errorMessage(err) });
        await this.sleep(wait);
      }
    }
  }

  /** Opens the membership stream from the node's revision; it is reopened (with backoff) whenever it ends. */
  watch(): void {
    if (!this.active) return;
    const handle = this.components.control.watch(
      // Changes that come together (a wave of joins) may come as one message (WatchEvent.batch).
      { ...this.identity(), sinceRevision: this.components.membership.netmap.revision, batches: true },
      {
        onOpen: () => {
          if (this.watchHandle !== handle) return;
          this.stats.watchConnects++;
          this.connectedValue = true;
          this.watchBackoff.reset();
          this.components.logger.debug('watching membership', { revision: this.components.membership.netmap.revision });
          this.hooks.changed();
        },
        onEvent: (event) => {
          if (this.watchHandle !== handle) return;
          if (event.rttWanted) {
            this.hooks.rttWanted?.(Number(event.rttWanted.untilMs));
            return;
          }
          if (event.batch) {
            for (const change of event.batch.events) this.components.membership.receive(change);
            return;
          }
          this.components.membership.receive(event);
        },
        onEnd: (err) => {
          if (this.watchHandle !== handle) return;
          this.watchHandle = undefined;
          this.connectedValue = false;
          this.hooks.changed();
          if (!this.active) return;
          if (err && REMOVED_CODES.has(err.code)) {
            this.noteControlError(err);
            this.rejoinAfterRemoval(err);
            return;
          }
          const wait = this.watchBackoff.next();
          const log = err instanceof ControlReconnect ? this.components.logger.info.bind(this.components.logger) : this.components.logger.warn.bind(this.components.logger);
          log(`membership stream ended, reconnecting in ${(wait / 1000).toFixed(1)} s`, { err: err ? err.message : 'closed by bootstrap', revision: this.components.membership.netmap.revision });
          this.watchTimer = this.components.timers.setTimeout(() => this.watch(), wait);
        },
      },
    );
    this.watchHandle = handle;
  }

  /** Joins again (one attempt loop at a time): the bootstrap lost or removed this node, or it started from saved state. */
  rejoin(): Promise<void> {
    if (this.rejoining) return this.rejoining;
    this.watchHandle?.cancel();
    this.watchHandle = undefined;
    this.connectedValue = false;
    this.rejoining = this.rejoinOnce().finally(() => {
      this.rejoining = undefined;
    });
    return this.rejoining;
  }

  private async rejoinOnce(): Promise<void> {
    try {
      const response = await this.join();
      if (!this.active) return;
      await this.hooks.rejoined(response);
      this.callSucceeded();
      this.watch();
    } catch (err) {
      if (!this.active) return;
      this.noteControlError(err);
      const wait = this.watchBackoff.next();
      // A refused certificate is logged on its own (once, then periodically): not at every attempt.
      const level = this.certificateRefusalValue ? 'debug' : 'error';
      this.components.logger[level](`re-join failed; trying again in ${(wait / 1000).toFixed(1)} s`, { err: errorMessage(err) });
      this.watchTimer = this.components.timers.setTimeout(() => void this.rejoin(), wait);
    }
  }

  /** An Update (heartbeat or tag change) with this node's identity. */
  async update(request: Omit<UpdateRequest, 'meshName' | 'nodeName' | 'publicKey' | 'nodeSecret'>): Promise<UpdateResponse__Output> {
    return this.components.control.update({ ...this.identity(), ...request });
  }

  /** A heartbeat went through: a control error shown until now is over. */
  callSucceeded(): void {
    if (!this.controlErrorValue) return;
    this.components.logger.info('the bootstrap accepts this node\'s calls again');
    this.controlErrorValue = '';
    this.certificateRefusalValue = undefined;
    this.hooks.changed();
  }

  /**
   * A refused heartbeat is visible: a warning when the reason is new (and once a minute while it
   * lasts), and in `info`. A node the bootstrap no longer knows joins again.
   */
  heartbeatFailed(err: unknown): void {
    if (!this.active) return;
    this.noteControlError(err, 'heartbeat refused');
    if (err instanceof ControlCallError && REMOVED_CODES.has(err.code)) this.rejoinAfterRemoval(err);
  }

  /** The bootstrap does not (or no longer) know this node as itself: it joins again, once. */
  private rejoinAfterRemoval(err: ControlCallError): void {
    if (this.rejoining) return;
    this.components.logger.warn('the bootstrap no longer knows this node; joining again', { err: err.message });
    void this.rejoin();
  }

  /** Tells the bootstrap this node is leaving (so every node drops it at once); a failure is logged, not thrown. */
  async leave(): Promise<void> {
    try {
      await this.components.control.leave(this.identity());
      this.components.logger.info('left the mesh', { node: this.init.nodeName });
    } catch (err) {
      this.components.logger.warn('could not tell the bootstrap we are leaving', { err: errorMessage(err) });
    }
  }

  /** The mesh-wide RTT matrix as the bootstrap has it, or undefined when it cannot be asked now. */
  async meshRtt(options: { fresh?: boolean } = {}): Promise<RttResponse__Output | undefined> {
    try {
      return await this.components.control.rtt({ ...this.identity(), ...(options.fresh ? { fresh: true } : {}) });
    } catch (err) {
      this.components.logger.debug('could not get the RTT matrix from the bootstrap', { err: errorMessage(err) });
      return undefined;
    }
  }

  /** The preshared keys of this node's pairs with the peers of these public keys (rejects as the call does). */
  async presharedKeys(peers: readonly string[]): Promise<PresharedKey__Output[]> {
    const control = this.components.control;
    if (!control.presharedKeys) throw new Error('this control client cannot ask for preshared keys');
    return (await control.presharedKeys({ ...this.identity(), peers: [...peers] })).keys;
  }

  /** Closes the client: the session is over. */
  close(): void {
    this.components.control.close();
  }

  private noteControlError(err: unknown, what?: string): void {
    const message = errorMessage(err);
    const now = Date.now();
    this.noteCertificateRefusal(message, now);
    if (what && (message !== this.controlErrorValue || now - this.controlErrorLoggedAt >= CONTROL_ERROR_RELOG_MS)) {
      this.components.logger.warn(what, { err: message });
      this.controlErrorLoggedAt = now;
    }
    if (message === this.controlErrorValue) return;
    this.controlErrorValue = message;
    this.hooks.changed();
  }

  /**
   * A refusal of this node's own certificate: an error in the log when first seen and once a minute
   * while it lasts, and `info`'s certificate_refusal. The interface stays up: the node keeps
   * trying (a new certificate, or a bootstrap that accepts it, ends it).
   */
  private noteCertificateRefusal(message: string, now: number): void {
    const notAfter = this.components.ownCertificateNotAfterMs?.();
    const read = readCertificateRefusal(message, now) ??
      (notAfter !== undefined && notAfter > 0 && notAfter <= now ? { state: 'expired' as const, serial: '', sinceMs: now, message } : undefined);
    if (!read) return;
    const same = sameRefusal(this.certificateRefusalValue, read);
    if (!same) this.certificateRefusalValue = read;
    if (!same || now - this.certificateRefusalLoggedAt >= CONTROL_ERROR_RELOG_MS) {
      this.certificateRefusalLoggedAt = now;
      this.components.logger.error(
        `this node's certificate is ${describeCertificateRefusal(this.certificateRefusalValue!)}: the bootstrap refuses its calls and other nodes have dropped it. ` +
          'Get a new certificate for it (a new `wgmesh token` and `wgmesh join -token`, or `wgmesh ca issue`) and restart it',
        { node: this.init.nodeName, serial: read.serial, err: message },
      );
    }
    if (!same) this.hooks.changed();
  }

  private newBackoff(): Backoff {
    return new Backoff(this.init.backoffInitialMs, this.init.backoffMaxMs, this.components.random);
  }

  /**
   * The pause between join attempts. A real, ref'd timer on purpose: before the first join
   * nothing else (no device, no socket) keeps the process alive while it retries. stop() wakes it.
   */
  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleeping = undefined;
        resolve();
      };
      const injected = this.components.injectedTimers;
      const timer = injected ? (injected.setTimeout(wake, ms) as NodeJS.Timeout) : setTimeout(wake, ms);
      this.sleeping = { timer, wake };
    });
  }
}
