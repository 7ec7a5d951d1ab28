import { stat } from 'node:fs/promises';

/** What decides whether a bootstrap may start: what its state dir holds, and -new-mesh. */
export interface MeshStartFacts {
  /** <state-dir>/<mesh>/private.key was there before this run (which would make one). */
  readonly keyExisted: boolean;
  /** bootstrap.json: the mesh's members, IPs, creation time and revision. */
  readonly stateFileExists: boolean;
  /** agent.json: a node that ran `wgmesh join` here kept its view of a mesh. */
  readonly agentStateExists: boolean;
  /** -new-mesh */
  readonly newMesh: boolean;
}

export type MeshStart =
  | { readonly start: 'resume' | 'first' | 'new-on-purpose' }
  | { readonly refuse: string };

/**
 * Resume the mesh in bootstrap.json, start the first one, or refuse: a state dir that was used
 * before but lacks bootstrap.json (deleted, lost, or -state-dir/-n pointing elsewhere) would
 * otherwise silently become a new mesh (new creation time, revision 1, new IPs for everyone).
 *
 * A former join node (agent.json, no bootstrap.json) is such a dir too, and needs -new-mesh:
 * agent.json is a member's copy of the node list, not the member table (no certificate
 * fingerprints, no authority over IPs), so a bootstrap started there cannot continue that mesh.
 * It makes a new one that every node joins again, and the old mesh's own bootstrap, if it still
 * runs, goes on serving the old one: that is a decision to state, not a side effect.
 */
export function decideMeshStart(facts: MeshStartFacts, files: { key: string; bootstrapState: string; agentState: string }): MeshStart {
  if (facts.stateFileExists) {
    if (facts.newMesh) {
      return {
        refuse: `-new-mesh: ${files.bootstrapState} exists and holds this mesh's members and IPs, and it is never reset silently. ` +
          'To start a new mesh, move it away first, with bootstrap.journal beside it (keep them: they are the only record of which node has which IP), then start with -new-mesh; to keep the mesh, start without -new-mesh.',
      };
    }
    return { start: 'resume' };
  }
  if (!facts.keyExisted && !facts.agentStateExists) return { start: 'first' };
  if (facts.newMesh) return { start: 'new-on-purpose' };
  const consequence = 'Starting now would make a new mesh (a new creation time, revision 1): every node would have to join again and would get a new mesh IP.';
  if (facts.agentStateExists) {
    return {
      refuse: `${files.agentState} shows this machine joined a mesh as a node, and there is no bootstrap state (${files.bootstrapState}): it was not this mesh's bootstrap. ` +
        `${consequence} To make this node the bootstrap of a new mesh on purpose, start with -new-mesh (or give another -state-dir).`,
    };
  }
  return {
    refuse: `the state file ${files.bootstrapState} is missing, but ${files.key} exists: a bootstrap ran here before and its mesh's members and IPs were in that file. ` +
      `${consequence} To keep the mesh, restore bootstrap.json with its bootstrap.journal (from a backup; or check -state-dir and -n). ` +
      'To start a new mesh on purpose, start with -new-mesh (also right if no mesh ever ran here: an earlier start that failed early can leave the key alone).',
  };
}

/** The facts of a state dir, read from disk. */
export async function meshStartFacts(files: { key: string; bootstrapState: string; agentState: string }, newMesh: boolean): Promise<MeshStartFacts> {
  return {
    keyExisted: await pathExists(files.key),
    stateFileExists: await pathExists(files.bootstrapState),
    agentStateExists: await pathExists(files.agentState),
    newMesh,
  };
}

async function pathExists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
