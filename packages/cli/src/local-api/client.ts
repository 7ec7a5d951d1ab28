/**
 * A client of a wgmesh node's local API (its Unix socket): shared by the commands that read it
 * (`info`, `tags`, `rtt`) and by the lab, which waits for its nodes through it.
 */
import * as grpc from '@grpc/grpc-js';
import { existsSync } from 'node:fs';
import { AGENT_DEFAULTS } from '@wgmesh/agent/constants';
import { loadProtos } from '@wgmesh/agent/proto/load';
import { type AgentClient } from '@wgmesh/agent/proto/gen/wgmesh/v1/Agent';
import type { FlagSpec } from '../flags/parse.js';
import { COMMON_FLAGS } from '../flags/common.js';
import { LocalApiUnavailable } from '../errors.js';

export const SOCKET_FLAG: FlagSpec = { name: 'socket', type: 'string', value: 'PATH', default: AGENT_DEFAULTS.socketPath, help: 'Unix socket of the local wgmesh node' };

/**
 * The flags of every command that talks to the local node (info, tags, rtt, rotate-key; a `ui`
 * too): the socket, and -v, -d, -config as every command of the original wgmesh has them. Resolve
 * them with compat 'client' (the original's -agent-grpc-socket, WGMESH_AGENT_SOCKET, agent: keys).
 */
export const CLIENT_FLAGS: readonly FlagSpec[] = [SOCKET_FLAG, ...COMMON_FLAGS];

/** A client of this machine's wgmesh node, over its Unix socket. */
export function connectLocal(socketPath: string): AgentClient {
  if (!existsSync(socketPath)) {
    throw new LocalApiUnavailable(`no wgmesh node is running here: ${socketPath} does not exist. Start one with \`wgmesh bootstrap\` or \`wgmesh join\` (or give -socket)`);
  }
  const Agent = loadProtos().agent.wgmesh.v1.Agent;
  return new Agent(`unix://${socketPath}`, grpc.credentials.createInsecure());
}

export function describeLocalError(err: grpc.ServiceError | Error, socketPath: string): string {
  const code = (err as grpc.ServiceError).code;
  if (code === grpc.status.UNAVAILABLE) {
    return `cannot reach the wgmesh node on ${socketPath} (${(err as grpc.ServiceError).details}); is it running? Permission is by file mode 0660: run as root or as the socket's group`;
  }
  return (err as grpc.ServiceError).details || err.message;
}

/**
 * Runs `use` with a client of the local node on `socketPath` (info, tags, rtt). When it fails,
 * the client is closed, and a failed call to the node (a gRPC status) becomes an Error saying
 * what went wrong on that socket.
 */
export async function withLocalClient<T>(socketPath: string, use: (client: AgentClient) => Promise<T>): Promise<T> {
  const client = connectLocal(socketPath);
  try {
    return await use(client);
  } catch (err) {
    client.close();
    if (typeof (err as grpc.ServiceError).code === 'number') throw new Error(describeLocalError(err as grpc.ServiceError, socketPath), { cause: err });
    throw err;
  }
}

export function unary<T>(call: (cb: (err: grpc.ServiceError | null, res?: T) => void) => unknown): Promise<T> {
  return new Promise((resolve, reject) => call((err, res) => (err ? reject(err) : resolve(res!))));
}

export function deadline(ms = 5000): grpc.CallOptions {
  return { deadline: Date.now() + ms };
}
