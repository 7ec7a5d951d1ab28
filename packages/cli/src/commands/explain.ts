import { status } from '@grpc/grpc-js';
import { ControlCallError, JoinCancelled, StartCancelled } from '@wgmesh/agent/errors';
import { errorMessage } from '@wgmesh/agent/log';
import { UsageError } from '../errors.js';

/**
 * Turns a failed join into what the operator should do about it. A refusal or an unreachable
 * bootstrap becomes a UsageError with the explanation; any other error is its own message already
 * (named errors say what to do) and keeps its class, which decides the exit status.
 */
export function explainJoinError(err: unknown, bootstrapAddr: string, dev: boolean): Error {
  if (!(err instanceof ControlCallError)) return err instanceof Error ? err : new Error(String(err));
  return new UsageError(explainControlError(err, bootstrapAddr, dev));
}

function explainControlError(err: ControlCallError, bootstrapAddr: string, dev: boolean): string {
  const why = err.details;
  switch (err.code) {
    case status.INVALID_ARGUMENT:
      return `the bootstrap refused the join: ${why}`;
    case status.NOT_FOUND:
      return `the bootstrap at ${bootstrapAddr} refused the join: ${why}`;
    case status.ALREADY_EXISTS:
      return `the bootstrap refused the join: ${why}. (This node's key is kept in -state-dir; a node name can only be used by the key or certificate that first joined with it.)`;
    case status.PERMISSION_DENIED:
      return `the bootstrap refused this node's identity: ${why}`;
    case status.RESOURCE_EXHAUSTED:
      return `the bootstrap cannot take this node: ${why}`;
    case status.UNAVAILABLE:
      return dev
        ? `cannot reach the bootstrap at ${bootstrapAddr}: ${why}. Check the address and port, and that \`wgmesh bootstrap\` runs there.`
        : `cannot reach the bootstrap at ${bootstrapAddr} over TLS: ${why}. Likely causes: the bootstrap is down; -ca-cert is not the mesh's CA; the client certificate is expired, revoked or from another CA; or the bootstrap runs with -dev (then join with -dev).`;
    default:
      return `join failed: ${why}`;
  }
}

/** What a join was doing when a signal stopped it before the node was up. */
export function explainStopDuringJoin(err: unknown, bootstrapAddr: string, dev: boolean): string {
  if (err instanceof JoinCancelled) {
    const last = err.lastError;
    if (last instanceof ControlCallError) return `the mesh was not joined yet: ${explainControlError(last, bootstrapAddr, dev)}`;
    return last === undefined ? `the mesh was not joined yet (the bootstrap at ${bootstrapAddr} had not answered)` : `the mesh was not joined yet: ${errorMessage(last)}`;
  }
  if (err instanceof StartCancelled) return `it was starting its ${err.part}; nothing it had started is left running`;
  return errorMessage(err);
}
