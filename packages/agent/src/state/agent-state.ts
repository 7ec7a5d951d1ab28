import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../atomic-file.js';
import { withoutRetiredFields, type MeshNode } from '../netmap/netmap.js';
import { AgentStateError } from '../errors.js';

/** What an agent needs to bring its WireGuard back without the bootstrap. */
export interface AgentState {
  readonly version: 1;
  readonly meshName: string;
  readonly nodeName: string;
  readonly meshIp: string;
  readonly meshCidr: string;
  readonly meshCreatedMs: number;
  readonly revision: number;
  readonly nodes: readonly MeshNode[];
  /** The mesh's layer 2 (bootstrap -l2); absent: none (and in files from before L2). */
  readonly l2?: { readonly vni: number; readonly port: number };
}

export interface AgentStateStore {
  load(): Promise<AgentState | undefined>;
  save(state: AgentState): Promise<void>;
}

/** One JSON file (0600), replaced atomically. */
export class FileAgentStateStore implements AgentStateStore {
  constructor(readonly file: string) {}

  async load(): Promise<AgentState | undefined> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new AgentStateError(`cannot read ${this.file}: ${(err as Error).message}`);
    }
    try {
      const state = JSON.parse(text) as AgentState;
      if (state.version !== 1 || typeof state.meshIp !== 'string' || !Array.isArray(state.nodes)) throw new Error('not a wgmesh agent state');
      return { ...state, nodes: state.nodes.map(withoutRetiredFields) };
    } catch (err) {
      throw new AgentStateError(`${this.file} is not valid agent state (${(err as Error).message}); move it away to start afresh (the node re-joins and keeps its IP if the bootstrap knows it)`);
    }
  }

  async save(state: AgentState): Promise<void> {
    await writeFileAtomic(this.file, JSON.stringify(state));
  }
}

export class MemoryAgentStateStore implements AgentStateStore {
  state: AgentState | undefined;
  saves = 0;
  async load(): Promise<AgentState | undefined> {
    return this.state;
  }
  async save(state: AgentState): Promise<void> {
    this.state = structuredClone(state);
    this.saves++;
  }
}
