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

/** A peer as the preshared keys follow it: its name and public key ('' or absent: no key, or gone). */
export interface PskPeer {
  readonly name: string;
  readonly publicKey?: string | undefined;
}

/**
 * This node's preshared key with each peer, when its mesh has them (bootstrap -psk; the join
 * answer says so). Kept in memory only: never saved, logged or shown. It follows the peers:
 * `sync` with all of them (a join, a snapshot), `update` with the ones a membership change named,
 * at a cost of O(changed peers), not O(mesh). It forgets the keys of peers gone (or whose key
 * rotated away), asks the bootstrap for the missing ones in bounded batches, and calls `arrived`
 * with the names of the peers whose key it learned. Peers the bootstrap did not answer for (not
 * members there yet) or a failed call are asked again with backoff.
 *
 * While a peer's key is missing it is `pending`, and WireGuard leaves it out: a tunnel without its
 * preshared key would only fail handshakes against the other end, which has one.
 */
export class PresharedKeys {
  private enabledValue = false;
  /** Pair keys by the peer's public key. */
  private readonly keys = new Map<string, string>();
  /** The peers' public keys by name, and back. */
  private readonly keyOfPeer = new Map<string, string>();
  private readonly peerOfKey = new Map<string, string>();
  /** Public keys of peers whose pair key is neither known nor asked for in the round running. */
  private readonly missing = new Set<string>();
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
  /** Times it was handed every peer (sync): a join or snapshot, never a single change. */
  private fullSyncsValue = 0;

  constructor(private readonly components: PresharedKeysComponents, init: PresharedKeysInit = {}, private readonly arrived: (peers: string[]) => void = () => {}) {
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
    this.keys.clear();
    this.missing.clear();
    if (on) for (const key of this.peerOfKey.keys()) this.missing.add(key);
    else {
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

  /** How many times the whole peer list was handed over (sync), for tests of what a change costs. */
  get fullSyncs(): number {
    return this.fullSyncsValue;
  }

  /**
   * The peers are these now: forget the others' keys and fetch the missing ones. Resolves when
   * this round of calls is done (failures are retried later, never thrown).
   */
  sync(peers: Iterable<PskPeer>): Promise<void> {
    this.fullSyncsValue++;
    this.keyOfPeer.clear();
    this.peerOfKey.clear();
    for (const peer of peers) this.follow(peer.name, peer.publicKey);
    for (const key of [...this.keys.keys()]) if (!this.peerOfKey.has(key)) this.keys.delete(key);
    this.missing.clear();
    for (const key of this.peerOfKey.keys()) if (!this.keys.has(key)) this.missing.add(key);
    return this.kick();
  }

  /** These peers changed (joined, left: no publicKey, or rotated their key); the others did not. */
  update(changed: Iterable<PskPeer>): Promise<void> {
    for (const { name, publicKey } of changed) {
      const old = this.keyOfPeer.get(name);
      if (old === (publicKey || undefined)) continue;
      if (old !== undefined) {
        this.keyOfPeer.delete(name);
        this.peerOfKey.delete(old);
        this.keys.delete(old);
        this.missing.delete(old);
      }
      this.follow(name, publicKey);
      if (publicKey && !this.keys.has(publicKey)) this.missing.add(publicKey);
    }
    return this.missing.size > 0 ? this.kick() : (this.running ?? Promise.resolve());
  }

  /**
   * This node's own key changed: every pair key was derived with the old one. Forgets them all and
   * fetches the peers' keys anew (a round already running finishes, then runs again).
   */
  ownKeyChanged(): Promise<void> {
    this.keys.clear();
    this.generation++;
    for (const key of this.peerOfKey.keys()) this.missing.add(key);
    return this.kick();
  }

  close(): void {
    this.closed = true;
    this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private follow(name: string, publicKey: string | undefined): void {
    if (!publicKey) return;
    this.keyOfPeer.set(name, publicKey);
    this.peerOfKey.set(publicKey, name);
  }

  /** A round of calls for what is missing, or one more after the round running. */
  private kick(): Promise<void> {
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

  private async run(): Promise<void> {
    do {
      this.again = false;
      await this.round();
    } while (this.again && !this.closed && this.enabledValue);
  }

  private async round(): Promise<void> {
    if (this.missing.size === 0) {
      this.backoff.reset();
      return;
    }
    // Taken out of `missing` while asked: a peer that changes meanwhile goes back in, for the next round.
    const asking = [...this.missing];
    this.missing.clear();
    const learned: string[] = [];
    const generation = this.generation;
    let failed = false;
    for (let i = 0; i < asking.length; i += this.batch) {
      const asked = asking.slice(i, i + this.batch);
      let answered: readonly PresharedKey__Output[] = [];
      try {
        answered = await this.components.fetch(asked);
      } catch (err) {
        failed = true;
        this.logger.warn('could not get preshared keys from the bootstrap; peers without one wait, retrying', { peers: asked.length, err: errorMessage(err) });
      }
      if (this.closed || !this.enabledValue) return;
      if (generation !== this.generation) {
        // Asked with the previous key: ownKeyChanged put every peer back in `missing`.
        this.again = true;
        return;
      }
      const askedSet = new Set(asked);
      for (const { peer, presharedKey } of answered) {
        // Only what was asked, and only for a peer still followed: an answer is never trusted further.
        const name = this.peerOfKey.get(peer);
        if (!askedSet.has(peer) || name === undefined || !presharedKey) continue;
        this.keys.set(peer, presharedKey);
        learned.push(name);
      }
      // Asked and not answered (or the call failed): asked again later, if still a peer.
      for (const key of asked) if (!this.keys.has(key) && this.peerOfKey.has(key)) this.missing.add(key);
    }
    if (learned.length > 0) this.arrived(learned);
    if (this.missing.size === 0) {
      this.backoff.reset();
      return;
    }
    if (!failed) this.logger.debug('the bootstrap gave no preshared key for some peers yet (not members there yet?); asking again', { peers: this.missing.size });
    this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = this.timers.setTimeout(() => {
      this.retryTimer = undefined;
      void this.kick();
    }, this.backoff.next());
  }
}
