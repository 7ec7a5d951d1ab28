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
