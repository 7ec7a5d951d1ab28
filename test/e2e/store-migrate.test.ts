/**
 * `wgmesh store migrate`, the built CLI, against a real 1-member etcd in a network namespace
 * (test/helpers/etcd.ts): a bootstrap's state file of 5 members moves into etcd with every member
 * at its own IP, a second run finds them all there, a member in the way refuses the migration
 * naming it, and a missing state file is a clear usage error.
 *
 * The cluster sits on 198.51.100.224/28, apart from the helper's default 203.0.113.240/28
 * (test/e2e/etcd-store.test.ts) and from 198.51.100.240/28, so this file can run beside them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateKeyPair } from '@wgmesh/agent';
import { EtcdMeshStore, FileStateStore, type Member, type MeshState, type MigrationReport } from '@wgmesh/bootstrap';
import { labEnv, runCapture } from '@wgmesh/cli/lab';
import { etcdSkipReason, startEtcdCluster, type EtcdCluster } from '../helpers/etcd.js';
import { e2eWgmeshCommand } from '../helpers/lab.js';

const MESH = 'mig';
const CIDR = '10.77.0.0/16';
const CREATED_MS = 1_690_000_000_000;
const skip = await etcdSkipReason();

function member(name: string, meshIp: string, extra: Partial<Member> = {}): Member {
  const t = 1_700_000_000_000;
  return {
    name, publicKey: generateKeyPair().publicKey, meshIp, endpoints: [{ ip: '192.0.2.10', port: 51820, kind: 'ENDPOINT_KIND_LAN' }], tags: { role: name },
    status: 'NODE_STATUS_ALIVE', joinedAtMs: t, lastSeenMs: t, statusChangedMs: t, isBootstrap: name === 'boot', listenPort: 51820, relay: false, certFingerprint: '',
    ...extra,
  };
}

/** A bootstrap's state: itself and four nodes, at IPs out of allocation order (they must be kept, not re-allocated). */
const STATE: MeshState = {
  version: 1, meshName: MESH, cidr: CIDR, createdMs: CREATED_MS, revision: 23,
  members: [member('boot', '10.77.0.1'), member('n1', '10.77.0.20'), member('n2', '10.77.3.7'), member('n3', '10.77.0.2'), member('n4', '10.77.255.254')],
};

describe('wgmesh store migrate into a real etcd', { skip }, () => {
  let cluster: EtcdCluster | undefined;
  let dir: string;
  let stateFile: string;
  const stores: EtcdMeshStore[] = [];
  const wgmesh = skip ? [] : e2eWgmeshCommand();

  /** A store on the cluster, as the bootstrap would open it, for checking what the CLI wrote. */
  const storeAt = (prefix?: string, cidr = CIDR) => {
    const store = new EtcdMeshStore({ endpoints: cluster!.endpoints, meshName: MESH, cidr, ...(prefix ? { prefix } : {}) });
    stores.push(store);
    return store;
  };

  const migrate = (...args: string[]) =>
    runCapture(wgmesh[0]!, [...wgmesh.slice(1), 'store', 'migrate', ...args], { env: labEnv(process.env), timeoutMs: 30_000 });

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-migrate-'));
    stateFile = path.join(dir, MESH, 'bootstrap.json');
    await new FileStateStore(stateFile).save(STATE);
    cluster = await startEtcdCluster({ prefix: 'wgmig', size: 1, segment: '198.51.100', block: 14 });
  });

  after(async () => {
    for (const store of stores) await store.close().catch(() => undefined);
    await cluster?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('every member moves into etcd at its own IP; the file stays as it was', async (t) => {
    t.diagnostic(`etcd (1 member) healthy ${cluster!.startMs} ms after start`);
    const before = await readFile(stateFile);
    const run = await migrate('-from', stateFile, '-etcd-endpoints', cluster!.endpoints.join(','));
    assert.equal(run.code, 0, run.stderr);
    t.diagnostic(run.stdout.trimEnd());
    assert.match(run.stdout, /^mesh "mig" \(10\.77\.0\.0\/16\) is in etcd under \/wgmesh\/mig\/ \(etcd revision \d+\):\n {2}5 member\(s\) migrated, 0 already present\n/);
    assert.match(run.stdout, /Next: wgmesh bootstrap -store etcd -etcd-endpoints http:\/\/198\.51\.100\.225:2379 -n mig -cidr 10\.77\.0\.0\/16\n$/);
    assert.deepEqual(await readFile(stateFile), before, 'the state file is only read');

    // What a bootstrap on etcd would read: the mesh record with the file's creation time and revision, each member as in the file.
    const store = storeAt();
    assert.deepEqual(await store.readMesh(), { meshName: MESH, cidr: CIDR, createdMs: CREATED_MS, fileRevision: STATE.revision });
    const { members } = await store.list();
    assert.deepEqual(members.map((m) => m.member), [...STATE.members].sort((a, b) => a.name.localeCompare(b.name)));
    assert.deepEqual(members.map((m) => `${m.member.name} ${m.member.meshIp}`), ['boot 10.77.0.1', 'n1 10.77.0.20', 'n2 10.77.3.7', 'n3 10.77.0.2', 'n4 10.77.255.254']);
    const audit = await store.audit();
    assert.deepEqual({ members: audit.members, ips: audit.ips, orphanIps: audit.orphanIps, membersWithoutIp: audit.membersWithoutIp }, { members: 5, ips: 5, orphanIps: [], membersWithoutIp: [] });
  });

  test('a second run finds every member there and writes nothing', async () => {
    const store = storeAt();
    const revisionBefore = (await store.list()).revision;
    const run = await migrate('-from', stateFile, '-etcd-endpoints', cluster!.endpoints[0]!, '-json');
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as MigrationReport;
    assert.deepEqual(report.migrated, []);
    assert.deepEqual([...report.alreadyPresent].sort(), ['boot', 'n1', 'n2', 'n3', 'n4']);
    assert.equal(report.meshCreated, false);
    assert.equal(report.audit.revision, revisionBefore, 'no key was written');
  });

  test('members in the way (another n3, another member at n4\'s IP): refused, each named, nothing written', async (t) => {
    const prefix = '/t-conflict/';
    const store = storeAt(prefix);
    await store.open({ createdMs: CREATED_MS });
    await store.insert(member('n3', '10.77.9.9'));
    await store.insert(member('x', '10.77.255.254'));
    const revisionBefore = (await store.list()).revision;

    const run = await migrate('-from', stateFile, '-etcd-endpoints', cluster!.endpoints.join(','), '-etcd-prefix', prefix);
    assert.equal(run.code, 2, run.stdout + run.stderr);
    t.diagnostic(run.stderr.trimEnd());
    assert.match(run.stderr, /^wgmesh store: cannot move the mesh into etcd prefix \/t-conflict\/, nothing was written: /);
    assert.match(run.stderr, /member "n3": etcd already holds another member under this name, "n3" \(10\.77\.9\.9, key .{8}…\) \(differs in meshIp, publicKey\)/);
    assert.match(run.stderr, /member "n4": its IP 10\.77\.255\.254 belongs to member "x"/);
    assert.match(run.stderr, /etcdctl get --prefix \/t-conflict\/ shows it; a member is two keys, members\/<name> and ips\/<its IP>: delete both\) or migrate to another -etcd-prefix, then run the migration again\n$/);
    const after = await store.list();
    assert.deepEqual(after.members.map((m) => m.member.name), ['n3', 'x']);
    assert.equal(after.revision, revisionBefore);
  });

  test('a prefix holding another mesh (another CIDR): refused, saying what it holds', async () => {
    const prefix = '/t-other/';
    await storeAt(prefix, '10.78.0.0/16').open();
    const run = await migrate('-from', stateFile, '-etcd-endpoints', cluster!.endpoints.join(','), '-etcd-prefix', prefix);
    assert.equal(run.code, 2, run.stdout + run.stderr);
    assert.match(run.stderr, /^wgmesh store: etcd prefix \/t-other\/ holds mesh "mig" \(10\.78\.0\.0\/16\), not "mig" \(10\.77\.0\.0\/16\)/);
    assert.deepEqual((await storeAt(prefix, '10.78.0.0/16').list()).members, []);
  });

  test('a mesh of the same name and CIDR made apart from this file (another creation time): refused, not merged', async () => {
    const prefix = '/t-apart/';
    const store = storeAt(prefix);
    await store.open({ createdMs: CREATED_MS + 86_400_000 });
    const run = await migrate('-from', stateFile, '-etcd-endpoints', cluster!.endpoints.join(','), '-etcd-prefix', prefix);
    assert.equal(run.code, 2, run.stdout + run.stderr);
    assert.match(run.stderr, /nothing was written: the prefix holds a mesh "mig" \(10\.77\.0\.0\/16\) created 2023-07-23T04:26:40\.000Z, not the one of this file, created 2023-07-22T04:26:40\.000Z .*would merge two meshes/);
    assert.deepEqual((await store.list()).members, []);
  });

  test('a missing -from file: a usage error naming it, before etcd is asked', async () => {
    const missing = path.join(dir, 'nope', 'bootstrap.json');
    const run = await migrate('-from', missing, '-etcd-endpoints', cluster!.endpoints.join(','));
    assert.equal(run.code, 2);
    assert.equal(run.stderr, `wgmesh store: -from ${missing}: no such file (give the bootstrap's state file, <state-dir>/<mesh>/bootstrap.json)\n`);
    assert.equal(run.stdout, '');
  });
});
