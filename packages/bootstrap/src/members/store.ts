import { open, readFile, rename, stat, truncate, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '@wgmesh/agent/atomic-file';
import { type MeshNode } from '@wgmesh/agent/netmap/netmap';
import { StateFileError } from '../errors.js';
import type { Logger } from '@wgmesh/agent/log';
import { checkChangeShape, checkStateShape } from './state-schema.js';
import { StateProblem } from '../errors.js';
import type { CoordinatorInit, CoordinatorStatus } from '../store/etcd-coordination.js';

/** A member as the bootstrap keeps it: the public node plus what identifies it. */
export interface Member extends MeshNode {
  /** SHA-256 fingerprint of the client certificate it joined with (mTLS), "" in dev mode. */
  readonly certFingerprint: string;
  /** mTLS: the certificate's serial (lower-case hex) and end of validity, so revocation and expiry can remove the member. */
  readonly certSerial?: string;
  readonly certNotAfterMs?: number;
  /** Dev mode: SHA-256 (hex) of the node's secret (see JoinResponse.node_secret); absent for members from before secrets. */
  readonly secretHash?: string;
  /** The node offered to relay (Node.relay says whether it was granted); absent in files from before relays. */
  readonly relayOffered?: boolean;
}

export interface MeshState {
  readonly version: 1;
  readonly meshName: string;
  readonly cidr: string;
  readonly createdMs: number;
  readonly revision: number;
  readonly members: readonly Member[];
  /** The mesh's layer 2 (bootstrap -l2), kept so a restart keeps it; absent: none (and in files from before L2). */
  readonly l2?: { readonly vni: number; readonly port: number };
}

/** One change to the membership, at the revision it makes: a member added or replaced whole, or one removed. */
export type StateChange =
  | { readonly revision: number; readonly upsert: Member }
  | { readonly revision: number; readonly remove: string };

/** Where the member table and IPAM persist. One interface, so a shared store can replace the file. */
export interface StateStore {
  /** The saved state, or undefined when none was ever saved. Unreadable state is an error, never "none". */
  load(): Promise<MeshState | undefined>;
  /** Replaces the whole state (a new mesh). */
  save(state: MeshState): Promise<void>;
  /**
   * Persists one change on top of the state loaded or saved (and appended) last; its revision is
   * that state's plus one. Resolves once the change would survive a crash: what a change costs the
   * store is the change, not the mesh.
   */
  append(change: StateChange): Promise<void>;
  /** Releases what the store holds open between changes (FileStateStore: the journal); it stays usable. */
  close?(): Promise<void>;
}

/** `members` with `change` applied, in place. */
export function applyChange(members: Map<string, Member>, change: StateChange): void {
  if ('upsert' in change) members.set(change.upsert.name, change.upsert);
  else members.delete(change.remove);
}

/** A member as a shared store holds it, with the mod revision a conditional write must name. */
export interface StoredMember {
  readonly member: Member;
  readonly modRevision: number;
}

export type SharedMemberEvent =
  | { readonly type: 'upsert'; readonly revision: number; readonly member: Member }
  | { readonly type: 'remove'; readonly revision: number; readonly name: string }
  /** The store dropped the history the watch needed: list again. */
  | { readonly type: 'compacted'; readonly compactRevision: number }
  /** Every change up to `revision` has been delivered. */
  | { readonly type: 'progress'; readonly revision: number };

/**
 * A store several bootstraps share (etcd): one record per member, every write conditional on the
 * record's mod revision, and every change (this bootstrap's own too) delivered back in the store's
 * order through watch(). The store's revision is the mesh revision. See EtcdMeshStore.
 */
export interface SharedMemberStore {
  readonly shared: true;
  /** Where the store is, for messages. */
  readonly endpoints: readonly string[];
  /** fileRevision: see MeshRecord. */
  open(): Promise<{ mesh: { meshName: string; cidr: string; createdMs: number; fileRevision?: number } }>;
  list(): Promise<{ members: StoredMember[]; revision: number }>;
  /** Stores a new member at the first free IP of candidateIps (RangeExhausted when none is free). */
  allocate(name: string, candidateIps: Iterable<string>, member: Member, options?: { candidatesCurrent?: boolean }): Promise<StoredMember>;
  put(member: Member, expectedModRevision: number): Promise<StoredMember>;
  remove(name: string, expectedModRevision: number): Promise<{ revision: number }>;
  watch(
    afterRevision: number,
    onEvent: (event: SharedMemberEvent) => void,
    options?: { onStatus?: (status: 'watching' | 'disconnected', err?: Error) => void },
  ): { readonly revision: number; requestProgress(): boolean; stop(): Promise<void> };
  /** Who runs failure detection, everyone's heartbeats, and whether the store answers (see EtcdCoordinator). */
  coordinator(init: CoordinatorInit): SharedCoordinator;
  /** The mesh's preshared-key secret, made once and shared by every bootstrap (bootstrap -psk). */
  presharedKeySecret?(seed?: Uint8Array): Promise<Buffer>;
  close(): Promise<void>;
}

export interface SharedCoordinator {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly status: CoordinatorStatus;
}

export function isSharedStore(store: StateStore | SharedMemberStore): store is SharedMemberStore {
  return 'shared' in store && store.shared === true;
}

/** The state in memory, for tests: every write (a whole state or a change) counts in `saves`. */
export class MemoryStateStore implements StateStore {
  saved: MeshState | undefined;
  saves = 0;
  async load(): Promise<MeshState | undefined> {
    return this.saved;
  }
  async save(state: MeshState): Promise<void> {
    this.saved = structuredClone(state);
    this.saves++;
  }
  /** Through save(), so a test's store that overrides save() (to fail or wait) sees changes too. Copies the state: a test store. */
  async append(change: StateChange): Promise<void> {
    const saved = this.saved;
    if (!saved) throw new Error('MemoryStateStore.append: no state saved to change');
    if (change.revision !== saved.revision + 1) throw new Error(`MemoryStateStore.append: revision ${change.revision} does not follow ${saved.revision}`);
    const members = new Map(saved.members.map((m) => [m.name, m]));
    applyChange(members, change);
    await this.save({ ...saved, revision: change.revision, members: [...members.values()] });
  }
}

export interface FileStateStoreInit {
  /** The journal; default: beside the snapshot, its name with .journal for .json (bootstrap.journal). */
  readonly journalFile?: string;
  /** The journal is compacted into the snapshot once it is larger than this and than the snapshot. */
  readonly compactBytes?: number;
  /** Told what load recovered from (a torn last line) and what failed without failing a change (a compaction). */
  readonly logger?: Logger;
}

/** What a FileStateStore wrote since it was made: how the tests see that a change costs O(1). */
export interface FileStoreWrites {
  /** Whole snapshots written (a new mesh, save(), compaction), and their bytes. */
  snapshots: number;
  snapshotBytes: number;
  /** Changes appended to the journal, and their bytes. */
  appends: number;
  journalBytes: number;
}

/** The mesh as the files hold it: the snapshot's fields and every member, changed in place. */
interface Held {
  readonly meshName: string;
  readonly cidr: string;
  readonly createdMs: number;
  revision: number;
  readonly members: Map<string, Member>;
  /** The mesh's layer 2 (bootstrap -l2), carried into every snapshot a compaction writes. */
  readonly l2?: MeshState['l2'];
}

/**
 * A snapshot and a journal. The snapshot (bootstrap.json) is the whole state, replaced atomically
 * (write a temp file, fsync it, rename over, fsync the directory), in the format older versions
 * wrote and read. Each change is then one JSON line appended to the journal beside it
 * (bootstrap.journal) and fsync'd before append() resolves, so a change costs a write of its own
 * size, not of the mesh's. load() reads the snapshot and replays the journal's changes newer than
 * it, in order.
 *
 * A crash mid-append leaves a torn last line: that change was never acknowledged, so it is
 * dropped (with a warning) and cut off before the next append. Anything else wrong in the journal
 * (a bad line before the last, a missing revision) is a StateFileError naming file and line.
 *
 * Once the journal outgrows both compactBytes and the snapshot, the next append also writes a new
 * snapshot and then empties the journal: amortized, a change still costs O(1) bytes. A crash
 * between the two leaves a journal whose changes the snapshot already holds; load skips them by
 * revision.
 *
 * Changes are not grouped into one write + fsync: the member table commits one change at a time
 * (each decides against the state the one before left: IP allocation, key uniqueness), so there
 * is never a second change waiting while one is written. Concurrent appends are written one after
 * the other all the same.
 */
export class FileStateStore implements StateStore {
  readonly journalFile: string;
  readonly writes: FileStoreWrites = { snapshots: 0, snapshotBytes: 0, appends: 0, journalBytes: 0 };
  private readonly compactBytes: number;
  private readonly logger: Logger | undefined;
  /** The state on disk, after the last load, save or append; undefined before any. */
  private held: Held | undefined;
  private snapshotSize = 0;
  /** The journal's length that holds whole changes to keep; anything past it (a torn line) is cut off before the next append. */
  private journalSize = 0;
  /** Compaction that failed waits until the journal has grown by compactBytes again. */
  private compactAt = 0;
  private journal: FileHandle | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly file: string, init: FileStateStoreInit = {}) {
    this.journalFile = init.journalFile ?? journalFileFor(file);
    this.compactBytes = init.compactBytes ?? DEFAULT_COMPACT_BYTES;
    this.logger = init.logger;
  }

  async load(): Promise<MeshState | undefined> {
    return this.serialized(async () => {
      await this.closeJournal();
      const text = await readOrUndefined(this.file);
      if (text === undefined) {
        this.held = undefined;
        return undefined;
      }
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (err) {
        throw new StateFileError(this.file, `is not valid JSON (${(err as Error).message})`);
      }
      const snapshot = checkState(this.file, value);
      const held: Held = { ...snapshot, members: new Map(snapshot.members.map((m) => [m.name, m])) };
      const replay = await this.replayJournal(held);
      this.held = held;
      this.snapshotSize = Buffer.byteLength(text);
      this.journalSize = replay.keepBytes;
      this.compactAt = 0;
      const state = stateOf(held);
      // Replayed changes are checked one by one; together they must still make a valid state (one IP, one key per member).
      return replay.applied > 0 ? checkState(this.journalFile, state) : state;
    });
  }

  /**
   * Replaces the whole state. When it follows the state this store holds (a compaction), the
   * snapshot is written first and the journal emptied after (a crash between leaves changes the
   * snapshot has, skipped by revision). Otherwise (a new mesh) any journal left over belongs to no
   * snapshot: it is moved aside first (bootstrap.journal.orphaned), so none of it is ever
   * replayed onto the new state, and what it held is not lost.
   */
  async save(state: MeshState): Promise<void> {
    await this.serialized(async () => {
      const follows = this.held !== undefined && state.revision >= this.held.revision;
      if (!follows) await this.setJournalAside();
      await this.writeSnapshot(state);
      if (follows) await this.emptyJournal();
      this.held = { ...state, members: new Map(state.members.map((m) => [m.name, m])) };
      this.compactAt = 0;
    });
  }

  async append(change: StateChange): Promise<void> {
    await this.serialized(async () => {
      const held = this.held;
      if (!held) throw new Error(`FileStateStore.append: ${this.file} was neither loaded nor saved`);
      if (change.revision !== held.revision + 1) throw new Error(`FileStateStore.append: revision ${change.revision} does not follow ${held.revision}`);
      const line = `${JSON.stringify(change)}\n`;
      const bytes = Buffer.byteLength(line);
      const journal = await this.openJournal();
      try {
        // One write() call may write less than asked (a disk filling up): only a whole line is a change.
        const { bytesWritten } = await journal.write(line);
        if (bytesWritten !== bytes) throw new Error(`wrote ${bytesWritten} of ${bytes} bytes of change ${change.revision} to ${this.journalFile} (is the disk full?); the change is not saved`);
        await journal.datasync();
      } catch (err) {
        // A partial line must not stay to be followed by whole ones (a corrupt line in the middle).
        await this.closeJournal();
        throw err;
      }
      this.journalSize += bytes;
      this.writes.appends++;
      this.writes.journalBytes += bytes;
      held.revision = change.revision;
      applyChange(held.members, change);
      if (this.journalSize > Math.max(this.compactBytes, this.snapshotSize, this.compactAt)) await this.compact(held);
    });
  }

  /** Closes the journal (the store stays usable: the next append opens it again). */
  async close(): Promise<void> {
    await this.serialized(() => this.closeJournal());
  }

  /**
   * The journal's changes newer than the snapshot, applied to `held` in order. Returns how many,
   * and how much of the journal to keep (all whole lines, or none when the snapshot has them all).
   */
  private async replayJournal(held: Held): Promise<{ applied: number; keepBytes: number }> {
    let data: Buffer;
    try {
      data = await readFile(this.journalFile);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { applied: 0, keepBytes: 0 };
      throw new StateFileError(this.journalFile, `cannot be read (${(err as Error).message})`);
    }
    let applied = 0;
    let previous: number | undefined;
    let offset = 0;
    for (let lineNo = 1; offset < data.length; lineNo++) {
      const newline = data.indexOf(0x0a, offset);
      const end = newline === -1 ? data.length : newline;
      const last = newline === -1 || newline === data.length - 1;
      const text = data.subarray(offset, end).toString('utf8');
      let value: unknown;
      try {
        if (newline === -1) throw new Error('no newline at its end');
        value = JSON.parse(text);
      } catch (err) {
        if (!last) throw new StateFileError(this.journalFile, `line ${lineNo} is not a whole change (${(err as Error).message}), and changes follow it`);
        // Cut off mid-append: never acknowledged (append resolves after the whole line is fsync'd).
        this.logger?.warn(`${this.journalFile}: line ${lineNo}, the last, is torn (a crash while it was written); that change was never acknowledged and is dropped`, { stateFile: this.journalFile, revision: held.revision });
        break;
      }
      let change: StateChange;
      try {
        change = checkChangeShape(value, held.cidr);
      } catch (err) {
        if (err instanceof StateProblem) throw new StateFileError(this.journalFile, `line ${lineNo}: ${err.message}`);
        throw err;
      }
      if (previous !== undefined && change.revision !== previous + 1) {
        throw new StateFileError(this.journalFile, `line ${lineNo}: revision ${change.revision} follows revision ${previous} (expected ${previous + 1}): changes are missing or out of order`);
      }
      previous = change.revision;
      offset = end + 1;
      if (change.revision <= held.revision) continue; // the snapshot has it (a crash after compaction wrote the snapshot)
      if (change.revision !== held.revision + 1) {
        throw new StateFileError(this.journalFile, `line ${lineNo}: revision ${change.revision}, but the snapshot ${this.file} ends at revision ${held.revision}: the changes between are missing`);
      }
      if ('remove' in change && !held.members.has(change.remove)) {
        throw new StateFileError(this.journalFile, `line ${lineNo}: removes "${change.remove}", which is not a member at revision ${held.revision}`);
      }
      applyChange(held.members, change);
      held.revision = change.revision;
      applied++;
    }
    return { applied, keepBytes: applied > 0 ? Math.min(offset, data.length) : 0 };
  }

  /** A new snapshot of `held`, then an empty journal. A failure is logged, not thrown: the change is in the journal already. */
  private async compact(held: Held): Promise<void> {
    try {
      await this.writeSnapshot(stateOf(held));
      await this.emptyJournal();
      this.compactAt = 0;
    } catch (err) {
      this.compactAt = this.journalSize + this.compactBytes;
      this.logger?.warn(`could not compact ${this.journalFile} into ${this.file}; the journal keeps every change, compaction is tried again later`, { stateFile: this.file, err });
    }
  }

  private async writeSnapshot(state: MeshState): Promise<void> {
    const text = JSON.stringify(state, null, 1);
    await writeFileAtomic(this.file, text);
    this.snapshotSize = Buffer.byteLength(text);
    this.writes.snapshots++;
    this.writes.snapshotBytes += this.snapshotSize;
  }

  /** The journal, opened for appending, first cut back to its whole changes (dropping a torn line or a stale tail). */
  private async openJournal(): Promise<FileHandle> {
    if (this.journal) return this.journal;
    let created = false;
    try {
      const { size } = await stat(this.journalFile);
      if (size !== this.journalSize) await truncate(this.journalFile, this.journalSize);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      created = true;
      this.journalSize = 0;
    }
    const handle = await open(this.journalFile, 'a', 0o600);
    try {
      // A truncation, or the new file's name, must be on disk before a change after it counts.
      await handle.sync();
      if (created) await syncDirectory(path.dirname(this.journalFile));
    } catch (err) {
      await handle.close();
      throw err;
    }
    this.journal = handle;
    return handle;
  }

  /** A journal without the snapshot it extends, renamed to <journal>.orphaned (replacing an older one). */
  private async setJournalAside(): Promise<void> {
    await this.closeJournal();
    this.journalSize = 0;
    try {
      if ((await stat(this.journalFile)).size === 0) return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const aside = `${this.journalFile}.orphaned`;
    await rename(this.journalFile, aside);
    await syncDirectory(path.dirname(this.journalFile));
    this.logger?.warn(`${this.journalFile} holds changes of a mesh whose snapshot ${this.file} is not there: moved to ${aside}, not replayed into the new mesh`, { stateFile: this.file });
  }

  private async emptyJournal(): Promise<void> {
    await this.closeJournal();
    this.journalSize = 0;
    try {
      await truncate(this.journalFile, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      return;
    }
    const handle = await open(this.journalFile, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  private async closeJournal(): Promise<void> {
    const journal = this.journal;
    this.journal = undefined;
    await journal?.close();
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/** The journal of a snapshot: bootstrap.json → bootstrap.journal (another name gets .journal added). */
export function journalFileFor(snapshotFile: string): string {
  return snapshotFile.endsWith('.json') ? `${snapshotFile.slice(0, -'.json'.length)}.journal` : `${snapshotFile}.journal`;
}

/** Below this a journal is never compacted: 1 MiB is some 2,000 changes, replayed in milliseconds. */
const DEFAULT_COMPACT_BYTES = 1024 * 1024;

function stateOf(held: Held): MeshState {
  return { version: 1, meshName: held.meshName, cidr: held.cidr, createdMs: held.createdMs, revision: held.revision, members: [...held.members.values()], ...(held.l2 ? { l2: held.l2 } : {}) };
}

async function readOrUndefined(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StateFileError(file, `cannot be read (${(err as Error).message})`);
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function checkState(file: string, value: unknown): MeshState {
  try {
    return checkStateShape(value);
  } catch (err) {
    if (err instanceof StateProblem) throw new StateFileError(file, err.message);
    throw err;
  }
}
