import * as grpc from '@grpc/grpc-js';
import { loadProtos } from '@wgmesh/agent/proto/load';
import { type MeshHandlers } from '@wgmesh/agent/proto/gen/wgmesh/v1/Mesh';
import { type WatchEvent } from '@wgmesh/agent/proto/gen/wgmesh/v1/WatchEvent';
import { ConfigError } from '../errors.js';
import { DEFAULTS, LIMITS } from '../constants.js';
import { joinResponseSerializer, preencodedMembershipBytes } from './membership-bytes.js';
import { SendBudget } from './send-budget.js';

export interface JoinServerInit {
  readonly bindAddr: string;
  readonly port: number;
  readonly credentials: grpc.ServerCredentials;
  /** Bytes of Join answers in flight over all callers; default DEFAULTS.joinAnswersInFlightMaxBytes. */
  readonly joinAnswersInFlightMaxBytes?: number;
  /** The budget itself, when others share it (Watch snapshots, see createMeshService); else one of its own. */
  readonly joinAnswers?: SendBudget;
}

const JOIN_PATH = '/wgmesh.v1.Mesh/Join';

/**
 * Holds each Join answer carrying the membership until the budget has room for it, and gives its
 * bytes back when its status goes out (for a unary call, after the answer was flushed) or the
 * call is cancelled (its deadline passed, or the caller went away).
 */
function joinAnswerBudget(budget: SendBudget): grpc.ServerInterceptor {
  return (method, call) => {
    if (method.path !== JOIN_PATH) return new grpc.ServerInterceptingCall(call);
    let release: (() => void) | undefined;
    const done = () => {
      release?.();
      release = undefined;
    };
    return new grpc.ServerInterceptingCall(call, {
      start: (next) => next({ onCancel: done }),
      sendMessage: (message, next) => {
        const bytes = preencodedMembershipBytes(message);
        if (bytes === undefined) next(message);
        else release = budget.take(bytes, () => next(message));
      },
      sendStatus: (status, next) => {
        done();
        next(status);
      },
    });
  };
}

/**
 * The Mesh service as the server registers it: a Watch event that is already encoded (a Buffer:
 * the Watch handler encodes each change once for all its watchers) is written as it is, and a
 * Join answer's membership is appended as the bytes EncodedMembership made once per revision.
 */
function meshServiceDefinition(): grpc.ServiceDefinition {
  const definition = loadProtos().mesh.wgmesh.v1.Mesh.service;
  const serialize = definition.Watch.responseSerialize;
  return {
    ...definition,
    Watch: { ...definition.Watch, responseSerialize: (event: WatchEvent | Buffer) => (Buffer.isBuffer(event) ? event : serialize(event)) },
    // A Join answer's membership comes encoded already (EncodedMembership).
    Join: { ...definition.Join, responseSerialize: joinResponseSerializer(definition.Join.responseSerialize) },
  };
}

/** The TLS (or, in dev mode, plain) gRPC listener of the Mesh service. */
export class JoinServer {
  private server: grpc.Server | undefined;
  boundPort = 0;
  readonly joinAnswers: SendBudget;

  constructor(private readonly handlers: MeshHandlers, private readonly init: JoinServerInit) {
    this.joinAnswers = init.joinAnswers ?? new SendBudget(init.joinAnswersInFlightMaxBytes ?? DEFAULTS.joinAnswersInFlightMaxBytes);
  }

  async start(): Promise<void> {
    const server = new grpc.Server({
      'grpc.max_receive_message_length': LIMITS.messageMax,
      'grpc.keepalive_time_ms': 20_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.keepalive_permit_without_calls': 1,
      // No channelz: it keeps a trace and counters per connection and per call (thousands of
      // connections at scale) that nothing here reads.
      'grpc.enable_channelz': 0,
      interceptors: [joinAnswerBudget(this.joinAnswers)],
    });
    server.addService(meshServiceDefinition(), this.handlers);
    const host = this.init.bindAddr.includes(':') ? `[${this.init.bindAddr}]` : this.init.bindAddr;
    this.boundPort = await new Promise<number>((resolve, reject) => {
      server.bindAsync(`${host}:${this.init.port}`, this.init.credentials, (err, port) => {
        if (err) {
          const inUse = /EADDRINUSE|address already in use/i.test(err.message);
          reject(new ConfigError(inUse
            ? `gRPC port ${this.init.bindAddr}:${this.init.port} is already in use (another bootstrap?); stop it or pick another -grpc-bind-port`
            : `cannot listen on ${this.init.bindAddr}:${this.init.port}: ${err.message}`));
        } else resolve(port);
      });
    });
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 2000);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
