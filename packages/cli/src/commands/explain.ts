import { status } from '@grpc/grpc-js';
import { ControlCallError } from '@wgmesh/agent';

/** Turns a failed join into what the operator should do about it. */
export function explainJoinError(err: unknown, bootstrapAddr: string, dev: boolean): string {
  if (!(err instanceof ControlCallError)) return err instanceof Error ? err.message : String(err);
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
