import { Metadata, status, type ServerDuplexStream } from '@grpc/grpc-js';
import type { MeshHandlers } from '@wgmesh/agent/proto/gen/wgmesh/v1/Mesh';
import type { HeartbeatAnswer } from '@wgmesh/agent/proto/gen/wgmesh/v1/HeartbeatAnswer';
import type { HeartbeatMessage__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/HeartbeatMessage';
import type { UpdateRequest__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/UpdateRequest';
import type { UpdateResponse } from '@wgmesh/agent/proto/gen/wgmesh/v1/UpdateResponse';
import { InvalidField, PermissionDenied } from '../errors.js';
import type { CallIdentity, ServerSurfaceCall } from './auth.js';
import { toServiceError } from './status.js';

/**
 * The server side of Mesh.Heartbeat: Updates as messages on one stream per node. The caller is
 * identified once, when the stream opens (its client certificate, the expensive part); each message
 * is then applied exactly as a unary Update (the same validation and identity proof against the
 * member), with the stream's identity checked again for what can change meanwhile (recheck: an
 * expired or revoked certificate), and only for the node whose first accepted message bound the
 * stream. Messages are applied one at a time in arrival order and answered in that order; a refused
 * one is answered with its status and the stream goes on.
 */

export interface HeartbeatServiceComponents {
  /** Who the stream's caller is, as for every Mesh call (throws to refuse the stream). */
  identify(call: ServerSurfaceCall): CallIdentity;
  /** Checks the stream's identity again before each message (throws to refuse the message). */
  recheck?(who: CallIdentity): void;
  /**
   * One Update by `who`; `boundName` set, a request for another node is refused. Answers the node
   * it acted for with the Update's response.
   */
  update(who: CallIdentity, req: UpdateRequest__Output, boundName: string | undefined): Promise<{ name: string; response: UpdateResponse }>;
  readonly stats: { heartbeatStreams: number };
}

/** More unanswered messages than this on one stream end it (a node sends one at a time). */
export const HEARTBEAT_MAX_QUEUED = 32;

type Stream = ServerDuplexStream<HeartbeatMessage__Output, HeartbeatAnswer>;

export function createHeartbeatHandler(components: HeartbeatServiceComponents): { Heartbeat: MeshHandlers['Heartbeat']; closeHeartbeats(): void } {
  const { stats } = components;
  const open = new Map<Stream, () => void>();

  const Heartbeat: MeshHandlers['Heartbeat'] = (call) => {
    let who: CallIdentity;
    try {
      who = components.identify(call);
    } catch (err) {
      call.emit('error', toServiceError(err));
      return;
    }
    call.sendMetadata(new Metadata());
    let bound: string | undefined;
    let queued = 0;
    let done = false;
    let chain: Promise<void> = Promise.resolve();
    stats.heartbeatStreams++;
    open.set(call, finish);

    function finish(): void {
      if (done) return;
      done = true;
      stats.heartbeatStreams--;
      open.delete(call);
    }

    async function answer(msg: HeartbeatMessage__Output): Promise<void> {
      const seq = msg.seq;
      let reply: HeartbeatAnswer;
      try {
        if (!msg.update) throw new InvalidField('update', 'is missing from the heartbeat message');
        components.recheck?.(who);
        const { name, response } = await components.update(who, msg.update, bound);
        bound ??= name;
        reply = { seq, response };
      } catch (err) {
        const e = toServiceError(err);
        reply = { seq, code: e.code ?? status.INTERNAL, message: e.details ?? '' };
      }
      queued--;
      if (!done) call.write(reply);
    }

    call.on('data', (msg: HeartbeatMessage__Output) => {
      if (done) return;
      if (++queued > HEARTBEAT_MAX_QUEUED) {
        finish();
        call.emit('error', toServiceError(new InvalidField('heartbeat stream', `more than ${HEARTBEAT_MAX_QUEUED} messages unanswered; send one at a time`)));
        return;
      }
      chain = chain.then(() => answer(msg));
    });
    // The node closed its side: answer what came, then end ours.
    call.on('end', () => {
      void chain.then(() => {
        if (done) return;
        finish();
        call.end();
      });
    });
    call.on('cancelled', finish);
    call.on('close', finish);
    call.on('error', finish);
  };

  return {
    Heartbeat,
    closeHeartbeats() {
      for (const [call, finish] of open) {
        finish();
        call.end();
      }
    },
  };
}

/** A message naming a node other than the one the stream belongs to. */
export function notThisStreamsNode(bound: string, asked: string): PermissionDenied {
  return new PermissionDenied(`this heartbeat stream belongs to node "${bound}", not "${asked}"; open a stream per node`);
}
