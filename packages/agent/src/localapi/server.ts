import * as grpc from '@grpc/grpc-js';
import { chown, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import type { Agent } from '../agent.js';
import { Coalescer } from '../coalescer.js';
import { nodesByName } from '../netmap/netmap.js';
import { loadProtos, type AgentHandlers } from '../proto/index.js';
import { buildRttMatrix, buildStatus } from '../status/status.js';
import { errorMessage, silentLogger, type Logger } from '../log.js';

export interface LocalApiInit {
  readonly socketPath: string;
  /** "UID:GID" to own the socket; group members may then use `wgmesh info` without root. */
  readonly owner?: string;
}

export class LocalApiError extends Error {}

/** The Agent service on a Unix socket, mode 0660: file permissions are its access control. */
export class LocalApiServer {
  private server: grpc.Server | undefined;
  private readonly logger: Logger;

  constructor(private readonly agent: Agent, private readonly init: LocalApiInit, logger?: Logger) {
    this.logger = logger ?? silentLogger();
  }

  async start(): Promise<void> {
    await claimSocketPath(this.init.socketPath);
    const server = new grpc.Server();
    server.addService(loadProtos().agent.wgmesh.v1.Agent.service, this.handlers());
    const previous = process.umask(0o117);
    try {
      await new Promise<void>((resolve, reject) => {
        server.bindAsync(`unix://${this.init.socketPath}`, grpc.ServerCredentials.createInsecure(), (err) => {
          if (err) reject(new LocalApiError(`cannot serve the local API on ${this.init.socketPath}: ${err.message}; pick another -socket`));
          else resolve();
        });
      });
    } finally {
      process.umask(previous);
    }
    if (this.init.owner) {
      const [uid, gid] = this.init.owner.split(':').map(Number);
      await chown(this.init.socketPath, uid ?? 0, gid ?? 0);
    }
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.forceShutdown();
    await unlink(this.init.socketPath).catch(() => {});
  }

  private handlers(): AgentHandlers {
    const agent = this.agent;
    const fail = (err: unknown, code = grpc.status.INTERNAL) => ({ code, details: errorMessage(err) });
    return {
      Info(_call, callback) {
        buildStatus(agent).then((s) => callback(null, s), (err) => callback(fail(err)));
      },
      Nodes(_call, callback) {
        const nodes = nodesByName(agent.netmap);
        callback(null, { revision: agent.netmap.revision, nodes });
      },
      Watch: (call) => {
        const pusher = new Coalescer(async () => {
          try {
            call.write(await buildStatus(agent));
          } catch (err) {
            this.logger.debug('local watch write failed', { err: errorMessage(err) });
          }
        });
        const onChange = () => void pusher.run();
        agent.on('change', onChange);
        agent.on('reconciled', onChange);
        // Handshakes and transfer counters change without membership events: refresh now and then.
        const timer = setInterval(onChange, 2000);
        const done = () => {
          clearInterval(timer);
          agent.off('change', onChange);
          agent.off('reconciled', onChange);
        };
        call.on('cancelled', done);
        call.on('close', done);
        void pusher.run();
      },
      SetTag(call, callback) {
        const { key, value } = call.request;
        if (!key) return callback(fail('tag key is required', grpc.status.INVALID_ARGUMENT));
        agent.setTag(key, value).then((tags) => callback(null, { tags }), (err) => callback(fail(err, grpc.status.FAILED_PRECONDITION)));
      },
      DeleteTag(call, callback) {
        const { key } = call.request;
        // Only the node's own tags ("toString" is in every object), and the key named shortened: a
        // status message travels as a header, and one of 200 KB stalled the caller's whole connection.
        if (!Object.hasOwn(agent.currentTags, key)) return callback(fail(`no tag ${JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key)} on this node`, grpc.status.NOT_FOUND));
        agent.deleteTag(key).then((tags) => callback(null, { tags }), (err) => callback(fail(err, grpc.status.FAILED_PRECONDITION)));
      },
      Rtt(_call, callback) {
        buildRttMatrix(agent).then((matrix) => callback(null, matrix), (err) => callback(fail(err, grpc.status.INTERNAL)));
      },
    };
  }
}

/** A socket file left by a crashed agent makes bind fail: remove it if nobody answers on it. */
export async function claimSocketPath(path: string): Promise<void> {
  const alive = await new Promise<boolean>((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
  if (alive) throw new LocalApiError(`another wgmesh agent is already serving ${path}; stop it first, or use another -socket`);
  await unlink(path).catch(() => {});
}
