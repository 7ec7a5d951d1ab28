import { EventEmitter } from 'node:events';
import ipaddr from 'ipaddr.js';
import { defaultTimers, type Timers } from '../timers.js';
import type { RttSample__Output } from '../proto/index.js';
import { errorMessage, silentLogger, type Logger } from '../log.js';
import {
  PROBE_SIZE, RTT_DEFAULTS, RTT_TIMED_PROBES_MAX, RTT_WINDOW_MAX, decodeProbe, dgramSocketFactory, encodeProbe, socketFamilyOf, type PacketAddress, type PacketSocket, type SocketFactory, type SocketFamily,
} from './echo.js';
import { RttConfigError } from '../errors.js';
import { compareNames } from '../netmap/netmap.js';

export interface RttPeer {
  readonly name: string;
  readonly meshIp: string;
  /**
   * Whether this node opens the pair's handshake when the peer is new (probed at once); false:
   * the peer does, this node probes it only after INITIATOR_GRACE_MS. Default true.
   */
  readonly opensHandshake?: boolean;
}

/** A monotonic clock in nanoseconds. */
export interface RttClock {
  nowNs(): bigint;
}

export const hrtimeClock: RttClock = { nowNs: () => process.hrtime.bigint() };

export interface RttProberComponents {
  /** Default: node:dgram. */
  readonly socketFactory?: SocketFactory;
  /** Default: process.hrtime. */
  readonly clock?: RttClock;
  readonly timers?: Timers;
  readonly logger?: Logger;
  /** Default: Math.random. Tests pass () => 0: no jitter, peers in list order. */
  readonly random?: () => number;
  /** Wall clock (ms) for answer and measurement times and the cadences; default Date.now. */
  readonly now?: () => number;
  /**
   * Probe packets this node's echo exchanged with a mesh IP so far (probes in, replies out):
   * observeTraffic() takes them off the peer's WireGuard counters along with the prober's own.
   */
  readonly echoPackets?: (meshIp: string) => number;
}

export interface RttProberInit {
  /** The peers' echo port. Default 54541. */
  readonly port?: number;
  /**
   * A round of probes to every peer this often (less up to 10 %, at random), or, when that would
   * mean more than MAX_BURSTS_PER_SECOND, as long as probing them at that rate takes. Default 1000 ms.
   */
  readonly intervalMs?: number;
  /** A probe without a reply this long is lost; a later reply does not count. Default 1000 ms. */
  readonly timeoutMs?: number;
  /** Samples cover each peer's last this many timed probes. Default 30 (ten rounds). */
  readonly window?: number;
  /** Timed probes in each round's burst to a peer, after the untimed one that wakes the path. Default 3. */
  readonly timedProbes?: number;
  /**
   * Rest mode: a peer nothing asks about is probed once every this many ms (one timed probe, no
   * waking one, less up to 10 % at random, peers spread over the interval); it is probed every
   * round, as without this setting, only while it is new (warmupMs), carries traffic
   * (observeTraffic), stopped answering, or fresh figures were asked for (wantFresh).
   * Undefined (the default): every peer every round.
   */
  readonly restIntervalMs?: number;
  /** Rest mode: a new peer is probed every round this long first. Default 25 s. */
  readonly warmupMs?: number;
}

/** A peer's probing cadence now: one probe burst every roundMs, since sinceMs (wall clock). */
export interface RttCadence {
  readonly fast: boolean;
  readonly roundMs: number;
  readonly sinceMs: number;
}

export interface RttProberEvents {
  /** A round of probes has completed (every probe answered or timed out): samples() changed. */
  updated: [];
}

interface PeerState {
  readonly name: string;
  /** Canonical text form, as the socket reports a sender's address. */
  readonly meshIp: string;
  readonly family: SocketFamily;
  /** The last `window` timed outcomes, oldest first: RTT in ms, or null for a lost probe. */
  readonly results: (number | null)[];
  /** Wall-clock ms of the peer's latest answer (any probe of a burst, the untimed one too), 0: none yet. */
  lastAnswerMs: number;
  /** Not probed before this (clock ns): a new peer whose side opens the handshake (see INITIATOR_GRACE_MS). */
  holdUntilNs?: bigint;
  /** Wall-clock ms of the newest answered timed probe, 0: none. */
  measuredAtMs: number;
  /** Rest mode: probed every round until then (its warm-up). */
  readonly warmUntilMs: number;
  /** Rest mode: carries traffic (observeTraffic) until then. */
  busyUntilMs: number;
  /** A burst to it went wholly unanswered at this time (and none answered since): probed every round for a while. */
  silentSinceMs: number | undefined;
  /** Rest mode, at rest: its next single probe is due then (wall ms); undefined: not placed yet. */
  nextRestMs: number | undefined;
  /** The cadence it is on, and since when. */
  fast: boolean;
  cadenceSinceMs: number;
  /** Probe packets to and from it (sent and answered), for observeTraffic. */
  packets: number;
  /** WireGuard's byte counters at the last observeTraffic, and those packets then. */
  lastBytes: number | undefined;
  lastPackets: number;
}

/** Every peer probed once: its bursts go out in slots spread over the interval. */
interface Round {
  /** Its place among the rounds begun (RttProber.roundCount when it began). */
  readonly id: number;
  /** Bursts not finished yet, counting those whose slot has not come. */
  remaining: number;
  /** The next slot's timer and the sent slots' timeouts. */
  readonly timers: Set<unknown>;
}

/** A burst of a round: it times out timeoutMs after going out. */
interface Slot {
  readonly round: Round;
  readonly seqs: number[];
  /** The burst's last probe index: timedProbes, or 1 for a rest-mode single probe (sent without a waking one). */
  readonly last: number;
  /** Some probe of the burst was answered. */
  answered: boolean;
  /** Its timeout, cleared as soon as the burst is answered in full (not left to fire for nothing). */
  timer?: unknown;
}

interface Pending {
  readonly peer: PeerState;
  readonly sentNs: bigint;
  readonly slot: Slot;
  /**
   * The probe's place in its burst: 0 opens it and is not timed; each reply sends the next probe at
   * once, up to timedProbes.
   */
  readonly index: number;
}

type SocketSlot = { state: 'binding' } | { state: 'ready'; socket: PacketSocket } | { state: 'failed' };

/**
 * Measures the tunnel to every peer: every intervalMs a short burst of small UDP probes goes to
 * each peer's mesh IP and echo port, from an ephemeral socket, one probe at a time (each reply
 * sends the next). The first probe wakes the path (both nodes' processes and, with wireguard-go,
 * both WireGuard processes, idle since the last round) and is not timed; the `timedProbes` after
 * it are. A probe into an idle path measures mostly how long sleeping processes take to be
 * scheduled again: on an idle 2-vCPU machine a lone UDP echo between two node processes reads
 * 0.8-0.9 ms through a tunnel ping crosses in 0.3-0.4 ms, while the probes after the first read
 * 0.25-0.4 ms. Several timed probes a round give the median three times the samples in the same
 * seconds: on a busy host single probes scatter from 0.2 to 3 ms, and a median of ten moved by
 * 2x from one window to the next.
 *
 * The bursts of a round are spread evenly over it, so that probes to one peer do not queue behind
 * another's in this process or in its WireGuard, and the tunnel never sees every peer's probes at
 * once. With many peers a round lasts longer than intervalMs: a node sends at most
 * MAX_BURSTS_PER_SECOND bursts a second, whatever the size of the mesh.
 *
 * A reply is matched by sequence number (and must echo the probe's timestamp and come from the
 * peer's mesh IP and echo port); a burst not completed within timeoutMs of going out loses its
 * timed probes not yet answered. samples() gives, per peer, the median RTT of the answered
 * probes among its last `window` timed ones and the fraction lost.
 *
 * Memory is bounded: `window` outcomes per peer, and the probes in flight (peers × rounds within
 * timeoutMs), which time out on their own.
 */
export class RttProber extends EventEmitter<RttProberEvents> {
  readonly port: number;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly window: number;
  readonly timedProbes: number;
  readonly restIntervalMs: number | undefined;
  readonly warmupMs: number;
  private readonly socketFactory: SocketFactory;
  private readonly now: () => number;
  private readonly echoPackets: ((meshIp: string) => number) | undefined;
  /** Rest mode: every peer is probed every round until then (wantFresh). */
  private freshUntilMs = 0;
  /** wantFresh() calls waiting for a round begun after them (by the count of rounds begun then) to finish. */
  private readonly freshWaiters = new Map<() => void, number>();
  /** Rounds begun so far. */
  private roundCount = 0;
  /** The next fast round answers wantFresh: its bursts go as close together as allowed, not spread over the round. */
  private freshKick = false;
  /** Rest mode: the next round of the peers on the fast cadence is due then (wall ms). */
  private nextFastMs = 0;
  /** Timer callbacks run (tests and the bench count wake-ups). */
  wakeups = 0;
  private readonly clock: RttClock;
  private readonly timers: Timers;
  private readonly logger: Logger;
  private readonly random: () => number;
  private peers = new Map<string, PeerState>();
  private selfIp: string | undefined;

  /**
   * This node's own mesh IP. Its echo is then probed too, every round: that turnaround (two
   * event-loop wake-ups, no network) is the measurement's own cost, and is taken off every peer's
   * figure so that RTT shows the tunnel, as ping does, not this process's scheduling.
   */
  setSelf(meshIp: string | undefined): void {
    if (meshIp === this.selfIp) return;
    this.selfIp = meshIp;
    const state = meshIp === undefined ? undefined : this.stateFor({ name: SELF, meshIp });
    const existing = this.peers.get(SELF);
    if (state === existing) return;
    if (state) this.peers.set(SELF, state);
    else this.peers.delete(SELF);
    if (existing) this.endProbesToGone();
    if (state) this.probeFresh([state]);
  }
  private readonly sockets = new Map<SocketFamily, SocketSlot>();
  private readonly pending = new Map<number, Pending>();
  private readonly rounds = new Set<Round>();
  private tickTimer: unknown;
  /** Rest mode: when tickTimer fires (wall ms). */
  private tickAtMs = 0;
  /** Extra rounds for held new peers, due when their hold ends. */
  private readonly holdTimers = new Set<unknown>();
  /** The first round has gone (start() has opened the sockets it needed). */
  private started = false;
  private running = false;
  private seq = 0;

  constructor(components: RttProberComponents, init: RttProberInit = {}) {
    super();
    this.port = init.port ?? RTT_DEFAULTS.port;
    this.intervalMs = init.intervalMs ?? RTT_DEFAULTS.intervalMs;
    this.timeoutMs = init.timeoutMs ?? RTT_DEFAULTS.timeoutMs;
    this.window = init.window ?? RTT_DEFAULTS.window;
    this.timedProbes = init.timedProbes ?? RTT_DEFAULTS.timedProbes;
    this.restIntervalMs = init.restIntervalMs;
    this.warmupMs = init.warmupMs ?? RTT_REST_DEFAULTS.warmupMs;
    if (this.restIntervalMs !== undefined && (!Number.isFinite(this.restIntervalMs) || this.restIntervalMs < this.intervalMs)) {
      throw new RttConfigError(`RTT rest interval ${this.restIntervalMs} ms must be a number of milliseconds no shorter than the interval (${this.intervalMs} ms)`);
    }
    if (!Number.isInteger(this.port) || this.port < 1 || this.port > 65535) throw new RttConfigError(`RTT port ${this.port} is not a UDP port (1-65535)`);
    if (!Number.isFinite(this.intervalMs) || this.intervalMs <= 0) throw new RttConfigError(`RTT interval ${this.intervalMs} ms must be a positive number of milliseconds`);
    if (!Number.isFinite(this.timeoutMs) || this.timeoutMs <= 0) throw new RttConfigError(`RTT timeout ${this.timeoutMs} ms must be a positive number of milliseconds`);
    if (!Number.isInteger(this.window) || this.window < 1 || this.window > RTT_WINDOW_MAX) {
      throw new RttConfigError(`RTT window ${this.window} must be a whole number of probes from 1 to ${RTT_WINDOW_MAX}`);
    }
    if (!Number.isInteger(this.timedProbes) || this.timedProbes < 1 || this.timedProbes > RTT_TIMED_PROBES_MAX) {
      throw new RttConfigError(`RTT timed probes per round ${this.timedProbes} must be a whole number from 1 to ${RTT_TIMED_PROBES_MAX}`);
    }
    this.socketFactory = components.socketFactory ?? dgramSocketFactory;
    this.clock = components.clock ?? hrtimeClock;
    this.timers = components.timers ?? defaultTimers;
    this.logger = components.logger ?? silentLogger();
    this.random = components.random ?? Math.random;
    this.now = components.now ?? Date.now;
    this.echoPackets = components.echoPackets;
  }

  /** Rounds begun and not finished (for tests: a round of many peers spreads over seconds). */
  get roundsInProgress(): number {
    return this.rounds.size;
  }

  /** Probes in flight (for tests and status). */
  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * The peers to probe from now on. A peer keeps its window while its mesh IP stays the same;
   * a new IP starts a new window; a peer no longer listed is forgotten. Entries without a
   * valid IP are skipped.
   */
  setPeers(peers: readonly RttPeer[]): void {
    const next = new Map<string, PeerState>();
    const fresh: PeerState[] = [];
    const all = this.selfIp ? [...peers, { name: SELF, meshIp: this.selfIp }] : peers;
    for (const peer of all) {
      const state = this.stateFor(peer);
      if (!state) continue;
      next.set(peer.name, state);
      if (state !== this.peers.get(peer.name)) fresh.push(state);
    }
    this.peers = next;
    this.endProbesToGone();
    if (this.running) for (const family of this.familiesInUse()) void this.openSocket(family);
    this.probeFresh(fresh);
  }

  /**
   * Only the named peers change: `peers` are (now) peers with these details, `removed` are gone;
   * every other peer keeps its state. O(1) per name, where setPeers is a pass over every peer:
   * the agent hands over each membership change this way.
   */
  updatePeers(peers: readonly RttPeer[], removed: readonly string[]): void {
    const fresh: PeerState[] = [];
    let dropped = false;
    for (const name of removed) if (name !== SELF && this.peers.delete(name)) dropped = true;
    for (const peer of peers) {
      if (peer.name === SELF) continue;
      const existing = this.peers.get(peer.name);
      const state = this.stateFor(peer);
      if (!state) {
        if (existing) dropped = this.peers.delete(peer.name) || dropped;
        continue;
      }
      if (state === existing) continue;
      if (existing) dropped = true;
      this.peers.set(peer.name, state);
      fresh.push(state);
    }
    if (dropped) this.endProbesToGone();
    this.probeFresh(fresh);
  }

  /** Bursts to peers that are gone (or replaced) end now, so their rounds do not wait for the timeout. */
  private endProbesToGone(): void {
    for (const [seq, probe] of this.pending) {
      if (this.peers.get(probe.peer.name) !== probe.peer) this.cutShort(seq, probe);
    }
  }

  /**
   * A peer's state from now on: the one it has while its mesh IP stays the same, a new one (a new
   * window) otherwise; undefined (logged) for a peer without a valid mesh IP.
   */
  private stateFor(peer: RttPeer): PeerState | undefined {
    const meshIp = canonicalIp(peer.meshIp);
    const family = meshIp === undefined ? undefined : socketFamilyOf(meshIp);
    if (meshIp === undefined || !family) {
      this.logger.warn('not probing a peer without a valid mesh IP', { node: peer.name, meshIp: peer.meshIp });
      return undefined;
    }
    const existing = this.peers.get(peer.name);
    if (existing && existing.meshIp === meshIp) return existing;
    const nowMs = this.now();
    return {
      name: peer.name, meshIp, family, results: [], lastAnswerMs: 0, ...this.initiatorHold(peer),
      measuredAtMs: 0, warmUntilMs: nowMs + this.warmupMs, busyUntilMs: 0, silentSinceMs: undefined, nextRestMs: undefined,
      fast: true, cadenceSinceMs: nowMs, packets: 0, lastBytes: undefined, lastPackets: 0,
    };
  }

  /**
   * New peers are probed now, not at the next round: the first probe opens the handshake, and a
   * pair whose tunnel is up before other traffic flows cannot cross initiations. Held ones
   * (initiatorHold) get theirs the moment their hold ends.
   */
  private probeFresh(fresh: readonly PeerState[]): void {
    if (!this.running || fresh.length === 0) return;
    for (const family of new Set(fresh.map((p) => p.family))) void this.openSocket(family);
    const now = fresh.filter((p) => p.holdUntilNs === undefined);
    if (this.started && now.length) this.round(now, true);
    // At rest the next tick may be far off: the new peers' warm-up rounds start one round from now.
    if (this.started && this.restIntervalMs !== undefined) this.rearm(this.now() + this.roundMs());
    if (fresh.length > now.length) {
      const timer = this.timers.setTimeout(() => {
        this.holdTimers.delete(timer);
        const held = fresh.filter((p) => p.holdUntilNs !== undefined);
        for (const p of held) p.holdUntilNs = undefined;
        this.wakeups++;
        if (this.running) this.round(held, true);
      }, INITIATOR_GRACE_MS);
      this.holdTimers.add(timer);
    }
  }

  /**
   * A new peer is probed at once by the node of the pair that opens the handshake (the agent
   * decides: RttPeer.opensHandshake), and only after INITIATOR_GRACE_MS by the other. A probe into
   * a tunnel without a session makes WireGuard send a handshake initiation; two nodes that add
   * each other at the same moment and both probe at once send two crossing initiations, each
   * answers the other's (which discards its own), and both then wait as responders for data that
   * never comes: the pair stays silent until WireGuard retries 5 s later (seen in cold starts of
   * 8 nodes, wireguard-go's log on both sides: "Received handshake initiation", "Sending handshake
   * response", no response received).
   */
  private initiatorHold(peer: RttPeer): { holdUntilNs?: bigint } {
    if (peer.name === SELF || peer.opensHandshake !== false) return {};
    return { holdUntilNs: this.clock.nowNs() + BigInt(INITIATOR_GRACE_MS) * 1_000_000n };
  }

  /** Opens the sockets the current peers need, sends the first round, and probes every intervalMs. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await Promise.all(this.familiesInUse().map((family) => this.openSocket(family)));
    if (!this.running) return;
    this.round(undefined, true);
    this.started = true;
    if (this.restIntervalMs === undefined) this.schedule();
    else this.rearm(this.now() + this.roundMs());
  }

  /** Stops probing and closes the sockets; the samples gathered so far remain readable. */
  async stop(): Promise<void> {
    this.running = false;
    this.timers.clearTimeout(this.tickTimer);
    this.tickTimer = undefined;
    this.started = false;
    for (const timer of this.holdTimers) this.timers.clearTimeout(timer);
    this.holdTimers.clear();
    for (const round of this.rounds) for (const timer of round.timers) this.timers.clearTimeout(timer);
    this.rounds.clear();
    this.pending.clear();
    for (const slot of this.sockets.values()) if (slot.state === 'ready') slot.socket.close();
    this.sockets.clear();
  }

  /**
   * Per peer with at least one finished timed probe in its window, sorted by name: the median RTT
   * of the answered ones (0 when none was answered) and the fraction lost.
   */
  samples(): RttSample__Output[] {
    const answeredOf = (peer: PeerState) => peer.results.filter((r): r is number => r !== null).sort((a, b) => a - b);
    const self = this.peers.get(SELF);
    const overhead = self ? median(answeredOf(self)) : 0;
    const out: RttSample__Output[] = [];
    for (const peer of [...this.peers.values()].sort((a, b) => compareNames(a.name, b.name))) {
      if (peer.name === SELF || peer.results.length === 0) continue;
      const answered = answeredOf(peer);
      const rtt = answered.length ? Math.max(0, median(answered) - overhead) : 0;
      out.push({ peer: peer.name, rttMs: rtt, loss: (peer.results.length - answered.length) / peer.results.length, measuredAtMs: peer.measuredAtMs });
    }
    return out;
  }

  /** When a peer last answered a probe (wall-clock ms), undefined when it never did. */
  lastAnswerMs(name: string): number | undefined {
    const at = this.peers.get(name)?.lastAnswerMs;
    return at ? at : undefined;
  }

  /** A peer's probing cadence now (undefined: not probed). Without rest mode every peer is probed every round. */
  cadenceOf(name: string): RttCadence | undefined {
    const peer = this.peers.get(name);
    if (!peer) return undefined;
    if (this.restIntervalMs === undefined || peer.fast) return { fast: true, roundMs: this.roundMs(), sinceMs: peer.cadenceSinceMs };
    return { fast: false, roundMs: this.restIntervalMs, sinceMs: peer.cadenceSinceMs };
  }

  /**
   * One probe burst to the named peer now, outside the rounds, as to a new peer (its first packet
   * opens a handshake): after the agent configured a silent peer afresh (HandshakeGuard).
   */
  probeNow(name: string): void {
    const peer = this.peers.get(name);
    if (!peer || !this.running || !this.started) return;
    peer.holdUntilNs = undefined;
    this.wakeups++;
    this.round([peer], true);
  }

  /**
   * Rest mode: every peer is probed every round until `untilMs` (wall clock), starting with a
   * round now unless one went within the last interval. The figures after that round are fresh.
   */
  wantFresh(untilMs: number): Promise<void> {
    const done = new Promise<void>((resolve) => {
      // Whatever happens to the rounds (no peers, stopped), the wait ends within a round and a timeout.
      const timer = this.timers.setTimeout(() => finish(), this.roundMs() + this.timeoutMs + 100);
      const finish = () => {
        this.timers.clearTimeout(timer);
        this.freshWaiters.delete(finish);
        resolve();
      };
      this.freshWaiters.set(finish, this.roundCount);
    });
    if (untilMs > this.freshUntilMs) {
      const wasFresh = this.freshUntilMs > this.now();
      this.freshUntilMs = untilMs;
      if (this.restIntervalMs !== undefined && this.started && this.running) {
        if (!wasFresh) {
          this.nextFastMs = this.now();
          this.freshKick = true;
        }
        this.rearm(this.nextFastMs);
      }
    }
    return done;
  }

  /**
   * Rest mode: the peers' WireGuard byte counters (sent + received, by node name), read every few
   * seconds. A peer whose counters moved by more than this node's probes and echoes to and from it
   * (and WireGuard's keepalives and handshakes) explain carries traffic: probed every round for
   * BUSY_HOLD_MS. Counting the probes' own packets keeps the fast probes from making a peer look busy.
   */
  observeTraffic(bytesByName: ReadonlyMap<string, number>): void {
    if (this.restIntervalMs === undefined) return;
    const now = this.now();
    let kick = false;
    for (const [name, bytes] of bytesByName) {
      const peer = this.peers.get(name);
      if (!peer) continue;
      const packets = peer.packets + (this.echoPackets?.(peer.meshIp) ?? 0);
      if (peer.lastBytes !== undefined && bytes >= peer.lastBytes) {
        const unexplained = bytes - peer.lastBytes - (packets - peer.lastPackets) * probeWireBytes(peer.family);
        if (unexplained > BUSY_BYTES) {
          if (peer.busyUntilMs <= now && !peer.fast) kick = true;
          peer.busyUntilMs = now + BUSY_HOLD_MS;
        }
      }
      peer.lastBytes = bytes;
      peer.lastPackets = packets;
    }
    if (kick && this.started && this.running) this.rearm(now);
  }

  /** True when every peer (and this node's own echo) has a whole window of finished timed probes. */
  windowsFull(): boolean {
    for (const peer of this.peers.values()) if (peer.results.length < this.window) return false;
    return true;
  }

  private schedule(): void {
    this.tickTimer = this.timers.setTimeout(() => {
      this.tickTimer = undefined;
      this.wakeups++;
      if (!this.running) return;
      this.round();
      this.schedule();
    }, this.roundMs() * (1 - INTERVAL_JITTER * this.random()));
  }

  /**
   * Rest mode: one timer, set to the earliest of the next fast round (while any peer is on the fast
   * cadence) and the next peer due at rest; moved earlier, never later, by what comes meanwhile.
   */
  private rearm(atMs: number): void {
    if (!this.running) return;
    if (this.tickTimer !== undefined && this.tickAtMs <= atMs) return;
    this.timers.clearTimeout(this.tickTimer);
    this.tickAtMs = atMs;
    this.tickTimer = this.timers.setTimeout(() => {
      this.tickTimer = undefined;
      this.wakeups++;
      if (this.running) this.restTick();
    }, Math.max(0, atMs - this.now()));
  }

  /** Whether a peer is probed every round now (rest mode). */
  private wantsFast(peer: PeerState, now: number, anyFast: boolean): boolean {
    if (this.freshUntilMs > now || peer.warmUntilMs > now || peer.busyUntilMs > now) return true;
    if (peer.silentSinceMs !== undefined && now - peer.silentSinceMs < SILENT_FAST_MS) return true;
    // This node's own echo is measured alongside the peers probed every round (it is subtracted from them).
    return peer.name === SELF && anyFast;
  }

  private restTick(): void {
    const now = this.now();
    const restMs = this.restIntervalMs!;
    const fast: PeerState[] = [];
    const due: PeerState[] = [];
    let self: PeerState | undefined;
    for (const peer of this.peers.values()) {
      if (peer.name === SELF) {
        self = peer;
        continue;
      }
      if (this.wantsFast(peer, now, false)) fast.push(peer);
    }
    if (self && this.wantsFast(self, now, fast.length > 0)) fast.push(self);
    const fastSet = new Set(fast);
    let nextMs = Infinity;
    for (const peer of this.peers.values()) {
      const isFast = fastSet.has(peer);
      if (isFast !== peer.fast) {
        peer.fast = isFast;
        peer.cadenceSinceMs = now;
        // Onto the rest cadence: its first single probe somewhere in the interval, spreading peers.
        peer.nextRestMs = isFast ? undefined : now + this.random() * restMs;
      }
      if (isFast) continue;
      if (peer.nextRestMs === undefined) peer.nextRestMs = now + this.random() * restMs;
      // Due now, or within the batch window: sent together, one wake-up for several peers.
      if (peer.nextRestMs <= now + REST_BATCH_MS) {
        due.push(peer);
        peer.nextRestMs = now + restMs * (1 - INTERVAL_JITTER * this.random());
      }
      nextMs = Math.min(nextMs, peer.nextRestMs);
    }
    if (fast.length) {
      if (this.nextFastMs <= now + REST_BATCH_MS) {
        this.round(fast, this.freshKick);
        this.freshKick = false;
        this.nextFastMs = now + this.roundMs() * (1 - INTERVAL_JITTER * this.random());
      }
      nextMs = Math.min(nextMs, this.nextFastMs);
    }
    if (due.length) this.round(due, false, true);
    if (nextMs < Infinity) this.rearm(nextMs);
  }

  /** How long a probe round lasts now (each peer is probed once a round). */
  get currentRoundMs(): number {
    return this.roundMs();
  }

  /** How long a round lasts: the interval, stretched with many peers so that probing stays cheap. */
  private roundMs(): number {
    return Math.max(this.intervalMs, (this.peers.size * 1000) / MAX_BURSTS_PER_SECOND);
  }

  /**
   * A burst to every peer whose socket is ready, slot by slot over the interval; a round
   * completes when all its bursts are finished.
   */
  private round(only?: readonly PeerState[], opening = false, single = false): void {
    const due: PeerState[] = [];
    const now = this.clock.nowNs();
    for (const peer of only ?? this.peers.values()) {
      // Gone or replaced since (an extra round for new peers).
      if (this.peers.get(peer.name) !== peer) continue;
      if (peer.holdUntilNs !== undefined && peer.holdUntilNs > now) continue;
      const socket = this.sockets.get(peer.family);
      if (!socket) void this.openSocket(peer.family);
      // Not bound yet: this peer's first probe goes with the next round, with a true send time.
      else if (socket.state !== 'binding') due.push(peer);
    }
    if (due.length === 0) return;
    // Each round starts at a different peer: no peer's probe keeps meeting the same moment of
    // another node's work (its own round, a heartbeat), which would bias that one figure.
    const first = Math.floor(this.random() * due.length);
    due.push(...due.splice(0, first));
    const round: Round = { id: ++this.roundCount, remaining: due.length, timers: new Set() };
    this.rounds.add(round);
    // One burst per slot, evenly over the round: at least 1000 / MAX_BURSTS_PER_SECOND ms apart.
    // A round that opens peers' tunnels (the first, new peers) goes as fast as that allows: its
    // first probes start the handshakes.
    const evenMs = this.roundMs() / due.length;
    const spacingMs = opening ? Math.min(evenMs, 1000 / MAX_BURSTS_PER_SECOND) : evenMs;
    if (single) {
      // Rest-mode probes: one packet each, few, sent together (one wake-up), at most
      // MAX_BURSTS_PER_SECOND at once; the rest of a larger batch follow a second later.
      const later = due.splice(MAX_BURSTS_PER_SECOND);
      round.remaining = due.length;
      for (const peer of due) this.sendSlot(round, peer, true);
      if (later.length) {
        const timer = this.timers.setTimeout(() => {
          this.holdTimers.delete(timer);
          this.wakeups++;
          if (this.running) this.round(later, false, true);
        }, 1000);
        this.holdTimers.add(timer);
      }
      return;
    }
    const sendFrom = (index: number): void => {
      if (index + 1 < due.length) {
        const timer = this.timers.setTimeout(() => {
          round.timers.delete(timer);
          sendFrom(index + 1);
        }, spacingMs);
        round.timers.add(timer);
      }
      this.sendSlot(round, due[index]!);
    };
    sendFrom(0);
  }

  private sendSlot(round: Round, peer: PeerState, single = false): void {
    const socket = this.sockets.get(peer.family);
    // Gone (or moved to a new IP) since the round began: nothing to measure.
    if (this.peers.get(peer.name) !== peer || !socket || socket.state === 'binding') {
      this.burstDone(round);
      return;
    }
    const slot: Slot = { round, seqs: [], last: single ? 1 : this.timedProbes, answered: false };
    this.send(peer, slot, single ? 1 : 0);
    const timer = this.timers.setTimeout(() => {
      round.timers.delete(timer);
      this.wakeups++;
      this.expire(slot);
    }, this.timeoutMs);
    round.timers.add(timer);
    slot.timer = timer;
  }

  /** A family that cannot send (no socket could be bound) loses every probe: it times out. */
  private send(peer: PeerState, slot: Slot, index: number): void {
    this.seq = (this.seq + 1) >>> 0;
    const seq = this.seq;
    const sentNs = this.clock.nowNs();
    this.pending.set(seq, { peer, sentNs, slot, index });
    slot.seqs.push(seq);
    peer.packets++;
    const socket = this.sockets.get(peer.family);
    if (socket?.state !== 'ready') return;
    socket.socket.send(encodeProbe({ type: 'probe', seq, timestamp: sentNs }), this.port, peer.meshIp, (err) => {
      if (err) this.logger.debug('RTT probe not sent', { node: peer.name, meshIp: peer.meshIp, err: errorMessage(err) });
    });
  }

  private expire(slot: Slot): void {
    for (const seq of slot.seqs) {
      const probe = this.pending.get(seq);
      if (!probe || probe.slot !== slot) continue;
      // Not a single answer: the path looks unhealthy, and the peer is probed every round until it answers.
      if (!slot.answered && probe.peer.silentSinceMs === undefined && this.peers.get(probe.peer.name) === probe.peer) {
        probe.peer.silentSinceMs = this.now();
        if (this.restIntervalMs !== undefined && !probe.peer.fast) this.rearm(this.now());
      }
      this.cutShort(seq, probe);
    }
  }

  private onPacket(packet: Buffer, from: PacketAddress): void {
    const reply = decodeProbe(packet);
    if (!reply || reply.type !== 'reply') return;
    const probe = this.pending.get(reply.seq);
    // Unknown or late (already timed out), or not the answer to this probe, or not from the peer.
    if (!probe || probe.sentNs !== reply.timestamp) return;
    // peer.meshIp is canonical already: parse the sender's address only when it differs in text.
    if (from.port !== this.port || (from.address !== probe.peer.meshIp && canonicalIp(from.address) !== probe.peer.meshIp)) return;
    this.pending.delete(reply.seq);
    const nowMs = this.now();
    probe.peer.lastAnswerMs = nowMs;
    probe.peer.packets++;
    probe.peer.silentSinceMs = undefined;
    probe.slot.answered = true;
    if (probe.index > 0) {
      const rttMs = Number(this.clock.nowNs() - probe.sentNs) / 1e6;
      this.record(probe.peer, rttMs <= this.timeoutMs ? rttMs : null);
      if (rttMs <= this.timeoutMs) probe.peer.measuredAtMs = nowMs;
    }
    if (probe.index < probe.slot.last) this.send(probe.peer, probe.slot, probe.index + 1);
    else {
      this.timers.clearTimeout(probe.slot.timer);
      probe.slot.round.timers.delete(probe.slot.timer);
      this.burstDone(probe.slot.round);
    }
  }

  /** The burst ends unanswered (timed out, or the peer is gone): its timed probes not answered yet are lost. */
  private cutShort(seq: number, probe: Pending): void {
    this.pending.delete(seq);
    for (let i = Math.max(probe.index, 1); i <= probe.slot.last; i++) this.record(probe.peer, null);
    this.burstDone(probe.slot.round);
  }

  private record(peer: PeerState, rttMs: number | null): void {
    // A peer removed or moved to a new IP meanwhile: its old window is gone.
    if (this.peers.get(peer.name) !== peer) return;
    peer.results.push(rttMs);
    if (peer.results.length > this.window) peer.results.splice(0, peer.results.length - this.window);
  }

  private burstDone(round: Round): void {
    round.remaining--;
    if (round.remaining > 0) return;
    for (const timer of round.timers) this.timers.clearTimeout(timer);
    round.timers.clear();
    this.rounds.delete(round);
    for (const [finish, before] of this.freshWaiters) if (round.id > before) finish();
    this.emit('updated');
  }

  private familiesInUse(): SocketFamily[] {
    return [...new Set([...this.peers.values()].map((p) => p.family))];
  }

  /** Opens (once) the ephemeral socket for a family; a failure is logged and makes its probes lost. */
  private async openSocket(family: SocketFamily): Promise<void> {
    if (this.sockets.has(family)) return;
    const binding: SocketSlot = { state: 'binding' };
    this.sockets.set(family, binding);
    const socket = this.socketFactory(family);
    socket.onMessage((packet, from) => this.onPacket(packet, from));
    socket.onError((err) => this.logger.warn('RTT probe socket error', { err: errorMessage(err) }));
    try {
      await socket.bind(0);
    } catch (err) {
      socket.close();
      if (this.sockets.get(family) === binding) this.sockets.set(family, { state: 'failed' });
      this.logger.warn(`cannot open a ${family} socket for RTT probes; those peers will show as lost`, { err: errorMessage(err) });
      return;
    }
    // Stopped (or stopped and restarted) while binding: this socket is no longer wanted.
    if (!this.running || this.sockets.get(family) !== binding) {
      socket.close();
      return;
    }
    this.sockets.set(family, { state: 'ready', socket });
  }
}

/** The text form a socket reports for this address, or undefined when it is not an IP. */
function canonicalIp(ip: string): string | undefined {
  if (!socketFamilyOf(ip)) return undefined;
  try {
    return ipaddr.process(ip).toString();
  } catch {
    return undefined;
  }
}

/**
 * The most bursts (1 + timedProbes probes each) a node sends a second: with 1000 peers a round
 * takes 10 s, and a node's own probing costs about 400 packets a second out and 400 replies in
 * (and as many answering its peers'), whatever the size of the mesh.
 */
const MAX_BURSTS_PER_SECOND = 100;

/** Rest mode settings (see RttProberInit.restIntervalMs); the node's wiring (probing.ts) uses these. */
export const RTT_REST_DEFAULTS = {
  /** A peer at rest is probed once in this long: 30 s, about 0.1 packets a second per peer with WireGuard's keepalive after each answer. */
  restIntervalMs: 30_000,
  /** A new peer is probed every round this long: joins and relay choices see today's figures. */
  warmupMs: 25_000,
} as const;

/** A peer that carried traffic is probed every round this long after it was last seen to. */
export const BUSY_HOLD_MS = 30_000;
/**
 * Bytes between two traffic observations (about 5 s apart) beyond what the probes explain that make a
 * peer busy: WireGuard's keepalives (32 bytes) and a handshake (148 + 92) stay well under it; a ping a
 * second (2 x 116 bytes) passes it.
 */
export const BUSY_BYTES = 1024;
/** A peer whose burst went unanswered is probed every round this long at most (unless it answers first). */
const SILENT_FAST_MS = 60_000;
/** Rest probes due within this long of a wake-up go with it. */
const REST_BATCH_MS = 1_000;

/**
 * A probe or reply on the wire as WireGuard counts it: the 20-byte payload with its UDP and IP
 * headers, padded to 16 bytes, plus WireGuard's 16-byte header and 16-byte tag.
 */
function probeWireBytes(family: SocketFamily): number {
  const inner = PROBE_SIZE + 8 + (family === 'udp4' ? 20 : 40);
  return Math.ceil(inner / 16) * 16 + 32;
}
/**
 * How long the second node of a new pair waits before its first probe (initiatorHold): time for
 * the first node's handshake to complete, well under WireGuard's 5 s retry (and the relay's wait).
 */
export const INITIATOR_GRACE_MS = 800;

/**
 * Rounds come up to this fraction of the interval early, at random, as BFD jitters its packets
 * (RFC 5880 6.8.7): nodes probing at the same period never stay in step, so one pair's probes
 * do not keep landing on the moment its peer is busy probing everyone else.
 */
const INTERVAL_JITTER = 0.1;

/** The reserved name of this node's own echo among the probed peers (not a valid node name). */
const SELF = '\u0000self';

/** The median: one slow probe (a handshake, a garbage collection) does not move it, as it would a mean. */
function median(sorted: readonly number[]): number {
  if (sorted.length === 0) return 0;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
