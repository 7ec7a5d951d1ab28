import { Map as PersistentMap } from 'immutable';
import type { MeshNode } from './netmap.js';

/**
 * The netmap's node table: a persistent map (a hash trie from Immutable.js) behind the plain
 * ReadonlyMap interface. An update shares all but O(log n) of the previous table, so applying a
 * delta to a 1000-node netmap does not copy 1000 entries, and old netmaps stay intact.
 */
export class NodeMap implements ReadonlyMap<string, MeshNode> {
  /**
   * @param relays How many nodes offer to relay, kept as the table changes: whether the mesh has a
   * relay is asked at every route review, and counting it there was a pass over every node.
   */
  private constructor(private readonly inner: PersistentMap<string, MeshNode>, readonly relays: number) {}

  static of(nodes: Iterable<MeshNode>): NodeMap {
    let relays = 0;
    const inner = PersistentMap<string, MeshNode>().withMutations((m) => {
      for (const n of nodes) {
        relays += relayCount(n) - relayCount(m.get(n.name));
        m.set(n.name, n);
      }
    });
    return new NodeMap(inner, relays);
  }

  static readonly empty = new NodeMap(PersistentMap(), 0);

  /** A new table with the changes applied in one batch. */
  update(change: (draft: { set(name: string, node: MeshNode): void; delete(name: string): void }) => void): NodeMap {
    let relays = this.relays;
    const inner = this.inner.withMutations((m) => {
      change({
        set: (name, node) => {
          relays += relayCount(node) - relayCount(m.get(name));
          m.set(name, node);
        },
        delete: (name) => {
          relays -= relayCount(m.get(name));
          m.delete(name);
        },
      });
    });
    return new NodeMap(inner, relays);
  }

  get size(): number {
    return this.inner.size;
  }
  get(key: string): MeshNode | undefined {
    return this.inner.get(key);
  }
  has(key: string): boolean {
    return this.inner.has(key);
  }
  keys(): MapIterator<string> {
    return this.inner.keys() as MapIterator<string>;
  }
  values(): MapIterator<MeshNode> {
    return this.inner.values() as MapIterator<MeshNode>;
  }
  entries(): MapIterator<[string, MeshNode]> {
    return this.inner.entries() as MapIterator<[string, MeshNode]>;
  }
  [Symbol.iterator](): MapIterator<[string, MeshNode]> {
    return this.entries();
  }
  forEach(callback: (value: MeshNode, key: string, map: ReadonlyMap<string, MeshNode>) => void): void {
    this.inner.forEach((value, key) => {
      callback(value, key, this);
    });
  }
}

function relayCount(node: MeshNode | undefined): number {
  return node?.relay ? 1 : 0;
}
