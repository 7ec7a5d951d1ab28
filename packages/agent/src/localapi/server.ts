import * as grpc from '@grpc/grpc-js';
import { chown, lstat, unlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { connect } from 'node:net';
import type { Agent } from '../agent.js';
import { Coalescer } from '../coalescer.js';
import { nodesByName } from '../netmap/netmap.js';
import { loadProtos, type AgentHandlers, type CertificateInfo, type CreateTokenRequest__Output, type CreateTokenResponse, type RevokeCertificateResponse, type TokenInfo } from '../proto/index.js';
import { buildRttMatrix, buildStatus } from '../status/status.js';
import { errorMessage, silentLogger, type Logger } from '../log.js';
import { InvalidTag, KeyRotationFailed, LocalApiError, NotASocket, RevocationUnavailable, SocketInUse, TagChangeFailed, TagNotFound, TokensUnavailable } from '../errors.js';
import { SHARED_LIMITS } from '../limits.js';

/** How long a local Watch's keep-fresh lasts past its last refresh (every 2 s while open). */
const LOCAL_WATCH_FRESH_MS = 5_000;

export interface LocalApiInit {
  readonly socketPath: string;
  /** "UID:GID" to own the socket; group members may then use `wgmesh info` without root. */
  readonly owner?: string;
  /** Enrollment tokens (a bootstrap with -ca-key); none: the token calls answer FAILED_PRECONDITION. */
  readonly tokens?: TokenAdmin;
  /** Certificate revocation (a bootstrap with -ca-key); none: the revocation calls answer FAILED_PRECONDITION. */
  readonly certificates?: CertificateAdmin;
}

/**
 * What the local API's token calls are served by: injected by the bootstrap, which owns the
 * tokens (the agent package knows nothing of bootstraps). Errors it throws carry a gRPC `code`.
 */
export interface TokenAdmin {
  create(request: CreateTokenRequest__Output): Promise<CreateTokenResponse>;
  list(): Promise<TokenInfo[]>;
  revoke(id: string): Promise<TokenInfo>;
}

/**
 * What the local API's revocation calls are served by: injected by a bootstrap that signs
 * certificates, like TokenAdmin. Errors it throws carry a gRPC `code`.
 */
export interface CertificateAdmin {
  /** Revokes `name`'s certificates (only `serial` when given); the members they admit are removed before it returns. */
  revoke(name: string, serial: string): Promise<RevokeCertificateResponse>;
  /** The revoked certificates (all: every one it knows). */
  list(all: boolean): Promise<CertificateInfo[]>;
}

/** The Agent service on a Unix socket, mode 0660: file permissions are its access control. */
export class LocalApiServer {
  private server: grpc.Server | undefined;
  private readonly logger: Logger;

  constructor(private readonly agent: Agent, private readonly init: LocalApiInit, logger?: Logger) {
    this.logger = logger ?? silentLogger();
  }

  async start(): Promise<void> {
    await claimSocketPath(this.init.socketPath);
    // The join service's cap: a huge request is refused (RESOURCE_EXHAUSTED) before any handler runs.
    const server = new grpc.Server({ 'grpc.max_receive_message_length': SHARED_LIMITS.messageMax });
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
    // Only our socket: whatever else has been put at the path since is not ours to remove.
    const found = await lstat(this.init.socketPath).catch(() => undefined);
    if (found?.isSocket()) await unlink(this.init.socketPath).catch(() => {});
  }

  private async tokenAdmin(): Promise<TokenAdmin> {
    if (!this.init.tokens) throw new TokensUnavailable();
    return this.init.tokens;
  }

  private async certificateAdmin(): Promise<CertificateAdmin> {
    if (!this.init.certificates) throw new RevocationUnavailable(this.agent.options.isBootstrap ?? false);
    return this.init.certificates;
  }

  private handlers(): AgentHandlers {
    const agent = this.agent;
    const fail = (err: unknown) => ({ code: statusFor(err), details: errorMessage(err) });
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
        // An open dashboard (info -watch, ui) shows this node's RTT figures: its peers are probed
        // every second while it is open (at rest, every 30 s).
        agent.keepRttFresh(Date.now() + LOCAL_WATCH_FRESH_MS);
        // Handshakes and transfer counters change without membership events: refresh now and then.
        const timer = setInterval(() => {
          agent.keepRttFresh(Date.now() + LOCAL_WATCH_FRESH_MS);
          onChange();
        }, 2000);
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
        agent.setTag(key, value).then((tags) => callback(null, { tags }), (err) => callback(fail(err)));
      },
      DeleteTag(call, callback) {
        agent.deleteTag(call.request.key).then((tags) => callback(null, { tags }), (err) => callback(fail(err)));
      },
      Rtt(call, callback) {
        buildRttMatrix(agent, { fresh: call.request.fresh === true }).then((matrix) => callback(null, matrix), (err) => callback(fail(err)));
      },
      CreateToken: (call, callback) => {
        this.tokenAdmin().then((t) => t.create(call.request)).then((res) => callback(null, res), (err) => callback(fail(err)));
      },
      ListTokens: (_call, callback) => {
        this.tokenAdmin().then((t) => t.list()).then((tokens) => callback(null, { tokens }), (err) => callback(fail(err)));
      },
      RevokeToken: (call, callback) => {
        this.tokenAdmin().then((t) => t.revoke(call.request.id)).then((info) => callback(null, { info }), (err) => callback(fail(err)));
      },
      RevokeCertificate: (call, callback) => {
        this.certificateAdmin().then((c) => c.revoke(call.request.name, call.request.serial)).then((res) => callback(null, res), (err) => callback(fail(err)));
      },
      ListRevoked: (call, callback) => {
        this.certificateAdmin().then((c) => c.list(call.request.all)).then((certificates) => callback(null, { certificates }), (err) => callback(fail(err)));
      },
      RotateKey(_call, callback) {
        agent.rotateKey().then((r) => callback(null, r), (err) => callback(fail(err)));
      },
    };
  }
}

/**
 * The one place where the local API's errors become gRPC status codes: a bad tag is
 * INVALID_ARGUMENT, a tag the node does not have NOT_FOUND, a change the bootstrap refused or
 * could not be asked about (and a key rotation that did not happen) FAILED_PRECONDITION, anything
 * else INTERNAL.
 */
export function statusFor(err: unknown): grpc.status {
  if (err instanceof TokensUnavailable || err instanceof RevocationUnavailable) return grpc.status.FAILED_PRECONDITION;
  // The token admin's own errors (the bootstrap's) come with their code.
  const code = (err as { grpcCode?: unknown } | undefined)?.grpcCode;
  if (typeof code === 'number') return code;
  if (err instanceof InvalidTag) return grpc.status.INVALID_ARGUMENT;
  if (err instanceof TagNotFound) return grpc.status.NOT_FOUND;
  if (err instanceof TagChangeFailed) return grpc.status.FAILED_PRECONDITION;
  if (err instanceof KeyRotationFailed) return grpc.status.FAILED_PRECONDITION;
  return grpc.status.INTERNAL;
}

/**
 * A socket left by a crashed agent makes bind fail: it is removed if nobody answers on it. Nothing
 * else at the path is ever removed (the agent runs as root): a regular file, a directory or a
 * symbolic link, even one to a socket, is refused with NotASocket.
 */
export async function claimSocketPath(path: string): Promise<void> {
  let found: Stats;
  try {
    found = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new LocalApiError(`cannot check the local API socket path ${path}: ${errorMessage(err)}; pick another -socket`);
  }
  if (!found.isSocket()) throw new NotASocket(path, describeFileType(found));
  if (await answers(path)) throw new SocketInUse(path);
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw new LocalApiError(`cannot remove the stale socket ${path}: ${err.message}; remove it yourself, or use another -socket`);
  });
}

function answers(path: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function describeFileType(found: Stats): string {
  if (found.isSymbolicLink()) return 'a symbolic link';
  if (found.isDirectory()) return 'a directory';
  if (found.isFile()) return 'a regular file';
  if (found.isFIFO()) return 'a named pipe';
  if (found.isBlockDevice() || found.isCharacterDevice()) return 'a device';
  return 'another kind of file';
}
