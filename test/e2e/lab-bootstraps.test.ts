/**
 * `wgmesh lab up 5 -bootstraps 3`, run as a user would (the CLI, not the library): an etcd cluster
 * of three members in h1, h2 and h3, a `wgmesh bootstrap -store etcd` in each with mesh IPs .1,
 * .2 and .3, and joins in h4 and h5 given all three bootstraps. Every node sees the four others;
 * `lab restart` of a bootstrap host runs its bootstrap again; `lab down` leaves nothing behind,
 * etcd included.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bootstrapHosts,
  labDown,
  labEnv,
  labEtcdctl,
  labEtcdEndpoints,
  labEtcdStatus,
  etcdLeader,
  loadLab,
  runCapture,
  type ExecResult,
  type LabState,
  type ProcessIdentity,
} from '@wgmesh/cli/lab';
import { agentInfo, childrenOf, e2eWgmeshCommand, labSkipReason, leftovers } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';

const LAB = 'wglb3';
const MESH = 'lb3';
/** A TEST-NET /24 no other end-to-end file uses as its underlay. */
const UNDERLAY = '198.51.100.0/24';
const CIDR = '198.18.0.0/16';

const skip = await labSkipReason({ wireguard: true, etcd: true });

/** `wgmesh lab …` with the CLI the end-to-end tests run (the built one unless WGMESH_E2E_CLI=source). */
async function wgmeshLab(args: readonly string[], timeoutMs = 150_000): Promise<ExecResult> {
  const [cmd, ...rest] = e2eWgmeshCommand();
  return runCapture(cmd!, [...rest, 'lab', ...args], { timeoutMs, env: labEnv() });
}

function explain(result: ExecResult): string {
  return `exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
}

describe('lab up 5 -bootstraps 3: three bootstraps sharing an etcd cluster', { skip: skip ?? false }, () => {
  let lab: LabState;

  before(async () => {
    // A lab left over by an interrupted run is removed first.
    await labDown({ name: LAB });
    const source = process.env.WGMESH_E2E_CLI === 'source' ? ['-from-source'] : [];
    const up = await wgmeshLab(['up', '5', '-bootstraps', '3', '-name', LAB, '-mesh', MESH, '-underlay', UNDERLAY, '-cidr', CIDR, '-timeout', '90', ...source]);
    assert.equal(up.code, 0, explain(up));
    assert.match(up.stdout, /5 hosts on 198\.51\.100\.0\/24, 3 bootstraps sharing an etcd cluster/);
    lab = await loadLab(LAB);
  });

  after(async () => {
    // Even when a test failed half-way: nothing of the lab may outlive the file.
    await labDown({ name: LAB });
  });

  test('an etcd member runs in each of h1, h2 and h3, on its underlay address, and the cluster is healthy with a leader', async (t) => {
    assert.equal(lab.bootstraps, 3);
    assert.deepEqual(labEtcdEndpoints(lab), ['http://198.51.100.1:2379', 'http://198.51.100.2:2379', 'http://198.51.100.3:2379']);
    const members = await labEtcdStatus(lab);
    assert.deepEqual(members.map((m) => m.name), ['h1', 'h2', 'h3']);
    assert.ok(members.every((m) => m.pid !== undefined && m.running), JSON.stringify(members));
    assert.equal(new Set(members.map((m) => m.pid)).size, 3, 'three etcd processes');
    const health = await labEtcdctl(lab, ['endpoint', 'health']);
    assert.equal(health.code, 0, health.stderr);
    const leader = await etcdLeader(lab);
    assert.ok(leader, 'the cluster has a leader');
    t.diagnostic(`etcd leader: ${leader.name} (PID ${leader.process?.pid})`);
    // `lab status` lists them.
    const status = await wgmeshLab(['status', '-name', LAB], 30_000);
    assert.equal(status.code, 0, explain(status));
    for (const m of members) assert.match(status.stdout, new RegExp(`etcd ${m.name}: ${m.clientUrl.replace(/\./g, '\\.')}, PID ${m.pid} running`));
  });

  test('h1, h2 and h3 run `bootstrap -store etcd` with mesh IPs .1, .2, .3; h4 and h5 join with all three addresses', async () => {
    assert.deepEqual(bootstrapHosts(lab).map((h) => h.name), ['h1', 'h2', 'h3']);
    for (const [i, host] of bootstrapHosts(lab).entries()) {
      const argv = host.process!.argv;
      assert.ok(argv.includes('bootstrap') && argv.includes('-store') && argv.includes('etcd'), argv.join(' '));
      assert.equal(argv[argv.indexOf('-ip') + 1], `198.18.0.${i + 1}`);
      assert.equal(argv[argv.indexOf('-etcd-endpoints') + 1], labEtcdEndpoints(lab).join(','));
    }
    for (const name of ['h4', 'h5']) {
      const argv = lab.hosts.find((h) => h.name === name)!.process!.argv;
      assert.deepEqual(argv.flatMap((a, i) => (argv[i - 1] === '-bootstrap-addr' ? [a] : [])), ['198.51.100.1:5000', '198.51.100.2:5000', '198.51.100.3:5000']);
    }
  });

  test('every host sees the four others, and each bootstrap has its own mesh IP', async () => {
    const names = lab.hosts.map((h) => h.name);
    for (const host of lab.hosts) {
      const info = await waitFor(`${host.name} to see the 4 other hosts`, async () => {
        const i = await agentInfo(lab, host.name);
        const seen = new Set(i?.peers.map((p) => p.node?.name));
        return i && names.filter((n) => n !== host.name).every((n) => seen.has(n)) ? i : undefined;
      }, 30_000, 200);
      assert.equal(info.peers.length, 4, `${host.name}'s peers: ${info.peers.map((p) => p.node?.name).join(', ')}`);
      if (host.role === 'bootstrap') assert.equal(info.meshIp, `198.18.0.${host.index}`, `${host.name}'s mesh IP`);
    }
    const ips = new Set(lab.hosts.map((h) => h.meshIp));
    assert.equal(ips.size, 5, `five distinct mesh IPs: ${[...ips].join(', ')}`);
  });

  test('lab restart h2 runs its bootstrap again, with the same mesh IP, and the mesh comes back together', async () => {
    const before = lab.hosts.find((h) => h.name === 'h2')!.process!;
    const restart = await wgmeshLab(['restart', '-name', LAB, 'h2', '-timeout', '60'], 90_000);
    assert.equal(restart.code, 0, explain(restart));
    assert.match(restart.stdout, /h2: wgmesh bootstrap running \(PID \d+\), mesh IP 198\.18\.0\.2/);
    lab = await loadLab(LAB);
    const h2 = lab.hosts.find((h) => h.name === 'h2')!;
    assert.notEqual(h2.process!.pid, before.pid);
    assert.deepEqual(h2.process!.argv, before.argv, 'the same bootstrap command line');
    // etcd in h2 was not touched.
    assert.ok((await labEtcdStatus(lab)).every((m) => m.running));
  });

  test('lab down stops every node and etcd member and leaves no namespace, mount or process behind', async () => {
    const current = await loadLab(LAB);
    const nodes: ProcessIdentity[] = current.hosts.flatMap((h) => (h.process ? [h.process] : []));
    const etcd: ProcessIdentity[] = (current.etcd ?? []).flatMap((m) => (m.process ? [m.process] : []));
    assert.equal(etcd.length, 3);
    const children = await childrenOf(nodes.map((n) => n.pid));
    const down = await wgmeshLab(['down', '-name', LAB], 60_000);
    assert.equal(down.code, 0, explain(down));
    assert.match(down.stdout, /stopped etcd \(PIDs/);
    assert.doesNotMatch(down.stdout, /were killed/, 'everything stopped on SIGTERM');
    assert.deepEqual(await leftovers(current, [...nodes, ...etcd, ...children]), []);
    assert.equal((await labDown({ name: LAB })).existed, false, 'a second lab down has nothing to do');
  });
});
