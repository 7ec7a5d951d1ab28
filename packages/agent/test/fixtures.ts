import type { MeshNode } from '../src/index.js';

/** A mesh node as the netmap holds it; `extra` overrides any field (a distinct key per name by default). */
export function meshNode(name: string, meshIp: string, extra: Partial<MeshNode> = {}): MeshNode {
  return {
    name,
    publicKey: Buffer.alloc(32, name.charCodeAt(0) + name.length).toString('base64'),
    meshIp,
    endpoints: [],
    tags: {},
    status: 'NODE_STATUS_ALIVE',
    joinedAtMs: 1,
    lastSeenMs: 1,
    statusChangedMs: 1,
    isBootstrap: false,
    listenPort: 51820,
    ...extra,
  };
}
