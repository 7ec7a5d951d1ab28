import type { sendUnaryData } from '@grpc/grpc-js';
import type { EnrollRequest__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/EnrollRequest';
import type { EnrollResponse } from '@wgmesh/agent/proto/gen/wgmesh/v1/EnrollResponse';
import type { RenewRequest__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/RenewRequest';
import type { RenewResponse } from '@wgmesh/agent/proto/gen/wgmesh/v1/RenewResponse';
import type { JoinRequest__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/JoinRequest';
import type { JoinResponse } from '@wgmesh/agent/proto/gen/wgmesh/v1/JoinResponse';
import type { LeaveRequest__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/LeaveRequest';
import type { LeaveResponse } from '@wgmesh/agent/proto/gen/wgmesh/v1/LeaveResponse';
import type { MeshHandlers } from '@wgmesh/agent/proto/gen/wgmesh/v1/Mesh';
import type { PresharedKeysRequest__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/PresharedKeysRequest';
import type { PresharedKeysResponse } from '@wgmesh/agent/proto/gen/wgmesh/v1/PresharedKeysResponse';
import type { RttMatrixRequest__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/RttMatrixRequest';
import type { RttResponse } from '@wgmesh/agent/proto/gen/wgmesh/v1/RttResponse';
import type { UpdateRequest__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/UpdateRequest';
import type { UpdateResponse } from '@wgmesh/agent/proto/gen/wgmesh/v1/UpdateResponse';
import type { Logger } from '@wgmesh/agent/log';
import { errorMessage } from '@wgmesh/agent/log';
import type { MemberTable, Identity } from '../members/table.js';
import { EnrollmentDisabled, InvalidField, MeshNotFound, PermissionDenied, RenewalDisabled, Unauthenticated } from '../errors.js';
import type { Enrollment } from '../enroll/enrollment.js';
import { sourceAddress } from '../enroll/rate-limit.js';
import { DEFAULTS, LIMITS } from '../constants.js';
import { parsePrefix } from '../ipam/ipam.js';
import type { Authenticator, CallIdentity, ServerSurfaceCall } from './auth.js';
import { toServiceError } from './status.js';
import { createWatchHandler, type WatchQueueLimits } from './watch.js';
import type { FanoutListener } from './watch-fanout.js';
import { createHeartbeatHandler, notThisStreamsNode } from './heartbeat.js';
import { EncodedMembership } from './membership-bytes.js';
import type { SendBudget } from './send-budget.js';
import { answerPresharedKeys } from '../psk/answer.js';
import type { PresharedKeySource } from '../psk/psk.js';
import {
  EndpointIpCheck, validateEndpoints, validateListenPort, validateMeshName, validateNodeName, validatePublicKey, validateRelayed, validateRttSamples, validateTags,
} from './validate.js';

export interface MeshServiceComponents {
  readonly table: MemberTable;
  readonly auth: Authenticator;
  readonly logger: Logger;
  /** bootstrap -psk: every pair's preshared key comes from here; none: the mesh has none. */
  readonly presharedKeys?: PresharedKeySource;
  /** Enroll's tokens and CA (a bootstrap with -ca-key); none: Enroll answers FAILED_PRECONDITION. */
  readonly enrollment?: Enrollment;
}

export interface MeshServiceInit {
  /** How far one watcher may fall behind, and how live changes are coalesced; defaults DEFAULTS.watchQueueMaxEvents / watchQueueMaxBytes / watchFlushMinGapMs / watchFlushGapPerWatcherMs / watchFlushMaxGapMs. */
  readonly watchQueue?: Partial<WatchQueueLimits>;
  /**
   * Where Watch snapshots wait for room: the budget the server holds Join answers under (see
   * JoinServer), so both kinds of whole-membership answer share one bound. None: not bounded.
   */
  readonly answers?: SendBudget;
  /** Told of each fan-out of live changes to the Watch streams. */
  readonly onFanout?: FanoutListener;
}

/** Watch events sent, per stream and in all; tests and benchmarks read these. */
export interface MeshServiceStats {
  watchers: number;
  eventsSent: number;
  /** Watch streams ended because the watcher fell behind (RESOURCE_EXHAUSTED). */
  watchersFellBehind: number;
  /** Open Mesh.Heartbeat streams. */
  heartbeatStreams: number;
  joinsAccepted: number;
  /** Refused joins by reason (the error's class name, e.g. InvalidField, NameTaken). */
  joinsRejected: Record<string, number>;
}

/** The Mesh service handlers: validation, identity, then one call into the member table. */
export function createMeshService(
  components: MeshServiceComponents,
  init: MeshServiceInit = {},
): { handlers: MeshHandlers; stats: MeshServiceStats; closeWatchers(): void } {
  const { table, auth, logger } = components;
  const meshCidr = parsePrefix(table.cidr);
  // Endpoint IPs that passed, kept for this service's lifetime only.
  const endpointIps = new EndpointIpCheck();
  const watchQueue: WatchQueueLimits = {
    maxEvents: init.watchQueue?.maxEvents ?? DEFAULTS.watchQueueMaxEvents,
    maxBytes: init.watchQueue?.maxBytes ?? DEFAULTS.watchQueueMaxBytes,
    flushMinGapMs: init.watchQueue?.flushMinGapMs ?? DEFAULTS.watchFlushMinGapMs,
    flushGapPerWatcherMs: init.watchQueue?.flushGapPerWatcherMs ?? DEFAULTS.watchFlushGapPerWatcherMs,
    flushMaxGapMs: init.watchQueue?.flushMaxGapMs ?? DEFAULTS.watchFlushMaxGapMs,
  };
  const stats: MeshServiceStats = { watchers: 0, eventsSent: 0, watchersFellBehind: 0, heartbeatStreams: 0, joinsAccepted: 0, joinsRejected: {} };

  function checkMesh(meshName: string): void {
    validateMeshName(meshName);
    if (meshName !== table.meshName) throw new MeshNotFound(meshName, table.meshName);
  }

  /** The node name a call acts for, and the proof of identity to check against the member. */
  function resolveIdentity(who: CallIdentity, requestedName: string, publicKey: string, secret: string): { name: string; identity: Identity } {
    let name: string;
    if (who.certName !== undefined) {
      name = requestedName ? validateNodeName(requestedName) : validateNodeName(who.certName, 'certificate CN');
      if (name !== who.certName.toLowerCase()) {
        throw new PermissionDenied(`node_name "${name}" does not match the client certificate's CN "${who.certName}"; join with -n matching the certificate, or issue a certificate for "${name}" with \`wgmesh ca issue ${name}\``);
      }
    } else {
      name = validateNodeName(requestedName);
    }
    // With a certificate, the certificate is the identity: a secret sent along is not looked at.
    return { name, identity: who.cert ? { publicKey, cert: who.cert } : { publicKey, ...(secret ? { secret } : {}) } };
  }

  /** Every request names its mesh and node and proves who it is: checked the same way for all. */
  function caller(call: ServerSurfaceCall, req: { meshName: string; nodeName: string; publicKey: string; nodeSecret: string }): { name: string; identity: Identity; publicKey: string } {
    return callerAs(auth.identify(call), req);
  }

  /** caller() with the transport's identity already read (a Heartbeat stream reads it once). */
  function callerAs(who: CallIdentity, req: { meshName: string; nodeName: string; publicKey: string; nodeSecret: string }): { name: string; identity: Identity; publicKey: string } {
    checkMesh(req.meshName);
    const publicKey = validatePublicKey(req.publicKey);
    if (req.nodeSecret.length > LIMITS.nodeSecretMax) throw new InvalidField('node_secret', `is longer than ${LIMITS.nodeSecretMax} characters`);
    return { ...resolveIdentity(who, req.nodeName, publicKey, req.nodeSecret), publicKey };
  }

  /**
   * An Update as `who`: the unary call's and every Heartbeat message's work. `boundName` (a
   * Heartbeat stream's node) set, a request for another node is refused.
   */
  async function applyUpdate(who: CallIdentity, req: UpdateRequest__Output, boundName?: string): Promise<{ name: string; response: UpdateResponse }> {
    const { name, identity } = callerAs(who, req);
    if (boundName !== undefined && name !== boundName) throw notThisStreamsNode(boundName, name);
    const endpoints = validateEndpoints(req.endpoints, meshCidr, endpointIps);
    const tags = validateTags(req.tags);
    const rtt = validateRttSamples(req.rtt);
    const relayed = validateRelayed(req.relayed);
    const newKey = req.newPublicKey ? { publicKey: validatePublicKey(req.newPublicKey, 'new_public_key'), ...(req.newNodeSecret ? { secret: req.newNodeSecret } : {}) } : undefined;
    const revision = await table.update(name, identity, { endpoints, tags, rtt, relayed, ...(newKey ? { newKey } : {}) });
    if (newKey) logger.info('node rotated its key', { node: name, publicKey: newKey.publicKey, revision });
    return { name, response: { revision, relayPairs: table.relayedPairs.pairsVia(name) } };
  }

  const membership = new EncodedMembership();
  const watch = createWatchHandler({ table, caller, logger, stats, membership, ...(init.answers ? { budget: init.answers } : {}), ...(init.onFanout ? { onFanout: init.onFanout } : {}) }, watchQueue);
  const heartbeat = createHeartbeatHandler({
    identify: (call) => auth.identify(call),
    ...(auth.recheck ? { recheck: (who: CallIdentity) => auth.recheck!(who) } : {}),
    update: applyUpdate,
    stats,
  });

  const handlers: MeshHandlers = {
    Join(call, callback) {
      const req: JoinRequest__Output = call.request;
      answer(callback, async (): Promise<JoinResponse> => {
        const { name, identity, publicKey } = caller(call, req);
        const endpoints = validateEndpoints(req.endpoints, meshCidr, endpointIps);
        const tags = validateTags(req.tags);
        const listenPort = validateListenPort(req.listenPort);
        const { member, revision, created, secret } = await table.join({ name, identity, endpoints, tags, listenPort, relay: req.relay, ...(req.previousMeshIp ? { previousIp: req.previousMeshIp } : {}) });
        logger.info(created ? 'node joined' : 'node re-joined', { node: name, meshIp: member.meshIp, publicKey, revision });
        return membership.joinResponse({ ...table.joinResponse(member, secret), presharedKeys: components.presharedKeys !== undefined });
      }, {
        ok: () => stats.joinsAccepted++,
        failed: (err) => {
          const reason = err instanceof Error ? err.constructor.name : 'Error';
          stats.joinsRejected[reason] = (stats.joinsRejected[reason] ?? 0) + 1;
          logger.warn('join refused', { node: req.nodeName, peer: call.getPeer(), err: errorMessage(err) });
        },
      });
    },

    Update(call, callback) {
      const req: UpdateRequest__Output = call.request;
      answer(callback, async (): Promise<UpdateResponse> => (await applyUpdate(auth.identify(call), req)).response);
    },

    Heartbeat: heartbeat.Heartbeat,

    Rtt(call, callback) {
      const req: RttMatrixRequest__Output = call.request;
      answer(callback, async (): Promise<RttResponse> => {
        const { name, identity } = caller(call, req);
        // Members only, as themselves: the matrix tells who is in the mesh.
        table.authorize(name, identity);
        return req.fresh ? table.freshRttMatrix() : table.rttMatrix();
      });
    },

    PresharedKeys(call, callback) {
      const req: PresharedKeysRequest__Output = call.request;
      answer(callback, async (): Promise<PresharedKeysResponse> => {
        const { name, identity } = caller(call, req);
        // Members only, as themselves: the keys of a pair go to its two ends and no one else.
        const self = table.authorize(name, identity);
        // Keys are never logged, nor counted per peer: only that a node asked.
        return { keys: answerPresharedKeys(components.presharedKeys, self, table.currentMembers(), req.peers) };
      });
    },

    Leave(call, callback) {
      const req: LeaveRequest__Output = call.request;
      answer(callback, async (): Promise<LeaveResponse> => {
        const { name, identity } = caller(call, req);
        await table.remove(name, identity);
        logger.info('node left', { node: name });
        return {};
      });
    },

    Watch: watch.Watch,

    // No client certificate here (the caller has none yet): the token is the credential. Every
    // other method identifies the caller per call (auth.identify), so they still refuse callers
    // without a certificate.
    Enroll(call, callback) {
      const req: EnrollRequest__Output = call.request;
      answer(callback, async (): Promise<EnrollResponse> => {
        if (!components.enrollment) throw new EnrollmentDisabled();
        return components.enrollment.enroll({ token: req.token, csrPem: req.csrPem }, sourceAddress(call.getPeer()));
      }, {
        failed: (err) => logger.warn('enrollment refused', { peer: call.getPeer(), err: errorMessage(err) }),
      });
    },

    // The node's current client certificate is the credential (checked per call, as for Update):
    // its CN must be node_name, and the CSR must ask for that same name.
    Renew(call, callback) {
      const req: RenewRequest__Output = call.request;
      answer(callback, async (): Promise<RenewResponse> => {
        const who = auth.identify(call);
        if (who.certName === undefined) throw new Unauthenticated('Renew needs the node\'s current client certificate (mTLS); a dev-mode bootstrap has no certificates to renew');
        if (!components.enrollment) throw new RenewalDisabled();
        return components.enrollment.renew({ nodeName: req.nodeName, csrPem: req.csrPem }, who.certName, call.getPeer());
      }, {
        failed: (err) => logger.warn('renewal refused', { node: req.nodeName, peer: call.getPeer(), err: errorMessage(err) }),
      });
    },
  };

  return {
    handlers,
    stats,
    // The bootstrap stopping: every open stream ends, so the server can shut down.
    closeWatchers() {
      watch.closeWatchers();
      heartbeat.closeHeartbeats();
    },
  };
}

/** Runs a unary handler's work and answers with its result or its error as a gRPC status. */
function answer<T>(callback: sendUnaryData<T>, work: () => Promise<T>, hooks: { ok?: () => void; failed?: (err: unknown) => void } = {}): void {
  work().then(
    (res) => {
      hooks.ok?.();
      callback(null, res);
    },
    (err: unknown) => {
      hooks.failed?.(err);
      callback(toServiceError(err));
    },
  );
}
