import type { Node__Output, WatchEvent__Output } from '../proto/index.js';
import { NodeMap } from './node-map.js';

/** A member of the mesh as every node sees it (the wire shape, all fields present). */
export type MeshNode = Node__Output;

/**
 * A member read from a state file written by an older wgmesh, without the fields members no
 * longer carry (`rtt`: RTT samples left the membership for Mesh.Rtt).
 */
export function withoutRetiredFields<T extends MeshNode>(node: T): T {
  if (!('rtt' in node)) return node;
  const { rtt: _retired, ...rest } = node as T & { rtt?: unknown };
  return rest as T;
}

/** The read-only membership snapshot a node acts on. */
export interface Netmap {
  readonly selfName: string;
  readonly revision: number;
  readonly nodes: NodeMap;
}

/** Changes to a netmap; Watch events map one-to-one onto these. */
export type NetmapDelta =
  | { readonly kind: 'snapshot'; readonly revision: number; readonly nodes: readonly MeshNode[] }
  | { readonly kind: 'upsert'; readonly revision: number; readonly node: MeshNode }
  | { readonly kind: 'remove'; readonly revision: number; readonly name: string };

/** A Watch message as the delta it carries (one-to-one); undefined for a message with none. */
export function eventToDelta(event: WatchEvent__Output): NetmapDelta | undefined {
  const revision = Number(event.revision);
  if (event.snapshot) return { kind: 'snapshot', revision, nodes: event.snapshot.nodes };
  if (event.upsert) return { kind: 'upsert', revision, node: event.upsert };
  if (event.remove) return { kind: 'remove', revision, name: event.remove.name };
  return undefined;
}

export function emptyNetmap(selfName: string): Netmap {
  return { selfName, revision: 0, nodes: NodeMap.empty };
}

export function netmapFromNodes(selfName: string, revision: number, nodes: readonly MeshNode[]): Netmap {
  return { selfName, revision, nodes: NodeMap.of(nodes) };
}

/** Pure: the netmap after one delta. Deltas older than the netmap are ignored. */
export function applyDelta(netmap: Netmap, delta: NetmapDelta): Netmap {
  return applyDeltas(netmap, [delta]);
}

/** Pure: the netmap after a batch of deltas, copying the node table once rather than per delta. */
export function applyDeltas(netmap: Netmap, deltas: readonly NetmapDelta[]): Netmap {
  let current = netmap;
  let pending: Exclude<NetmapDelta, { kind: 'snapshot' }>[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    const base = current.nodes;
    const nodes = base.update((draft) => {
      for (const d of batch) {
        if (d.kind === 'upsert') draft.set(d.node.name, d.node);
        else draft.delete(d.name);
      }
    });
    current = { selfName: netmap.selfName, revision: batch[batch.length - 1]!.revision, nodes };
  };
  let revision = netmap.revision;
  for (const delta of deltas) {
    if (delta.kind === 'snapshot') {
      pending = [];
      current = netmapFromNodes(netmap.selfName, delta.revision, delta.nodes);
      revision = delta.revision;
      continue;
    }
    // Deltas at or below the revision already held are old news (a resumed stream may repeat).
    if (delta.revision <= revision) continue;
    pending.push(delta);
    revision = delta.revision;
  }
  flush();
  return current;
}

export function selfNode(netmap: Netmap): MeshNode | undefined {
  return netmap.nodes.get(netmap.selfName);
}

/**
 * Node names are DNS labels (a-z, 0-9, '-'), for which code-point order is the order localeCompare
 * gives; compared as code points, they need no ICU collator (localeCompare's first call loads one:
 * ~5 ms, which was on a joining node's critical path, at its first peers pass).
 */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Every node, this one included, sorted by name. */
export function nodesByName(netmap: Netmap): MeshNode[] {
  return [...netmap.nodes.values()].sort((a, b) => compareNames(a.name, b.name));
}

/** The named nodes as the netmap has them now, and the names it no longer has (left, or removed). */
export function presentAndGone(netmap: Netmap, names: Iterable<string>): { present: MeshNode[]; gone: string[] } {
  const present: MeshNode[] = [];
  const gone: string[] = [];
  for (const name of names) {
    const node = netmap.nodes.get(name);
    if (node) present.push(node);
    else gone.push(name);
  }
  return { present, gone };
}

/** How many nodes but this one: a count, where peersOf would sort every node to be measured. */
export function peerCount(netmap: Netmap): number {
  return netmap.nodes.size - (netmap.nodes.has(netmap.selfName) ? 1 : 0);
}

/** Every node but this one, sorted by name. */
export function peersOf(netmap: Netmap): MeshNode[] {
  return nodesByName(netmap).filter((n) => n.name !== netmap.selfName);
}
