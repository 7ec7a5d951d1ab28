import * as grpc from '@grpc/grpc-js';
import {
  loadProtos, type JoinRequest, type JoinResponse__Output, type LeaveRequest, type MeshClient, type PresharedKeysRequest, type PresharedKeysResponse__Output, type RttMatrixRequest,
  type RenewRequest, type RenewResponse__Output, type RttResponse__Output, type UpdateRequest, type UpdateResponse__Output, type WatchEvent__Output, type WatchRequest,
} from '../proto/index.js';
import { ControlCallError } from '../errors.js';
import { HeartbeatStream } from './heartbeat-stream.js';

export { ControlCallError };

export interface WatchHandle {
  cancel(): void;
}

export interface WatchCallbacks {
  /** The stream is established (the bootstrap accepted it). */
  onOpen(): void;
  onEvent(event: WatchEvent__Output): void;
  /** The stream ended; err is undefined when the bootstrap closed it cleanly. */
  onEnd(err?: ControlCallError): void;
}

/** How an agent talks to its bootstrap: over gRPC, or in-process when it is the bootstrap. */
export interface ControlClient {
  join(req: JoinRequest): Promise<JoinResponse__Output>;
  watch(req: WatchRequest, callbacks: WatchCallbacks): WatchHandle;
  update(req: UpdateRequest): Promise<UpdateResponse__Output>;
  leave(req: LeaveRequest): Promise<void>;
  /** The mesh-wide RTT matrix: every member's latest reported samples. */
  rtt(req: RttMatrixRequest): Promise<RttResponse__Output>;
  /** The preshared keys of this node's pairs with the asked peers (a mesh whose bootstrap runs with -psk). */
  presharedKeys?(req: PresharedKeysRequest): Promise<PresharedKeysResponse__Output>;
  /** A new certificate for this node (mTLS; a bootstrap with -ca-key), authenticated by its current one. */
  renew?(req: RenewRequest): Promise<RenewResponse__Output>;
  /**
   * Calls from now on go over new connections (made with the credentials in force now, e.g. a
   * renewed certificate); a Watch open on the old ones ends, and the session opens it again.
   */
  reconnect?(reason: string): void;
  /** A call is coming (its request is being made): start connecting to where it will go, if not connected. */
  connectNow?(): void;
  close(): void;
  /** Over several bootstraps (FailoverControlClient): the one calls go to now, and all of them, for `info`. */
  bootstrap?(): { current: string; all: string[] };
}

export interface GrpcControlInit {
  /** HOST:PORT of the bootstrap. */
  readonly address: string;
  readonly credentials: grpc.ChannelCredentials;
  readonly channelOptions?: grpc.ChannelOptions;
  readonly callTimeoutMs?: number;
}

/** How long `wgmesh rtt` waits for the bootstrap's matrix (the CLI gives the local API 5 s). */
const RTT_CALL_TIMEOUT_MS = 2000;
/** A fresh matrix (RttMatrixRequest.fresh): the bootstrap waits up to 2.5 s for the nodes' new figures. */
const RTT_FRESH_CALL_TIMEOUT_MS = 4000;

export function createGrpcControlClient(init: GrpcControlInit): ControlClient {
  const Mesh = loadProtos().mesh.wgmesh.v1.Mesh;
  const client: MeshClient = new Mesh(init.address, init.credentials, {
    'grpc.keepalive_time_ms': 20_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.initial_reconnect_backoff_ms': 500,
    'grpc.max_reconnect_backoff_ms': 5000,
    ...init.channelOptions,
  });
  const timeout = init.callTimeoutMs ?? 10_000;
  function unary<Req, Res>(method: string, call: (req: Req, opts: grpc.CallOptions, cb: grpc.requestCallback<Res>) => unknown, timeoutMs = timeout) {
    return (req: Req) =>
      new Promise<Res>((resolve, reject) => {
        call(req, { deadline: Date.now() + timeoutMs }, (err, res) => {
          if (err) reject(new ControlCallError(err.code ?? grpc.status.UNKNOWN, err.details || err.message, method));
          else resolve(res!);
        });
      });
  }

  // Updates go over one Mesh.Heartbeat stream (unary Update with an older bootstrap).
  const heartbeats = new HeartbeatStream({
    open: () => client.heartbeat(),
    unary: unary('Update', client.update.bind(client) as never),
    timeoutMs: timeout,
  });

  return {
    join: unary('Join', client.join.bind(client) as never),
    update: (req: UpdateRequest) => heartbeats.update(req),
    // Short: `wgmesh rtt` waits on it, and answers with this node's own row when the bootstrap is away.
    rtt: (req: RttMatrixRequest) => unary<RttMatrixRequest, RttResponse__Output>('Rtt', client.rtt.bind(client) as never, req.fresh ? RTT_FRESH_CALL_TIMEOUT_MS : Math.min(timeout, RTT_CALL_TIMEOUT_MS))(req),
    presharedKeys: unary('PresharedKeys', client.presharedKeys.bind(client) as never),
    renew: unary('Renew', client.renew.bind(client) as never),
    leave: async (req) => {
      // Short: a node shutting down should not hang on a bootstrap that is away.
      await unary<LeaveRequest, unknown>('Leave', client.leave.bind(client) as never, Math.min(timeout, 3000))(req);
    },
    watch(req, callbacks) {
      const stream = client.watch(req);
      let ended = false;
      const end = (err?: ControlCallError) => {
        if (ended) return;
        ended = true;
        callbacks.onEnd(err);
      };
      stream.on('metadata', () => callbacks.onOpen());
      stream.on('data', (event: WatchEvent__Output) => callbacks.onEvent(event));
      stream.on('error', (err: grpc.ServiceError) => {
        end(err.code === grpc.status.CANCELLED ? undefined : new ControlCallError(err.code, err.details || err.message, 'Watch'));
      });
      stream.on('end', () => end());
      return {
        cancel() {
          ended = true;
          stream.cancel();
        },
      };
    },
    // Connecting takes a round trip or more (TCP, HTTP/2 and, with mTLS, TLS): started while the
    // join's request is made (STUN), not by the call.
    connectNow: () => void client.getChannel().getConnectivityState(true),
    close: () => {
      heartbeats.close();
      client.close();
    },
  };
}
