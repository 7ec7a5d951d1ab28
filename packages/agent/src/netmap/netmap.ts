import type { Node__Output } from '../proto/index.js';

/** A member of the mesh as every node sees it (the wire shape, all fields present). */
export type MeshNode = Node__Output;

/** The read-only membership snapshot a node acts on. */
export interface Netmap {
  readonly selfName: string;
  readonly revision: number;
  readonly nodes: ReadonlyMap<string, MeshNode>;
}

/** Changes to a netmap; Watch events map one-to-one onto these. */
export type NetmapDelta =
  | { readonly kind: 'snapshot'; readonly revision: number; readonly nodes: readonly MeshNode[] }
  | { readonly kind: 'upsert'; readonly revision: number; readonly node: MeshNode }
  | { readonly kind: 'remove'; readonly revision: number; readonly name: string };

export function emptyNetmap(selfName: string): Netmap {
  return { selfName, revision: 0, nodes: new Map() };
}

export function netmapFromNodes(selfName: string, revision: number, nodes: readonly MeshNode[]): Netmap {
  return { selfName, revision, nodes: new Map(nodes.map((n) => [n.name, n])) };
}

/** Pure: the netmap after one delta. Deltas older than the netmap are ignored. */
export function applyDelta(netmap: Netmap, delta: NetmapDelta): Netmap {
  if (delta.kind === 'snapshot') return netmapFromNodes(netmap.selfName, delta.revision, delta.nodes);
  if (delta.revision <= netmap.revision) return netmap;
  const nodes = new Map(netmap.nodes);
  if (delta.kind === 'upsert') nodes.set(delta.node.name, delta.node);
  else nodes.delete(delta.name);
  return { selfName: netmap.selfName, revision: delta.revision, nodes };
}

export function selfNode(netmap: Netmap): MeshNode | undefined {
  return netmap.nodes.get(netmap.selfName);
}

/** Every node but this one, sorted by name. */
export function peersOf(netmap: Netmap): MeshNode[] {
  return [...netmap.nodes.values()].filter((n) => n.name !== netmap.selfName).sort((a, b) => a.name.localeCompare(b.name));
}
