/** Named failures of the WireGuard layer. Messages say what to do, not only what went wrong. */

export const INSTALL_HINT = 'apt-get install --no-install-recommends wireguard-tools wireguard-go';

export class WgError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Neither the kernel module nor wireguard-go can be used, or `wg` itself is missing. */
export class WireGuardUnavailable extends WgError {
  readonly code = 'WIREGUARD_UNAVAILABLE';
}

/** Creating and configuring interfaces needs root (CAP_NET_ADMIN). */
export class NotRoot extends WgError {
  readonly code = 'NOT_ROOT';
  constructor(message = 'wgmesh must run as root to manage WireGuard interfaces: run it with sudo (or as root)') {
    super(message);
  }
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

/** A peer or interface setting that `wg`/`ip` would misread (bad key, endpoint, name). */
export class InvalidWgConfig extends WgError {
  readonly code = 'INVALID_WG_CONFIG';
}

/** `wg show <if> dump` printed something this parser does not understand. */
export class WgDumpMalformed extends WgError {
  readonly code = 'WG_DUMP_MALFORMED';
}
