import type { WatchEvent } from '@wgmesh/agent';
import type { MemberDelta, MemberTable } from './table.js';

export function deltaToEvent(delta: MemberDelta): WatchEvent & { event: 'upsert' | 'remove' } {
  return delta.kind === 'upsert'
    ? { revision: delta.revision, upsert: delta.node, event: 'upsert' }
    : { revision: delta.revision, remove: { name: delta.name }, event: 'remove' };
}

/**
 * List-and-watch: sends the deltas since `sinceRevision` (or a snapshot when the history does
 * not reach back, or when starting from 0), then every change as one event. History and
 * subscription happen in one synchronous step, so no change can fall between them. An event
 * made from a delta comes with it: every watcher gets the same delta object for a change, so a
 * sender can encode a change once for all of them. `catchUp` is true for the snapshot or
 * replayed deltas the stream starts with, false for live changes.
 */
export function streamMembership(
  table: MemberTable,
  sinceRevision: number,
  send: (event: WatchEvent, delta: MemberDelta | undefined, catchUp: boolean) => void,
): () => void {
  const deltas = sinceRevision > 0 ? table.deltasSince(sinceRevision) : undefined;
  if (deltas) {
    for (const d of deltas) send(deltaToEvent(d), d, true);
  } else {
    const snapshot = table.snapshot();
    send({ revision: snapshot.revision, snapshot: { nodes: snapshot.nodes }, event: 'snapshot' } as WatchEvent, undefined, true);
  }
  return table.subscribe((delta) => send(deltaToEvent(delta), delta, false));
}
