/**
 * Issue 16, "Must show": `wgmesh store migrate` of a 5-node mesh on the file store, with real
 * processes and real WireGuard, the built CLI throughout. h1's bootstrap is stopped (SIGTERM: it
 * stays a member and the agents keep their WireGuard config), its state file is migrated into a
 * 1-member etcd running in h1 on its underlay address, and h1 starts again as `bootstrap -store
 * etcd` with the same state directory, -ip and port. Every member keeps its address (as each node
 * and etcd say), every agent resumes its Watch on the etcd-backed bootstrap without re-joining,
 * every pair of nodes pings, and a host added afterwards gets a fresh address every node sees.
 *
 * Lab "wgmig5" on the default underlay (192.0.2.0/24, on its own switch: files run one at a time,
 * and another lab's switch never sees this one's).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { FileStateStore, type MigrationReport } from '@wgmesh/bootstrap';
import {
  hostExec,
  labAdd,
  labDown,
  labEtcdEndpoints,
  labEtcdStatus,
  labEtcdctl,
  labHost,
  labKillNode,
  labStartEtcd,
  labStartNode,
  labUp,
  loadLab,
  type LabState,
  type ProcessIdentity,
} from '@wgmesh/cli/lab';
import { agentInfo, childrenOf, cliInfo, e2eWgmeshCommand, firstTimes, hostLog, labSkipReason, leftovers, memberView, pingUntil, wgDump } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';

const LAB = 'wgmig5';
const MESH = 'mig5';
const HOSTS = ['h1', 'h2', 'h3', 'h4', 'h5'];
const AGENTS = HOSTS.filter((h) => h !== 'h1');
/** The bootstrap's state file as h1 sees it (its /var/lib/wgmesh is its own state directory). */
const STATE_FILE = `/var/lib/wgmesh/${MESH}/bootstrap.json`;
const READY_MS = 90_000;
const skip = await labSkipReason({ wireguard: true, etcd: true });

/** ip → member name, as etcd holds them under /wgmesh/<mesh>/ips/ (read with etcdctl inside h1). */
async function etcdIps(lab: LabState): Promise<Map<string, string>> {
  const prefix = `/wgmesh/${MESH}/ips/`;
  const result = await labEtcdctl(lab, ['get', '--prefix', prefix]);
  assert.equal(result.code, 0, `etcdctl get --prefix ${prefix}: ${result.stderr}`);
  const lines = result.stdout.split('\n').filter((l) => l !== '');
  const ips = new Map<string, string>();
  for (let i = 0; i + 1 < lines.length; i += 2) ips.set(lines[i]!.slice(prefix.length), lines[i + 1]!);
  return ips;
}

/** "name=ip" for every entry of an ip → name map, sorted (memberView's form). */
function byName(ips: ReadonlyMap<string, string>): string[] {
  return [...ips].map(([ip, name]) => `${name}=${ip}`).sort();
}

/** Lines of a log that match, counted. */
function count(log: string, pattern: RegExp): number {
  return log.split('\n').filter((l) => pattern.test(l)).length;
}

describe('store migrate of a 5-node file-store mesh: the same addresses, every node reconnects', { skip: skip ?? false }, () => {
  let lab: LabState;
  let endpoint: string;
  /** "name=meshIp" of all five members before the migration, as h1 saw them. */
  let membersBefore: string[];
  let ipOf: Map<string, string>;
  /** Each node's revision on the file store (the file's numbering, which etcd's does not continue). */
  let revisionsBefore: Map<string, number>;
  let migration: MigrationReport;
  /** Where h1's log stood when it started on etcd: what it logged since is the new bootstrap's. */
  let h1LogFrom = 0;

  before(async () => {
    // A lab left over by an interrupted run is removed first (with an etcd it had started).
    await labDown({ name: LAB });
    lab = (await labUp({ name: LAB, hosts: HOSTS.length, mesh: MESH, wgmeshCommand: e2eWgmeshCommand(), readyTimeoutMs: READY_MS })).lab;
  });

  after(async () => {
    // Even when a test failed half-way: the nodes, the etcd started in h1 and its data (in h1's
    // state directory) go with the lab.
    await labDown({ name: LAB });
  });

  test('on the file store, every node sees the 4 others, each at its own address', async () => {
    const h1 = labHost(lab, 'h1');
    assert.ok(!h1.process!.argv.includes('-store'), `h1 runs on the file store: ${h1.process!.argv.join(' ')}`);
    const views = new Map<string, string[]>();
    for (const host of HOSTS) {
      const info = await waitFor(`${host} to see the 4 others`, async () => {
        const i = await agentInfo(lab, host);
        return i && i.connected && i.peers.length === HOSTS.length - 1 ? i : undefined;
      }, 30_000, 200);
      views.set(host, memberView(info));
    }
    membersBefore = views.get('h1')!;
    revisionsBefore = new Map(await Promise.all(HOSTS.map(async (h) => [h, Number((await agentInfo(lab, h))?.revision ?? 0)] as const)));
    for (const host of HOSTS) assert.deepEqual(views.get(host), membersBefore, `${host}'s member list`);
    ipOf = new Map(membersBefore.map((m) => m.split('=') as [string, string]));
    assert.equal(new Set(ipOf.values()).size, HOSTS.length, `five distinct addresses: ${membersBefore.join(', ')}`);
    const saved = (await new FileStateStore(join(h1.stateDir, MESH, 'bootstrap.json')).load())!;
    assert.deepEqual(saved.members.map((m) => `${m.name}=${m.meshIp}`).sort(), membersBefore, 'h1\'s state file holds the same members');
  });

  test('an etcd of one member starts in h1, on its underlay address', async () => {
    lab = await labStartEtcd(LAB, ['h1'], { timeoutMs: 30_000 });
    [endpoint] = labEtcdEndpoints(lab);
    assert.equal(endpoint, `http://${labHost(lab, 'h1').underlayIp}:2379`);
    const [member] = await labEtcdStatus(lab);
    assert.ok(member?.running, JSON.stringify(member));
  });

  test('h1 stopped with SIGTERM: the agents keep their WireGuard peers (h1 included) and still reach each other', async (t) => {
    const killed = await labKillNode(LAB, 'h1');
    assert.equal(killed.escalated, false, 'h1 exited on SIGTERM');
    lab = killed.lab;
    for (const host of AGENTS) {
      const dump = await wgDump(lab, host);
      assert.equal(dump.peers.length, HOSTS.length - 1, `${host}'s WireGuard peers`);
    }
    await pingUntil(lab, 'h2', ipOf.get('h5')!, 10_000);
    // Each sees its Watch end, so `connected` later means connected again.
    const ended = await firstTimes(lab, AGENTS, 'see its Watch end', (i) => !i.connected, killed.signalledMs, 15_000, 50);
    t.diagnostic(`Watch ended at ${AGENTS.map((h) => `${h} +${ended.get(h)} ms`).join(', ')} after SIGTERM; revisions on the file store: ${[...revisionsBefore].map(([h, r]) => `${h} ${r}`).join(', ')}`);
  });

  test('store migrate, run in h1, copies all five members into etcd at their own addresses', async (t) => {
    const run = await hostExec(lab, 'h1', ['wgmesh', 'store', 'migrate', '-from', STATE_FILE, '-etcd-endpoints', endpoint, '-json'], { timeoutMs: 30_000 });
    assert.equal(run.code, 0, `exit ${run.code}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
    migration = JSON.parse(run.stdout) as MigrationReport;
    t.diagnostic(`migrated ${migration.migrated.join(', ')} at etcd revision ${migration.audit.revision}`);
    assert.deepEqual([...migration.migrated].sort(), HOSTS);
    assert.deepEqual(migration.alreadyPresent, []);
    assert.equal(migration.meshCreated, true);
    assert.deepEqual(byName(await etcdIps(lab)), membersBefore, 'etcd\'s ips/ keys: every member at its old address');
  });

  test('h1 starts again as `bootstrap -store etcd` with the same state directory, -ip and port, and says it uses etcd', async (t) => {
    const before = labHost(lab, 'h1').process!.argv;
    h1LogFrom = (await hostLog(lab, 'h1')).length;
    const started = await labStartNode(LAB, 'h1', { args: ['-store', 'etcd', '-etcd-endpoints', endpoint], readyTimeoutMs: READY_MS });
    lab = started.lab;
    const argv = started.host.process!.argv;
    assert.deepEqual(argv, [...before, '-store', 'etcd', '-etcd-endpoints', endpoint], 'the same command line, with the etcd store added');
    const log = await waitFor('h1 to print its start-up summary', async () => {
      const l = (await hostLog(lab, 'h1')).slice(h1LogFrom);
      return /wgmesh bootstrap is running/.test(l) ? l : undefined;
    }, 30_000, 100);
    assert.match(log, /^ {2}store {10}etcd \(shared with the mesh's other bootstraps\), revision \d+/m);
    assert.match(log, new RegExp(`^ {2}mesh IP {8}${ipOf.get('h1')!.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(log, /^ {2}members {8}5$/m);
    t.diagnostic(log.split('\n').find((l) => /^ {2}store /.test(l))!.trim());
  });

  test('every agent is connected to the bootstrap again, past the migration, with every member at its old address', async (t) => {
    const startedMs = labHost(lab, 'h1').process!.startedMs;
    const at = await firstTimes(lab, HOSTS, `be connected at etcd revision ${migration.audit.revision} or later`,
      (i) => i.connected && Number(i.revision) >= migration.audit.revision, startedMs, 45_000, 50);
    t.diagnostic(`connected again ${HOSTS.map((h) => `${h} +${at.get(h)} ms`).join(', ')} after h1 started on etcd`);
    for (const host of HOSTS) {
      // Through the CLI: what `wgmesh info -json` prints.
      const shown = await cliInfo(lab, host);
      t.diagnostic(`${host}: revision ${revisionsBefore.get(host)} on the file store, ${shown.revision} now`);
      assert.equal(shown.meshIp, ipOf.get(host), `${host}'s address`);
      assert.equal(shown.connected, true, `${host} connected`);
      assert.deepEqual(memberView(shown), membersBefore, `${host}'s member list`);
      assert.equal(shown.controlError, '', `${host}: no refused call`);
    }
  });

  test('every node pings every other one', async () => {
    await Promise.all(HOSTS.map(async (from) => {
      for (const to of HOSTS) if (to !== from) await pingUntil(lab, from, ipOf.get(to)!, 15_000);
    }));
  });

  test('a host added now joins through the etcd-backed bootstrap with a fresh address every node sees', async () => {
    const added = await labAdd({ name: LAB, readyTimeoutMs: READY_MS });
    lab = added.lab;
    const h6 = added.host.name;
    assert.equal(h6, 'h6');
    const info = await waitFor(`${h6} to be connected with the 5 others`, async () => {
      const i = await agentInfo(lab, h6);
      return i && i.connected && i.peers.length === HOSTS.length ? i : undefined;
    }, 30_000, 200);
    const fresh = info.meshIp;
    assert.ok(fresh && ![...ipOf.values()].includes(fresh), `${h6}'s address ${fresh} is none of ${[...ipOf.values()].join(', ')}`);
    const expected = [...membersBefore, `${h6}=${fresh}`].sort();
    assert.deepEqual(byName(await etcdIps(lab)), expected, 'etcd holds it beside the others');
    for (const host of [...HOSTS, h6]) {
      const view: string[] = await waitFor(`${host} to list ${h6} at ${fresh}`, async () => {
        const seen = await agentInfo(lab, host);
        return seen && memberView(seen).includes(`${h6}=${fresh}`) ? memberView(seen) : undefined;
      }, 30_000, 200);
      assert.deepEqual(view, expected, `${host}'s member list`);
    }
    // The join was a change in etcd: every node's revision has moved past the migration's.
    for (const host of [...HOSTS, h6]) {
      const revision = Number((await agentInfo(lab, host))?.revision ?? 0);
      assert.ok(revision > migration.audit.revision, `${host}'s revision ${revision} is past the migration's ${migration.audit.revision}`);
    }
    await pingUntil(lab, h6, ipOf.get('h1')!, 15_000);
    await pingUntil(lab, 'h5', fresh, 15_000);
  });

  test('no agent re-joined: each resumed its Watch', async (t) => {
    const bootstrapLog = (await hostLog(lab, 'h1')).slice(h1LogFrom);
    const rejoined = count(bootstrapLog, /\bnode re-joined\b/);
    const asked: string[] = [];
    for (const host of AGENTS) if (count(await hostLog(lab, host), /no longer knows this node; joining again/) > 0) asked.push(host);
    t.diagnostic(`re-joins logged by h1 since it runs on etcd: ${rejoined}; agents told to join again: ${asked.join(', ') || 'none'}`);
    assert.equal(rejoined, 0, `h1 logged "node re-joined" ${rejoined} time(s):\n${bootstrapLog.split('\n').filter((l) => /re-joined/.test(l)).join('\n')}`);
    assert.deepEqual(asked, []);
  });

  test('lab down stops the nodes and the etcd in h1, and leaves nothing behind', async () => {
    const current = await loadLab(LAB);
    const nodes: ProcessIdentity[] = current.hosts.flatMap((h) => (h.process ? [h.process] : []));
    const etcd: ProcessIdentity[] = (current.etcd ?? []).flatMap((m) => (m.process ? [m.process] : []));
    assert.equal(etcd.length, 1);
    const children = await childrenOf(nodes.map((n) => n.pid));
    const down = await labDown({ name: LAB });
    assert.ok(down.stopped.includes(etcd[0]!.pid), `etcd (PID ${etcd[0]!.pid}) stopped on SIGTERM: ${JSON.stringify(down)}`);
    assert.deepEqual(await leftovers(current, [...nodes, ...etcd, ...children]), []);
  });
});
