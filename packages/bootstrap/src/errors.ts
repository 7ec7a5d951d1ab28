/**
 * Every way a bootstrap request or start-up can fail, one class each. Mapped to gRPC status codes
 * in one place, service/status.ts (toServiceError), where the join service answers.
 */

export class WgmeshError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A request field is malformed. `field` names it, as the client sent it. */
export class InvalidField extends WgmeshError {
  constructor(readonly field: string, reason: string) {
    super(`invalid ${field}: ${reason}`);
  }
}

export class MeshNotFound extends WgmeshError {
  constructor(readonly requested: string, readonly served: string) {
    super(`mesh_name: this bootstrap serves mesh "${served}", not "${requested}"; check -n`);
  }
}

export class NameTaken extends WgmeshError {
  constructor(readonly nodeName: string) {
    super(`node_name: "${nodeName}" is already a member with another identity; choose another name, or remove the old node first`);
  }
}

export class PublicKeyTaken extends WgmeshError {
  constructor(readonly nodeName: string, readonly holder: string) {
    super(`public_key: the key of node "${nodeName}" is already the key of member "${holder}"; every node needs its own key pair (a copied state directory?): remove private.key from one of them so it makes a new one`);
  }
}

export class NodeNotFound extends WgmeshError {
  constructor(readonly nodeName: string) {
    super(`node_name: "${nodeName}" is not a member of this mesh (never joined, left, or was reaped); join again`);
  }
}

export class IdentityMismatch extends WgmeshError {
  constructor(readonly nodeName: string, detail: string) {
    super(`node "${nodeName}": ${detail}`);
  }
}

export class RangeExhausted extends WgmeshError {
  constructor(readonly range: string) {
    super(`no free mesh IP left in ${range}; remove nodes or start the mesh with a larger -cidr / -cidr-ipam`);
  }
}

/** A watcher left more changes unread than the bootstrap holds for one stream; it resumes by reconnecting. */
export class WatcherFellBehind extends WgmeshError {
  constructor(readonly nodeName: string, readonly events: number, readonly bytes: number) {
    super(
      `watcher "${nodeName}" fell behind: ${events} changes (${bytes} bytes) were waiting unread, more than the bootstrap holds for one stream; ` +
        'the stream is ended, and reconnecting with since_revision = the last revision received resumes from there (the wgmesh agent does so by itself)',
    );
  }
}

export class StateFileError extends WgmeshError {
  constructor(readonly file: string, reason: string) {
    super(`state file ${file}: ${reason}; fix or move it away (the mesh's members and IPs are in it: it is never reset silently)`);
  }
}

export class ConfigError extends WgmeshError {}

/** The call carries no client certificate. */
export class Unauthenticated extends WgmeshError {}

/** The call is not allowed for the identity it carries (a name its certificate does not name). */
export class PermissionDenied extends WgmeshError {}

/** The client certificate is not acceptable (foreign CA, expired, not yet valid, revoked). */
export class CertificateRejected extends WgmeshError {}

/** The state dir was used before but has no bootstrap.json (or -new-mesh was given while it exists): starting would make a new mesh silently. */
export class MeshStartRefused extends WgmeshError {}

/** A certificate revocation list that cannot be used: not a PEM CRL, malformed, or not signed by the mesh's CA. */
export class CrlError extends WgmeshError {
  readonly code = 'CRL_INVALID';
}

/** A field of the state file is missing or wrong: its path in the file (members[3].endpoints) and what is wrong. Becomes a StateFileError. */
export class StateProblem extends WgmeshError {
  constructor(readonly path: string, readonly why: string) {
    super(`${path}: ${why}`);
  }
}

/** The STUN responder's UDP port is taken by another process. */
export class StunPortInUse extends WgmeshError {
  constructor(
    readonly bindAddr: string,
    readonly port: number,
  ) {
    super(`UDP port ${port} is in use; pick another -stun-port, or -stun-port 0 to disable`);
  }
}

/** The STUN responder could not bind for another reason (address not on this host, no permission). */
export class StunBindFailed extends WgmeshError {
  constructor(
    readonly bindAddr: string,
    readonly port: number,
    reason: string,
  ) {
    super(`cannot serve STUN on UDP ${bindAddr}:${port}: ${reason}`);
  }
}
