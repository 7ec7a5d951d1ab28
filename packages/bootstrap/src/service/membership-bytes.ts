import { loadProtos } from '@wgmesh/agent/proto/load';
import type { MeshNode } from '@wgmesh/agent/netmap/netmap';
import type { JoinResponse } from '@wgmesh/agent/proto/gen/wgmesh/v1/JoinResponse';

/**
 * The membership, encoded once per revision for every answer that carries all of it: a Join
 * answer and a Watch snapshot. In a mesh of 10,000 nodes that is 1.2 MB, and encoding it anew for
 * each of a thousand re-joining nodes was what a busy bootstrap spent its time (and most of its
 * garbage collection) on.
 *
 * A protobuf message may carry its fields in any order, and a repeated field's elements may be
 * split across the message: so a Join answer is its other fields encoded as usual, followed by
 * the cached bytes of its `nodes` field (what the message with only `nodes` set encodes to).
 */

const ENCODED_NODES = Symbol('wgmesh.encodedNodes');

/** A Join answer whose `nodes` are already encoded (see joinResponseSerializer). */
export type PreencodedJoinResponse = JoinResponse & { [ENCODED_NODES]?: Buffer };

export class EncodedMembership {
  private readonly serializeJoin = loadProtos().mesh.wgmesh.v1.Mesh.service.Join.responseSerialize;
  private readonly serializeEvent = loadProtos().mesh.wgmesh.v1.Mesh.service.Watch.responseSerialize;
  private joinNodes: { nodes: readonly MeshNode[]; bytes: Buffer } | undefined;
  /**
   * Each node's bytes as a Join answer's `nodes` element: a new revision's list shares every node
   * object the change did not touch (MemberTable.list), so a wave of joins, a new list each,
   * encodes each node once and copies the rest rather than encoding the whole membership per join.
   */
  private readonly nodeBytes = new WeakMap<MeshNode, Buffer>();
  private snapshot: { revision: number; nodes: readonly MeshNode[]; bytes: Buffer } | undefined;

  /**
   * The answer with its nodes' bytes beside them, encoded once for this membership (the table
   * shares one list per revision). The nodes stay in the object: a server registered without
   * joinResponseSerializer still sends a whole answer, only without the saving.
   */
  joinResponse(response: JoinResponse & { nodes: readonly MeshNode[] }): PreencodedJoinResponse {
    if (this.joinNodes?.nodes !== response.nodes) this.joinNodes = { nodes: response.nodes, bytes: this.encodeNodes(response.nodes) };
    return { ...response, [ENCODED_NODES]: this.joinNodes.bytes };
  }

  /** What `{ nodes }` encodes to, from each node's cached bytes (a repeated field is its elements one after another). */
  private encodeNodes(nodes: readonly MeshNode[]): Buffer {
    const parts: Buffer[] = new Array(nodes.length);
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      let bytes = this.nodeBytes.get(node);
      if (!bytes) this.nodeBytes.set(node, (bytes = this.serializeJoin({ nodes: [node] })));
      parts[i] = bytes;
    }
    return Buffer.concat(parts);
  }

  /** A snapshot event for this revision and membership, encoded once. */
  snapshotEvent(revision: number, nodes: readonly MeshNode[]): Buffer {
    if (this.snapshot?.revision !== revision || this.snapshot.nodes !== nodes) {
      this.snapshot = { revision, nodes, bytes: this.serializeEvent({ revision, snapshot: { nodes: [...nodes] } }) };
    }
    return this.snapshot.bytes;
  }
}

/** The size of a Join answer's pre-encoded membership, or undefined for any other message. */
export function preencodedMembershipBytes(value: unknown): number | undefined {
  return typeof value === 'object' && value !== null ? (value as PreencodedJoinResponse)[ENCODED_NODES]?.length : undefined;
}

/** Join's serializer as the server registers it: the cached nodes appended to the rest. */
export function joinResponseSerializer(serialize: (value: JoinResponse) => Buffer): (value: PreencodedJoinResponse) => Buffer {
  return (value) => {
    const nodes = value[ENCODED_NODES];
    return nodes ? Buffer.concat([serialize({ ...value, nodes: [] }), nodes]) : serialize(value);
  };
}
