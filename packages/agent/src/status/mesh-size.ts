import type { EventEmitter } from 'node:events';
import type { Netmap } from '../netmap/netmap.js';
import type { Logger } from '../log.js';

/**
 * Logs "Mesh has N nodes" whenever the number of nodes this node sees changes (the original
 * wgmesh's line, which its users grep for), once it has joined. Returns the unsubscribe.
 */
export function logMeshSize(agent: EventEmitter & { readonly netmap: Netmap; readonly joined: unknown }, logger: Logger): () => void {
  let last: number | undefined;
  const onChange = () => {
    if (!agent.joined) return;
    const nodes = agent.netmap.nodes.size;
    if (nodes === last) return;
    last = nodes;
    logger.info(`Mesh has ${nodes} nodes`, { nodes });
  };
  agent.on('change', onChange);
  onChange();
  return () => agent.off('change', onChange);
}
