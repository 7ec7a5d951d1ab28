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

/** Mesh.PresharedKeys was called on a mesh whose bootstrap gives out no preshared keys (no -psk). */
export class PresharedKeysOff extends WgmeshError {
  constructor() {
    super('this mesh has no preshared keys: its bootstrap runs without -psk');
  }
}

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

/**
 * The shared store (etcd) cannot be reached: no endpoint answered, or not within the time the
 * store allows. The bootstrap fails closed: it refuses joins rather than allocate from stale state.
 */
export class StoreUnavailable extends WgmeshError {
  constructor(
    readonly endpoints: readonly string[],
    readonly reason: string,
  ) {
    super(
      `etcd is unreachable at ${endpoints.join(', ')} (${reason}); check that the etcd cluster runs and has a leader (etcdctl endpoint health), ` +
        'and that this bootstrap reaches it (the endpoints, a firewall, the TLS files); joins are refused until it answers',
    );
  }
}

/**
 * A conditional write lost: the key's mod revision is not the one the caller expected (0 = the key
 * does not exist). Someone else (another bootstrap) changed it first: read it again and decide anew.
 */
export class StoreConflict extends WgmeshError {
  constructor(
    readonly key: string,
    readonly expectedModRevision: number,
    readonly actualModRevision: number,
  ) {
    super(
      actualModRevision === 0
        ? `etcd key ${key} does not exist (expected it at mod revision ${expectedModRevision}); it was removed meanwhile: read it again`
        : `etcd key ${key} is at mod revision ${actualModRevision}, not ${expectedModRevision === 0 ? 'absent' : expectedModRevision} as expected; another bootstrap changed it first: read it again and retry`,
    );
  }
}

/** The etcd key prefix already holds another mesh (another name or CIDR). */
export class StoreMeshMismatch extends WgmeshError {
  constructor(
    readonly prefix: string,
    readonly stored: { readonly meshName: string; readonly cidr: string },
    readonly wanted: { readonly meshName: string; readonly cidr: string },
  ) {
    super(
      `etcd prefix ${prefix} holds mesh "${stored.meshName}" (${stored.cidr}), not "${wanted.meshName}" (${wanted.cidr}); ` +
        'start this bootstrap with that mesh\'s name and CIDR, or give it another etcd prefix (a prefix is never reset silently)',
    );
  }
}

/** A value under the store's prefix is not what the store writes (edited by hand, another program), or its keys disagree. */
export class StoreCorrupt extends WgmeshError {
  constructor(
    readonly key: string,
    reason: string,
  ) {
    super(`etcd key ${key}: ${reason}; inspect it with etcdctl get ${key} (the mesh's members and IPs are there: it is never repaired silently)`);
  }
}

/** What stands in the way of moving one state-file member into etcd. */
export interface MigrationProblem {
  /** The member of the state file ("" for the mesh record itself). */
  readonly member: string;
  readonly reason: string;
}

/**
 * A mesh cannot be moved into etcd as it is: the prefix already holds something else under a
 * member's name, IP or key, or a mesh record made apart from this file. Nothing was written.
 */
export class MigrationConflict extends WgmeshError {
  constructor(
    readonly prefix: string,
    readonly problems: readonly MigrationProblem[],
  ) {
    super(
      `cannot move the mesh into etcd prefix ${prefix}, nothing was written: ${problems.map((p) => (p.member ? `member "${p.member}": ${p.reason}` : p.reason)).join('; ')}. ` +
        `Remove what is in the way (etcdctl get --prefix ${prefix} shows it; a member is two keys, members/<name> and ips/<its IP>: delete both) or migrate to another -etcd-prefix, then run the migration again`,
    );
  }
}

/** An enrollment token that cannot be read: not a wgm1 token, cut short, oversized, or for another mesh or CA. */
export class TokenInvalid extends WgmeshError {}

/** No token with this secret was ever made here (or it was forgotten long after it expired). */
export class TokenUnknown extends WgmeshError {
  constructor() {
    super('unknown token: this bootstrap never issued it (a typo, or a token of another mesh); ask the mesh operator for a new one (`wgmesh token create` on a bootstrap)');
  }
}

export class TokenExpired extends WgmeshError {
  constructor(readonly id: string, readonly expiredAtMs: number) {
    super(`token ${id} expired at ${new Date(expiredAtMs).toISOString()}; ask for a new one (\`wgmesh token create -ttl …\` on a bootstrap)`);
  }
}

export class TokenUsed extends WgmeshError {
  constructor(readonly id: string, readonly uses: number, readonly usedBy: readonly string[]) {
    super(`token ${id} is already used (${uses} of ${uses} use${uses === 1 ? '' : 's'}, by ${usedBy.join(', ') || 'another node'}); a token enrolls only as many nodes as it was made for: ask for a new one`);
  }
}

export class TokenRevoked extends WgmeshError {
  constructor(readonly id: string, readonly revokedAtMs: number) {
    super(`token ${id} was revoked at ${new Date(revokedAtMs).toISOString()}; ask for a new one`);
  }
}

/** `token revoke ID`: no token has that id. */
export class TokenNotFound extends WgmeshError {
  constructor(readonly id: string) {
    super(`no token with id "${id}" (\`wgmesh token list\` shows them)`);
  }
}

/** `ca revoke NAME` on a bootstrap that knows no certificate of that name (or not that serial). */
export class CertificateNotFound extends WgmeshError {
  constructor(readonly nodeName: string, readonly serial?: string) {
    super(serial
      ? `"${nodeName}" has no certificate with serial ${serial} that this bootstrap knows (\`wgmesh ca list -socket PATH -all\` shows them)`
      : `no certificate of "${nodeName}" is known to this bootstrap: it signed none for that name and no member of that name holds one. ` +
        'A certificate issued from a CA directory to a node that is not a member now is revoked there: `wgmesh ca revoke -dir DIR NAME` (and the bootstrap\'s -grpc-crl)');
  }
}

/** Too many bad tokens from one source address lately. */
export class TooManyBadTokens extends WgmeshError {
  constructor(readonly source: string, readonly retryAfterMs: number) {
    super(`too many bad tokens from ${source}; retry in ${Math.ceil(retryAfterMs / 1000)} s`);
  }
}

/** A certificate signing request that is refused: nothing is signed, the token is not used. */
export class CsrRejected extends WgmeshError {
  constructor(reason: string) {
    super(`certificate request refused (nothing was signed, the token is still unused): ${reason}`);
  }
}

/** Enroll reached a bootstrap that does not sign certificates (no -ca-key, or dev mode). */
export class RenewalDisabled extends WgmeshError {
  constructor() {
    super('this bootstrap does not sign certificates: it was started without -ca-key, so it cannot renew; start it (or another bootstrap of the mesh) with -ca-key, or issue a new certificate with `wgmesh ca issue` and restart the node with it');
  }
}

export class EnrollmentDisabled extends WgmeshError {
  constructor() {
    super('this bootstrap does not enroll nodes: it was started without -ca-key; start it with -ca-key (the CA\'s private key, beside -grpc-ca-cert) or join with a certificate');
  }
}
