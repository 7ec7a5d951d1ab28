/**
 * The original tool's JSON API, made from the node's status document (the one `info -json`
 * prints): exactly its paths' shapes and field names, nothing added (ORIGINAL.md, "Web UI").
 */
import type { InfoResponse__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/InfoResponse';

/** One element of `GET /api/nodes`. */
export interface OriginalNode {
  readonly name: string;
  readonly meshIP: string;
  readonly tags: Record<string, string>;
  /** This node's last measured round-trip time to the node; 0 for itself or when unmeasured. */
  readonly rttMsec: number;
  readonly isSelf: boolean;
}

/** `GET /api/nodes`. */
export interface OriginalNodes {
  readonly nodes: OriginalNode[];
}

/** `GET /api/mesh`. */
export interface OriginalMesh {
  readonly name: string;
  readonly thisNodeName: string;
  /** Every member, this node included. */
  readonly nodeCount: number;
}

/** What `/api/updates` sends when the node list changes. */
export interface OriginalUpdate {
  readonly a: 'nodes';
  /** When, as an ISO 8601 time. */
  readonly ts: string;
}

/** The nodes, this node first, then the peers by name (as the status lists them). */
export function originalNodes(info: InfoResponse__Output): OriginalNodes {
  return {
    nodes: [
      { name: info.nodeName, meshIP: info.meshIp, tags: { ...info.tags }, rttMsec: 0, isSelf: true },
      ...info.peers.map((p) => ({ name: p.node?.name ?? '', meshIP: p.node?.meshIp ?? '', tags: { ...(p.node?.tags ?? {}) }, rttMsec: p.rttMs, isSelf: false })),
    ],
  };
}

export function originalMesh(info: InfoResponse__Output): OriginalMesh {
  return { name: info.meshName, thisNodeName: info.nodeName, nodeCount: info.peers.length + 1 };
}

export function originalUpdate(now: Date = new Date()): OriginalUpdate {
  return { a: 'nodes', ts: now.toISOString() };
}

/**
 * What makes "the node list" change for `/api/updates`: a node added or removed, its mesh IP, its
 * tags, or its status. RTT and traffic, which move all the time, do not count.
 */
export function nodeListKey(info: InfoResponse__Output): string {
  const tags = (t: Record<string, string>) => Object.keys(t).sort().map((k) => `${k}=${t[k]}`).join(',');
  const self = `${info.nodeName}|${info.meshIp}|${tags(info.tags)}|self`;
  const peers = info.peers.map((p) => `${p.node?.name}|${p.node?.meshIp}|${tags(p.node?.tags ?? {})}|${p.node?.status}`).sort();
  return [self, ...peers].join('\n');
}
