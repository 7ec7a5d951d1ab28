import { excerpt } from './limits.js';

/** Named failures of the agent outside the WireGuard layer (those are in wg/errors.ts). */

export class AgentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

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

export class LocalApiError extends AgentError {}

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

/** <state-dir>/<mesh>/private.key holds something that is not a WireGuard private key; it is never overwritten. */
export class KeyFileInvalid extends AgentError {
  constructor(readonly file: string) {
    super(`${file} does not hold a WireGuard private key; move it away to make a new one`);
  }
}

/** A node's start that stop() overtook (a signal during start): the caller asked for it, no part failed. */
export class StartCancelled extends AgentError {
  constructor(readonly part: string) {
    super(`stopped while starting (${part})`);
  }
}

/** stop() came while the first join was being retried; `cause` is the last attempt's error, if any. */
export class JoinCancelled extends AgentError {
  constructor(readonly lastError: unknown) {
    super('stopped while joining');
  }
}
