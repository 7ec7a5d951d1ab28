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
