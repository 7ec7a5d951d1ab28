/**
 * Moving a mesh from a bootstrap's state file into etcd (`wgmesh store migrate`), keeping every
 * member at its own IP, so that bootstraps started with `-store etcd` serve the same mesh.
 *
 * First everything is checked, then written: a prefix holding another mesh, or a member in the
 * way (another member under a file member's name, at its IP or with its public key), refuses the
 * whole migration before any key is written. A member already in etcd with the same identity
 * (name, IP, public key, certificate, secret) is done already, so running it again is safe. The
 * state file is only read.
 */
import { ConfigError, MigrationConflict, StoreConflict, StoreCorrupt, StoreMeshMismatch, type MigrationProblem } from '../errors.js';
import type { MeshState, Member } from '../members/store.js';
import { canonical, type EtcdMeshStore, type StoreAudit } from './etcd-mesh-store.js';

export interface MigrationComponents {
  /** The target, made for the state's mesh name and CIDR; opened here, left open for the caller to close. */
  readonly store: EtcdMeshStore;
}

export interface MigrationReport {
  readonly meshName: string;
  readonly cidr: string;
  readonly prefix: string;
  /** The mesh record's creation time: the state file's. */
  readonly createdMs: number;
  /** Whether this run made the mesh record (false: an earlier run had). */
  readonly meshCreated: boolean;
  /** Members written by this run, in the file's order. */
  readonly migrated: readonly string[];
  /** Members etcd held already with the same identity and IP (an earlier run), left as they are. */
  readonly alreadyPresent: readonly string[];
  /** Those of alreadyPresent whose other fields (status, endpoints, tags, …) differ from the file: etcd's are kept. */
  readonly differentInEtcd: readonly string[];
  /** The audit after the last write (etcd's revision then, no orphan IP key, no member without its IP key). */
  readonly audit: StoreAudit;
}

/** What makes a member the same member: a name, an IP, a key and the proofs it joined with. */
const IDENTITY = ['name', 'meshIp', 'publicKey', 'certFingerprint', 'certSerial', 'secretHash'] as const satisfies readonly (keyof Member)[];

function sameIdentity(a: Member, b: Member): boolean {
  return IDENTITY.every((field) => a[field] === b[field]);
}

function shown(m: Member): string {
  return `"${m.name}" (${m.meshIp}, key ${m.publicKey.slice(0, 8)}…)`;
}

/** Every way the store's current members stand in the way of the file's; empty when none does. */
export function planMigration(state: MeshState, existing: readonly Member[]): { problems: MigrationProblem[]; toWrite: Member[]; present: Member[]; different: string[] } {
  const byName = new Map(existing.map((m) => [m.name, m]));
  const byIp = new Map(existing.map((m) => [m.meshIp, m]));
  const byKey = new Map(existing.map((m) => [m.publicKey, m]));
  const problems: MigrationProblem[] = [];
  const toWrite: Member[] = [];
  const present: Member[] = [];
  const different: string[] = [];
  for (const member of state.members) {
    const sameName = byName.get(member.name);
    if (sameName) {
      if (sameIdentity(sameName, member)) {
        present.push(member);
        if (canonical(sameName) !== canonical(member)) different.push(member.name);
      } else {
        const what = IDENTITY.filter((f) => sameName[f] !== member[f]).join(', ');
        problems.push({ member: member.name, reason: `etcd already holds another member under this name, ${shown(sameName)} (differs in ${what})` });
      }
      continue;
    }
    const atIp = byIp.get(member.meshIp);
    if (atIp) problems.push({ member: member.name, reason: `its IP ${member.meshIp} belongs to member ${shown(atIp)} in etcd` });
    const withKey = byKey.get(member.publicKey);
    if (withKey && withKey !== atIp) problems.push({ member: member.name, reason: `its public key is member ${shown(withKey)}'s in etcd` });
    if (!atIp && !withKey) toWrite.push(member);
  }
  return { problems, toWrite, present, different };
}

/**
 * Writes every member of `state` into the store at its own IP, under a mesh record carrying the
 * state's name, CIDR and creation time. Throws StoreMeshMismatch when the prefix holds another
 * mesh, MigrationConflict (naming each member in the way) before writing anything, StoreCorrupt
 * when the audit afterwards finds an IP key without its member or a member without its IP key.
 */
export async function migrateFileStore(components: MigrationComponents, state: MeshState): Promise<MigrationReport> {
  const { store } = components;
  if (store.meshName !== state.meshName || store.cidr !== state.cidr) {
    throw new Error(`migrateFileStore: the store is for mesh "${store.meshName}" (${store.cidr}), the state for "${state.meshName}" (${state.cidr})`);
  }
  const wanted = { meshName: state.meshName, cidr: state.cidr };
  if (state.l2) {
    throw new ConfigError(`this mesh has layer 2 (bootstrap -l2, VNI ${state.l2.vni}), which -store etcd does not support yet: nothing was written; keep the mesh on its state file`);
  }

  // Check: the mesh record, then every member against what etcd holds.
  const mesh = await store.readMesh();
  if (mesh && (mesh.meshName !== wanted.meshName || mesh.cidr !== wanted.cidr)) throw new StoreMeshMismatch(store.prefix, mesh, wanted);
  if (mesh && mesh.createdMs !== state.createdMs) {
    throw new MigrationConflict(store.prefix, [{
      member: '',
      reason: `the prefix holds a mesh "${mesh.meshName}" (${mesh.cidr}) created ${new Date(mesh.createdMs).toISOString()}, not the one of this file, ` +
        `created ${new Date(state.createdMs).toISOString()} (a bootstrap started with -store etcd before the migration made it?): moving this file in would merge two meshes`,
    }]);
  }
  const { members } = await store.list();
  const plan = planMigration(state, members.map((m) => m.member));
  // An IP key left without its member (by hand, or another program) would refuse the write too.
  const orphans = new Set((await store.audit()).orphanIps);
  for (const member of plan.toWrite) {
    if (orphans.has(member.meshIp)) plan.problems.push({ member: member.name, reason: `etcd key ${store.ipKey(member.meshIp)} exists, but no member there holds that IP (an orphan)` });
  }
  if (plan.problems.length > 0) throw new MigrationConflict(store.prefix, plan.problems);

  // Write: the record (kept when an earlier run made it), then each member at its IP.
  // The file's revision goes with it: agents resuming from it get the whole membership (MemberTable.deltasSince).
  const { created } = await store.open({ createdMs: state.createdMs, fileRevision: state.revision });
  const migrated: string[] = [];
  for (const member of plan.toWrite) {
    try {
      await store.insert(member);
    } catch (err) {
      // Someone wrote under the prefix since the check: bootstraps must be stopped while migrating.
      if (err instanceof StoreConflict) {
        throw new MigrationConflict(store.prefix, [{ member: member.name, reason: `${err.key} was written by someone else during the migration (is a bootstrap running on this prefix?); ${migrated.length} member(s) were written before it` }]);
      }
      throw err;
    }
    migrated.push(member.name);
  }

  const audit = await store.audit();
  if (audit.orphanIps.length > 0 || audit.membersWithoutIp.length > 0) {
    throw new StoreCorrupt(`${store.prefix}ips/`, `the audit after the migration found IP keys without their member (${audit.orphanIps.join(', ') || 'none'}) and members without their IP key (${audit.membersWithoutIp.join(', ') || 'none'})`);
  }
  return {
    meshName: state.meshName,
    cidr: state.cidr,
    prefix: store.prefix,
    createdMs: state.createdMs,
    meshCreated: created,
    migrated,
    alreadyPresent: plan.present.map((m) => m.name),
    differentInEtcd: plan.different,
    audit,
  };
}
