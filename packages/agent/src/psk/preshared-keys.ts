import type { PresharedKey__Output } from '../proto/index.js';
import { Backoff } from '../control/backoff.js';
import { errorMessage, silentLogger, type Logger } from '../log.js';
import { defaultTimers, type Timers } from '../timers.js';
import { SHARED_LIMITS } from '../limits.js';

export interface PresharedKeysComponents {
  /** Asks the bootstrap for the keys of this node's pairs with these peers (Mesh.PresharedKeys). */
  readonly fetch: (peers: readonly string[]) => Promise<readonly PresharedKey__Output[]>;
  readonly logger?: Logger;
  readonly timers?: Timers;
  readonly random?: () => number;
}

export interface PresharedKeysInit {
  /** Public keys per call; default (and at most) SHARED_LIMITS.presharedKeysPeersMax. */
  readonly batch?: number;
  readonly retryInitialMs?: number;
  readonly retryMaxMs?: number;
}

/**
 * This node's preshared key with each peer, when its mesh has them (bootstrap -psk; the join
 * answer says so). Kept in memory only: never saved, logged or shown. `sync` is given the peers'
 * public keys whenever the membership changes; it forgets the keys of peers gone (or whose key
 * rotated away), asks the bootstrap for the missing ones in bounded batches, and calls `arrived`
 * with the public keys it learned. Peers the bootstrap did not answer for (not members there yet)
 * or a failed call are asked again with backoff.
 *
 * While a peer's key is missing it is `pending`, and WireGuard leaves it out: a tunnel without its
 * preshared key would only fail handshakes against the other end, which has one.
 */
export class PresharedKeys {
  private enabledValue = false;
  private readonly keys = new Map<string, string>();
  private wanted: readonly string[] = [];
  private running: Promise<void> | undefined;
  private again = false;
  private retryTimer: unknown;
  private closed = false;
  private readonly backoff: Backoff;
  private readonly logger: Logger;
  private readonly timers: Timers;
  private readonly batch: number;
  /** Bumped when this node's own key changes: answers to calls made before are stale. */
  private generation = 0;

  constructor(private readonly components: PresharedKeysComponents, init: PresharedKeysInit = {}, private readonly arrived: (publicKeys: string[]) => void = () => {}) {
    this.logger = components.logger ?? silentLogger();
    this.timers = components.timers ?? defaultTimers;
    this.batch = Math.max(1, Math.min(init.batch ?? SHARED_LIMITS.presharedKeysPeersMax, SHARED_LIMITS.presharedKeysPeersMax));
    this.backoff = new Backoff(init.retryInitialMs ?? 500, init.retryMaxMs ?? 30_000, components.random);
  }

  /** Whether the mesh gives out preshared keys (from the latest join answer). */
  get enabled(): boolean {
    return this.enabledValue;
  }

  set enabled(on: boolean) {
    if (on === this.enabledValue) return;
    this.enabledValue = on;
    if (!on) {
      this.keys.clear();
      this.timers.clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
  }

  /** The key of this node's pair with the peer of this public key, if known. */
  keyFor(publicKey: string): string | undefined {
    return this.enabledValue ? this.keys.get(publicKey) : undefined;
  }

  /** True when the mesh has preshared keys and this peer's is not known yet. */
  pending(publicKey: string): boolean {
    return this.enabledValue && !this.keys.has(publicKey);
  }

  /** How many peers' keys are known (for status and tests; never the keys). */
  get size(): number {
    return this.keys.size;
  }

  /**
   * The peers are these public keys now: forget the others' keys and fetch the missing ones.
   * Resolves when this round of calls is done (failures are retried later, never thrown).
   */
  sync(peerKeys: readonly string[]): Promise<void> {
    this.wanted = peerKeys;
    if (!this.enabledValue || this.closed) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /**
   * This node's own key changed: every pair key was derived with the old one. Forgets them all and
   * fetches the peers' keys anew (a round already running finishes, then runs again).
   */
  ownKeyChanged(): Promise<void> {
    this.keys.clear();
    this.generation++;
    return this.sync(this.wanted);
  }

  close(): void {
    this.closed = true;
    this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private async run(): Promise<void> {
    do {
      this.again = false;
      await this.round();
    } while (this.again && !this.closed && this.enabledValue);
  }

  private async round(): Promise<void> {
    const wanted = new Set(this.wanted);
    for (const key of [...this.keys.keys()]) if (!wanted.has(key)) this.keys.delete(key);
    const missing = [...wanted].filter((key) => !this.keys.has(key));
    if (missing.length === 0) {
      this.backoff.reset();
      return;
    }
    const learned: string[] = [];
    const generation = this.generation;
    let failed = false;
    for (let i = 0; i < missing.length; i += this.batch) {
      const asked = missing.slice(i, i + this.batch);
      try {
        const answered = await this.components.fetch(asked);
        if (this.closed || !this.enabledValue) return;
        if (generation !== this.generation) {
          this.again = true; // asked with the previous key: ask again
          return;
        }
        const askedSet = new Set(asked);
        for (const { peer, presharedKey } of answered) {
          // Only what was asked, and only for a peer still wanted: an answer is never trusted further.
          if (!askedSet.has(peer) || !new Set(this.wanted).has(peer) || !presharedKey) continue;
          this.keys.set(peer, presharedKey);
          learned.push(peer);
        }
      } catch (err) {
        failed = true;
        this.logger.warn('could not get preshared keys from the bootstrap; peers without one wait, retrying', { peers: asked.length, err: errorMessage(err) });
      }
    }
    if (learned.length > 0) this.arrived(learned);
    const stillMissing = this.wanted.filter((key) => !this.keys.has(key)).length;
    if (stillMissing === 0) {
      this.backoff.reset();
      return;
    }
    if (!failed) this.logger.debug('the bootstrap gave no preshared key for some peers yet (not members there yet?); asking again', { peers: stillMissing });
    this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = this.timers.setTimeout(() => {
      this.retryTimer = undefined;
      void this.sync(this.wanted);
    }, this.backoff.next());
  }
}
