import { AgentStateError, ControlCallError, KeyFileInvalid, ListenPortInUse, LocalApiError, MetricsError, NotRoot } from '@wgmesh/agent/errors';
import { ConfigError, MeshStartRefused, MigrationConflict, StateFileError, StoreMeshMismatch, StunPortInUse } from '@wgmesh/bootstrap/errors';

/** Named failures of the CLI (the lab's are in lab/errors.ts), and the one place where any error becomes an exit status. */

/** Wrong or missing flags, or a refusal the operator must act on. Exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** No local API socket to connect to (info, tags, rtt without a running node): reported like a usage error. */
export class LocalApiUnavailable extends UsageError {}

/** `wgmesh ui` cannot listen where it was asked (the port is taken, or not allowed): exit status 2. */
export class UiListenFailed extends UsageError {}

/** `wgmesh ui`: the page's built files are not where the CLI looks (the CLI was not built). */
export class UiPageMissing extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A `wgmesh ca` operation refused: the directory, name or certificate is not what it needs. */
export class CaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** `join -token`: the enrollment was refused (used, expired, unknown token…) or the bootstrap failed the pin. Exit status 2. */
export class EnrollmentFailed extends UsageError {}

/**
 * A node command was stopped by a signal before the node was up (e.g. while a join was being
 * retried): everything it had started is stopped; the message says what it was waiting for.
 */
export class StartInterrupted extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * The exit status for an error: 2 when the operator must change something before trying again
 * (flags, files, certificates, identity, a port or socket taken, not root, the join refused, an etcd
 * prefix holding another mesh or members in a migration's way), 1
 * for anything else.
 */
export function exitCodeFor(err: unknown): number {
  if (
    err instanceof UsageError || err instanceof NotRoot || err instanceof ControlCallError || err instanceof MetricsError || err instanceof LocalApiError || err instanceof ListenPortInUse || err instanceof StunPortInUse ||
    err instanceof KeyFileInvalid || err instanceof AgentStateError || err instanceof MeshStartRefused || err instanceof ConfigError || err instanceof StateFileError ||
    err instanceof StoreMeshMismatch || err instanceof MigrationConflict
  ) {
    return 2;
  }
  return 1;
}
