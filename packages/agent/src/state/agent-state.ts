import { appendFile, readFile, writeFile } from 'node:fs/promises';
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

/** Membership changes since the last save or append: the nodes as they are now, the names gone. */
export interface AgentStateChange {
  readonly revision: number;
  readonly upserts: readonly MeshNode[];
  readonly removes: readonly string[];
}

export interface AgentStateStore {
  load(): Promise<AgentState | undefined>;
  /** The whole state (a join, a re-join, a snapshot): replaces what was saved. */
  save(state: AgentState): Promise<void>;
  /**
   * Membership changes after the last save: costs what they are, not the mesh. Rejects when the
   * store has no saved state to add them to (the caller then saves the whole state).
   */
  append(change: AgentStateChange): Promise<void>;
  /** The appended changes have outgrown the saved state: the next write should be a whole save. */
  readonly wantsSave: boolean;
}

/** Journal size that always waits for a compaction, whatever the state's size (bytes). */
const JOURNAL_MIN_COMPACT_BYTES = 64 * 1024;

/**
 * One JSON file (0600), replaced atomically by `save`, and a journal beside it (FILE.journal) of
 * membership changes, one JSON line each, appended by `append`: a node of a 10,000-node mesh writes
 * a change's few hundred bytes instead of its 4.7 MB of state (40-70 ms of CPU each, measured).
 * Once the journal outgrows the state, `wantsSave` asks for a whole save, which empties it.
 *
 * The state is a cache (the bootstrap has the membership): appends are not fsync'd, a torn or
 * unreadable journal line ends the replay there (the node then catches up from the bootstrap),
 * and lines at or below the saved revision (a crash between a save and emptying the journal) are
 * skipped.
 */
export class FileAgentStateStore implements AgentStateStore {
  readonly journalFile: string;
  private savedBytes = 0;
  private journalBytes = 0;
  /** Whether a state is saved (or loaded) that appends can follow. */
  private based = false;

  constructor(readonly file: string) {
    this.journalFile = `${file}.journal`;
  }

  get wantsSave(): boolean {
    return this.journalBytes > Math.max(this.savedBytes, JOURNAL_MIN_COMPACT_BYTES);
  }

  async load(): Promise<AgentState | undefined> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new AgentStateError(`cannot read ${this.file}: ${(err as Error).message}`);
    }
    let state: AgentState;
    try {
      state = JSON.parse(text) as AgentState;
      if (state.version !== 1 || typeof state.meshIp !== 'string' || !Array.isArray(state.nodes)) throw new Error('not a wgmesh agent state');
    } catch (err) {
      throw new AgentStateError(`${this.file} is not valid agent state (${(err as Error).message}); move it away to start afresh (the node re-joins and keeps its IP if the bootstrap knows it)`);
    }
    const replayed = replay({ ...state, nodes: state.nodes.map(withoutRetiredFields) }, await readFile(this.journalFile, 'utf8').catch(() => ''));
    this.savedBytes = Buffer.byteLength(text);
    this.journalBytes = replayed.journalBytes;
    this.based = true;
    return replayed.state;
  }

  async save(state: AgentState): Promise<void> {
    const text = JSON.stringify(state);
    await writeFileAtomic(this.file, text);
    this.savedBytes = Buffer.byteLength(text);
    this.based = true;
    // Emptied after the state is in place: a crash between leaves lines the revision skips.
    await writeFile(this.journalFile, '', { mode: 0o600 });
    this.journalBytes = 0;
  }

  async append(change: AgentStateChange): Promise<void> {
    if (!this.based) throw new Error(`${this.file}: no saved state to add changes to`);
    const line = `${JSON.stringify(change)}\n`;
    await appendFile(this.journalFile, line, { mode: 0o600 });
    this.journalBytes += Buffer.byteLength(line);
  }
}

/** The saved state with the journal's changes newer than it applied, in order. */
function replay(state: AgentState, journal: string): { state: AgentState; journalBytes: number } {
  if (journal === '') return { state, journalBytes: 0 };
  const nodes = new Map(state.nodes.map((n) => [n.name, n]));
  let revision = state.revision;
  for (const line of journal.split('\n')) {
    if (line === '') continue;
    let change: AgentStateChange;
    try {
      change = JSON.parse(line) as AgentStateChange;
      if (typeof change.revision !== 'number' || !Array.isArray(change.upserts) || !Array.isArray(change.removes)) break;
    } catch {
      break; // a torn last line (or worse): what came before stands
    }
    if (change.revision <= revision) continue;
    for (const name of change.removes) nodes.delete(name);
    for (const node of change.upserts) nodes.set(node.name, withoutRetiredFields(node));
    revision = change.revision;
  }
  return { state: { ...state, revision, nodes: [...nodes.values()] }, journalBytes: Buffer.byteLength(journal) };
}

export class MemoryAgentStateStore implements AgentStateStore {
  state: AgentState | undefined;
  saves = 0;
  appends = 0;
  wantsSave = false;
  async load(): Promise<AgentState | undefined> {
    return this.state;
  }
  async save(state: AgentState): Promise<void> {
    this.state = structuredClone(state);
    this.saves++;
  }
  async append(change: AgentStateChange): Promise<void> {
    if (!this.state) throw new Error('no saved state to add changes to');
    this.state = replay(this.state, JSON.stringify(change)).state;
    this.appends++;
  }
}
