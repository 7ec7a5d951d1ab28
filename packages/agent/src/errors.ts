import { excerpt } from './limits.js';

/**
 * Every named failure of the agent package, one class each. Messages say what to do, not only
 * what went wrong. The local API maps them to gRPC status codes in one place (statusFor in
 * localapi/server.ts); the CLI maps them to exit statuses in one place (its errors.ts).
 */

/** The base of every agent failure; `name` is the class's name. */
export class AgentError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

// ---------------------------------------------------------------------------------------------
// Tags (local API and bootstrap alike)

/** A tag key or value (or the whole set) breaks the rules; `field` names it, e.g. tags["role"]. */
export class InvalidTag extends AgentError {
  constructor(readonly field: string, readonly reason: string) {
    super(`invalid ${field}: ${reason}`);
  }
}

/** A tag to delete is not on this node. */
export class TagNotFound extends AgentError {
  constructor(key: string) {
    super(`no tag ${excerpt(key)} on this node; \`wgmesh tags\` lists them`);
  }
}

/**
 * A key rotation that did not happen: the node is not joined yet, or the bootstrap refused (or did
 * not answer) the announcement. The node keeps its previous key.
 */
export class KeyRotationFailed extends AgentError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`key rotation failed: ${reason}`, options);
  }
}

/**
 * A tag change the bootstrap refused or could not be asked about (the Update failed); the node's
 * tags stay as they were. The message is the failed call's.
 */
export class TagChangeFailed extends AgentError {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

// ---------------------------------------------------------------------------------------------
// The local API socket

export class LocalApiError extends AgentError {}

/** A token call (create, list, revoke) reached a node that does not sign certificates. */
export class TokensUnavailable extends LocalApiError {
  constructor() {
    super('this node does not hand out enrollment tokens: run `wgmesh token` on a bootstrap started with -ca-key (and -grpc-ca-cert)');
  }
}

/** `ca revoke -socket` against a node that is not a bootstrap, or a bootstrap without -ca-key. */
export class RevocationUnavailable extends LocalApiError {
  constructor(isBootstrap: boolean) {
    super(isBootstrap
      ? 'this bootstrap keeps no revocation list: it signs no certificates. Start it with -ca-key (and -grpc-ca-cert) to revoke through it, or revoke in the CA directory (`wgmesh ca revoke -dir DIR NAME`) and give the bootstrap -grpc-crl DIR/crl.pem'
      : 'this node is not a bootstrap: run `wgmesh ca revoke` on the bootstrap\'s host (against its -socket), or revoke in the CA directory with -dir');
  }
}

/** Another process answers on the local API socket. */
export class SocketInUse extends LocalApiError {
  constructor(readonly path: string) {
    super(`another wgmesh agent is already serving ${path}; stop it first, or use another -socket`);
  }
}

/** The -socket path holds something that is not a socket; it is never removed. */
export class NotASocket extends LocalApiError {
  constructor(readonly path: string, readonly found: string) {
    super(`${path} is ${found}, not a socket; wgmesh removes only a stale socket there: move it away yourself, or use another -socket`);
  }
}

// ---------------------------------------------------------------------------------------------
// Starting and stopping a node

/** Creating interfaces, sockets in /var/run and namespaces needs root (CAP_NET_ADMIN): the one "not root" error of wgmesh. */
export class NotRoot extends AgentError {
  readonly code = 'NOT_ROOT';
  constructor(message = 'wgmesh must run as root to manage WireGuard interfaces: run it with sudo (or as root)') {
    super(message);
  }
}

/** <state-dir>/<mesh>/private.key holds something that is not a WireGuard private key; it is never overwritten. */
export class KeyFileInvalid extends AgentError {
  constructor(readonly file: string) {
    super(`${file} does not hold a WireGuard private key; move it away to make a new one`);
  }
}

/** agent.json cannot be read or is not a wgmesh agent state. */
export class AgentStateError extends AgentError {}

/** A node's start that stop() overtook (a signal during start): the caller asked for it, no part failed. */
export class StartCancelled extends AgentError {
  constructor(readonly part: string) {
    super(`stopped while starting (${part})`);
  }
}

/** stop() came while the first join was being retried; `lastError` is the last attempt's error, if any. */
export class JoinCancelled extends AgentError {
  constructor(readonly lastError: unknown) {
    super('stopped while joining');
  }
}

/** -metrics-addr cannot be served (a bad address, or the port is in use). */
export class MetricsError extends AgentError {}

/** A bad RTT setting (port, interval, timeout, window, bind address). */
export class RttConfigError extends AgentError {
  readonly code = 'RTT_CONFIG';
}

// ---------------------------------------------------------------------------------------------
// The control plane

/** gRPC status names by code (the protocol's fixed numbering), for messages. */
const GRPC_STATUS_NAMES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];

/** A failed control-plane call, with the gRPC status code the agent decides on. */
export class ControlCallError extends AgentError {
  constructor(readonly code: number, readonly details: string, readonly method: string) {
    super(`${method}: ${details} (${GRPC_STATUS_NAMES[code] ?? code})`);
  }
}

/** A stream this node ended itself to open it again over new connections (a renewed certificate): not a fault. */
export class ControlReconnect extends ControlCallError {}

// ---------------------------------------------------------------------------------------------
// STUN

export interface StunServerFailure {
  server: string;
  reason: string;
}

/** Every STUN server failed (or none was given); `failures` says which and why, in order. */
export class StunFailed extends AgentError {
  readonly code = 'STUN_FAILED';
  constructor(
    readonly failures: readonly StunServerFailure[],
    message?: string,
  ) {
    super(message ?? StunFailed.describe(failures));
  }

  private static describe(failures: readonly StunServerFailure[]): string {
    if (failures.length === 0) return 'no STUN servers are configured: give at least one HOST:PORT';
    const each = failures.map((f) => `${f.server} (${f.reason})`).join('; ');
    return (
      `no STUN server gave a public address: ${each}. ` +
      'Check the server list and that outbound UDP is allowed; LAN and bootstrap-observed endpoints still work without it'
    );
  }
}

/** A buffer that is not a well-formed STUN message; `reason` says which rule it broke. */
export class StunDecodeError extends AgentError {
  readonly code = 'STUN_DECODE';
  constructor(readonly reason: string) {
    super(`not a valid STUN message: ${reason}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Router port mapping (PCP, NAT-PMP, UPnP IGD)

/**
 * One port-mapping protocol could not map (or unmap) the port: the router refused, never gave a
 * usable answer, or is not there. `protocol` is 'PCP', 'NAT-PMP' or 'UPnP'.
 */
export class PortMappingFailed extends AgentError {
  readonly code = 'PORT_MAPPING_FAILED';
  constructor(readonly protocol: string, readonly reason: string) {
    super(`${protocol}: ${reason}`);
  }
}

/** A UPnP IGD action answered with a SOAP fault; `upnpCode` is its errorCode (718 conflict, 725 permanent leases only, 714 no such entry). */
export class UpnpActionFailed extends PortMappingFailed {
  constructor(readonly action: string, readonly upnpCode: number, description: string) {
    super('UPnP', `${action} failed: error ${upnpCode}${description ? ` (${description})` : ''}`);
  }
}

/**
 * An answer to a port-mapping request that is ignored: not from the gateway, the wrong size,
 * version or opcode, another request's nonce, or values no mapping can have. `reason` says which.
 */
export class PortMapAnswerInvalid extends AgentError {
  readonly code = 'PORT_MAP_ANSWER_INVALID';
  constructor(readonly reason: string) {
    super(`invalid port-mapping answer: ${reason}`);
  }
}

// ---------------------------------------------------------------------------------------------
// WireGuard

export const INSTALL_HINT = 'apt-get install --no-install-recommends wireguard-tools wireguard-go';

/** The base of the WireGuard layer's failures. */
export class WgError extends AgentError {}

/** Neither the kernel module nor wireguard-go can be used, or `wg` itself is missing. */
export class WireGuardUnavailable extends WgError {
  readonly code = 'WIREGUARD_UNAVAILABLE';
}

/** The interface name is taken by something the driver must not take over. */
export class InterfaceInUse extends WgError {
  readonly code = 'INTERFACE_IN_USE';
  constructor(
    readonly interfaceName: string,
    message: string,
  ) {
    super(message);
  }
}

/** The interface does not exist (never brought up, closed, or removed by someone else): `up` it first. */
export class InterfaceNotUp extends WgError {
  readonly code = 'INTERFACE_NOT_UP';
  constructor(
    readonly interfaceName: string,
    options?: { cause?: unknown },
  ) {
    super(`interface ${interfaceName} is not up: bring it up (up) before reading or changing it`, options);
  }
}

/** A `wg`, `ip` or `wireguard-go` invocation failed; carries the command line and its stderr. */
export class WgCommandFailed extends WgError {
  readonly code = 'WG_COMMAND_FAILED';
  constructor(
    message: string,
    readonly details: {
      readonly commandLine: string;
      readonly exitCode?: number | null;
      readonly signal?: string | null;
      readonly stderr?: string;
      readonly timedOut?: boolean;
    },
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The interface's UDP listen port is taken by another program (another WireGuard interface, or anything else). */
export class ListenPortInUse extends WgError {
  readonly code = 'LISTEN_PORT_IN_USE';
  constructor(
    readonly interfaceName: string,
    readonly port: number,
    options?: { cause?: unknown },
  ) {
    super(`WireGuard cannot listen on UDP port ${port} for ${interfaceName}: another program uses it; stop that program, or pick another -listen-port`, options);
  }
}

/** A peer or interface setting that `wg`/`ip` would misread (bad key, endpoint, name). */
export class InvalidWgConfig extends WgError {
  readonly code = 'INVALID_WG_CONFIG';
}

/** `wg show <if> dump` printed something this parser does not understand. */
export class WgDumpMalformed extends WgError {
  readonly code = 'WG_DUMP_MALFORMED';
}

/** This node was asked to relay but cannot forward (no iptables, no permission, no interface). */
export class RelayUnavailable extends AgentError {
  readonly code = 'RELAY_UNAVAILABLE';
}

// ---------------------------------------------------------------------------------------------
// Layer 2 over the mesh (bootstrap -l2)

/** An `ip` or `bridge` command for the L2 devices failed; `command` says which. */
export class L2CommandFailed extends AgentError {
  constructor(readonly command: string, reason: string, options?: { cause?: unknown }) {
    super(`${command}: ${reason}`, options);
  }
}
