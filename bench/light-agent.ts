// A "light agent" for the control-plane benchmark at sizes where full agents do not fit in memory.
//
// A full Agent keeps every member twice (its netmap and its in-memory WireGuard device): 10,000
// of them would hold 10^8 records. A light agent is a real gRPC client of the Mesh service on its
// own connection, doing what an Agent does on the wire: Join (with the node secret an agent
// derives from its private key), then Watch from the answer's revision (resumed from its revision
// when the stream ends, a re-join when the bootstrap no longer knows it), and a heartbeat every
// heartbeatMs with the same endpoints and tags, sent as an Agent sends it (HeartbeatStream: a
// message on its Mesh.Heartbeat stream, unary Update while that is unavailable). Every message is decoded with the service's
// own proto definitions (loadProtos), but only the revision and counters are kept: no netmap, no
// WireGuard device.
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { AGENT_DEFAULTS, HeartbeatStream, loadProtos, nodeSecretFromPrivate, publicKeyFromPrivate, type Endpoint, type MeshClient, type WatchEvent__Output } from '@wgmesh/agent';

export interface LightAgentInit {
  readonly address: string;
  readonly meshName: string;
  readonly nodeName: string;
  readonly privateKey: string;
  readonly endpoints: Endpoint[];
  readonly heartbeatMs: number;
  readonly callTimeoutMs: number;
}

/**
 * A WireGuard private key (32 random bytes, clamped as `wg genkey` does). Not generateKeyPair():
 * Node 20 deadlocked here making thousands of keys with generateKeyPairSync (a garbage collection
 * inside a key export destroyed a key-generation job that waited for a lock the export held).
 */
export function randomPrivateKey(): string {
  const k = randomBytes(32);
  k[0]! &= 248;
  k[31]! &= 127;
  k[31]! |= 64;
  return k.toString('base64');
}

/** Codes with which the bootstrap says it does not (or no longer) know this node as itself (as in ControlSession). */
const REMOVED = new Set([grpc.status.NOT_FOUND, grpc.status.PERMISSION_DENIED]);

export class LightAgent {
  /** The membership revision this agent has received up to. */
  revision = 0;
  /** Nodes in the last Join answer or snapshot, then upserts and removes received (counted, not kept). */
  readonly counters = { joins: 0, joinRetries: 0, nodesInJoin: 0, snapshots: 0, upserts: 0, removes: 0, batches: 0, watchEnds: 0, heartbeats: 0, heartbeatErrors: 0, heartbeatsUnary: 0 };
  /** Told every time the revision moves (the benchmark times changes with it). */
  onRevision: (revision: number) => void = () => {};
  private readonly client: MeshClient;
  private readonly heartbeats: HeartbeatStream;
  private readonly identity: { meshName: string; nodeName: string; publicKey: string; nodeSecret: string };
  private stream: grpc.ClientReadableStream<WatchEvent__Output> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private backoffMs: number = AGENT_DEFAULTS.backoffInitialMs;

  constructor(private readonly init: LightAgentInit) {
    const Mesh = loadProtos().mesh.wgmesh.v1.Mesh;
    // Its own connection, as a real node has: grpc-js otherwise shares one TCP connection (its
    // global subchannel pool) between every client of the same target in a process.
    this.client = new Mesh(init.address, grpc.credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1,
      'grpc.keepalive_time_ms': 20_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.initial_reconnect_backoff_ms': 500,
      'grpc.max_reconnect_backoff_ms': 5000,
    });
    this.identity = { meshName: init.meshName, nodeName: init.nodeName, publicKey: publicKeyFromPrivate(init.privateKey), nodeSecret: nodeSecretFromPrivate(init.privateKey) };
    this.heartbeats = new HeartbeatStream({
      open: () => this.client.heartbeat(),
      unary: (req) => new Promise((resolve, reject) => this.client.update(req, { deadline: Date.now() + init.callTimeoutMs }, (err, res) => (err ? reject(err) : resolve(res!)))),
      timeoutMs: init.callTimeoutMs,
    });
  }

  /** Joins (retrying with backoff while the bootstrap is unreachable or slow), then watches and heartbeats. */
  async start(): Promise<void> {
    await this.join();
    this.watch();
    this.scheduleHeartbeat();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.stream?.cancel();
    this.heartbeats.close();
    this.client.close();
  }

  private async join(): Promise<void> {
    for (;;) {
      if (this.stopped) throw new Error('stopped');
      try {
        const res = await new Promise<{ revision: number; nodes: unknown[] }>((resolve, reject) =>
          this.client.join(
            { ...this.identity, endpoints: this.init.endpoints, tags: {}, listenPort: AGENT_DEFAULTS.listenPort, relay: false },
            { deadline: Date.now() + this.init.callTimeoutMs },
            (err, r) => (err ? reject(err) : resolve(r as never)),
          ));
        this.counters.joins++;
        this.counters.nodesInJoin = res.nodes.length;
        this.backoffMs = AGENT_DEFAULTS.backoffInitialMs;
        this.setRevision(Number(res.revision));
        return;
      } catch (err) {
        const code = (err as grpc.ServiceError).code;
        if (code === grpc.status.INVALID_ARGUMENT || code === grpc.status.ALREADY_EXISTS || code === grpc.status.PERMISSION_DENIED) throw err;
        this.counters.joinRetries++;
        await new Promise((r) => setTimeout(r, this.nextBackoff()));
      }
    }
  }

  private watch(): void {
    if (this.stopped) return;
    // Batches, as agents ask for them (Session.watch).
    const stream = this.client.watch({ ...this.identity, sinceRevision: this.revision, batches: true });
    this.stream = stream;
    stream.on('metadata', () => {
      this.backoffMs = AGENT_DEFAULTS.backoffInitialMs;
    });
    stream.on('data', (event: WatchEvent__Output) => {
      if (event.snapshot) {
        this.counters.snapshots++;
        this.counters.nodesInJoin = event.snapshot.nodes.length;
      } else if (event.upsert) this.counters.upserts++;
      else if (event.remove) this.counters.removes++;
      else if (event.batch) {
        this.counters.batches++;
        for (const change of event.batch.events) {
          if (change.upsert) this.counters.upserts++;
          else if (change.remove) this.counters.removes++;
        }
      }
      this.setRevision(Number(event.revision));
    });
    let ended = false;
    const end = (err?: grpc.ServiceError) => {
      if (ended || this.stopped || this.stream !== stream) return;
      ended = true;
      this.stream = undefined;
      this.counters.watchEnds++;
      if (err && REMOVED.has(err.code)) {
        void this.join().then(() => this.watch(), () => {});
        return;
      }
      setTimeout(() => this.watch(), this.nextBackoff());
    };
    stream.on('error', (err: grpc.ServiceError) => end(err.code === grpc.status.CANCELLED ? undefined : err));
    stream.on('end', () => end());
  }

  private scheduleHeartbeat(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.heartbeats.update({ ...this.identity, endpoints: this.init.endpoints, tags: {}, rtt: [], relayed: [] }).then(
        () => this.counters.heartbeats++,
        () => this.counters.heartbeatErrors++,
      ).finally(() => {
        // Sent as unary Updates (no stream yet, or one that broke): the bench says how many.
        this.counters.heartbeatsUnary = this.heartbeats.stats.sentUnary;
        this.scheduleHeartbeat();
      });
    }, this.init.heartbeatMs);
  }

  private setRevision(revision: number): void {
    if (revision <= this.revision) return;
    this.revision = revision;
    this.onRevision(revision);
  }

  private nextBackoff(): number {
    const wait = this.backoffMs * (0.8 + Math.random() * 0.4);
    this.backoffMs = Math.min(this.backoffMs * 2, AGENT_DEFAULTS.backoffMaxMs);
    return wait;
  }
}
