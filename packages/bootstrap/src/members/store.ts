import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '@wgmesh/agent/atomic-file';
import { type MeshNode } from '@wgmesh/agent/netmap/netmap';
import { StateFileError } from '../errors.js';
import { checkStateShape } from './state-schema.js';
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

/** Where the member table and IPAM persist. One interface, so a shared store can replace the file. */
export interface StateStore {
  /** The saved state, or undefined when none was ever saved. Unreadable state is an error, never "none". */
  load(): Promise<MeshState | undefined>;
  save(state: MeshState): Promise<void>;
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
}

/** One JSON file, replaced atomically: write a temp file, fsync it, rename over, fsync the directory. */
export class FileStateStore implements StateStore {
  constructor(readonly file: string) {}

  async load(): Promise<MeshState | undefined> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new StateFileError(this.file, `cannot be read (${(err as Error).message})`);
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new StateFileError(this.file, `is not valid JSON (${(err as Error).message})`);
    }
    return checkState(this.file, value);
  }

  async save(state: MeshState): Promise<void> {
    await writeFileAtomic(this.file, JSON.stringify(state, null, 1));
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
