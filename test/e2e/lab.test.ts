/**
 * A 4-host lab with real wgmesh processes and real WireGuard (the kernel's where the module
 * exists, else wireguard-go): full-mesh pings, the WireGuard peer tables, a node leaving on
 * SIGTERM, the backend each node reports, and a leak-free teardown.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hostPid, labDown, labUp, loadLab, type LabState, type ProcessIdentity } from '@wgmesh/cli/lab';
import { childrenOf, e2eWgmeshCommand, expectedWireguardGo, labSkipReason, leftovers, meshIps, nodeBackend, pingUntil, stillRunning, wgDump } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';

const LAB = 'wge2e';
const MESH = 'mesh4';
const skip = await labSkipReason({ wireguard: true });

describe('lab of 4 hosts with real WireGuard', { skip: skip ?? false }, () => {
  let lab: LabState;

  before(async () => {
    // A lab left over by an interrupted run is removed first.
    await labDown({ name: LAB });
    lab = (await labUp({ name: LAB, hosts: 4, mesh: MESH, wgmeshCommand: e2eWgmeshCommand(), readyTimeoutMs: 60_000 })).lab;
  });

  after(async () => {
    await labDown({ name: LAB });
  });

  test('every host pings every other host over the mesh', async () => {
    const ips = meshIps(lab);
    assert.equal(new Set(ips.values()).size, 4, 'four distinct mesh IPs');
    const pairs = lab.hosts.flatMap((a) => lab.hosts.filter((b) => b !== a).map((b) => ({ from: a.name, to: b.name, ip: ips.get(b.name)! })));
    // First pings can be lost while a handshake completes: each pair retries until its deadline.
    await Promise.all(pairs.map((p) => pingUntil(lab, p.from, p.ip, 20_000)));
  });

  test('each WireGuard interface has exactly the 3 other hosts as peers, with recent handshakes', async () => {
    const keys = new Map<string, string>();
    for (const h of lab.hosts) keys.set(h.name, (await wgDump(lab, h.name)).publicKey);
    for (const h of lab.hosts) {
      const others = [...keys.entries()].filter(([name]) => name !== h.name).map(([, key]) => key).sort();
      const dump = await waitFor(`${h.name} to have 3 peers with a handshake in the last 2 minutes`, async () => {
        const d = await wgDump(lab, h.name);
        const now = Date.now() / 1000;
        return d.peers.length === 3 && d.peers.every((p) => p.latestHandshake > 0 && now - p.latestHandshake < 120) ? d : undefined;
      }, 15_000, 200);
      assert.deepEqual(dump.peers.map((p) => p.publicKey).sort(), others);
      for (const peer of dump.peers) assert.equal(peer.allowedIps.length, 1, `one allowed IP per peer: ${peer.allowedIps.join(',')}`);
    }
  });

  test('SIGTERM to h4 removes it from every other host within 5 s', async () => {
    const pid = hostPid(lab, 'h4');
    assert.ok(pid !== undefined, 'h4 runs wgmesh');
    const key = (await wgDump(lab, 'h4')).publicKey;
    const children = await childrenOf([pid]);
    process.kill(pid, 'SIGTERM');
    const signalled = Date.now();
    // Polled well past the budget, so a miss reports the real time instead of a timeout.
    await waitFor('h1, h2 and h3 to drop h4', async () => {
      const dumps = await Promise.all(['h1', 'h2', 'h3'].map((h) => wgDump(lab, h)));
      return dumps.every((d) => d.peers.length === 2 && !d.peers.some((p) => p.publicKey === key));
    }, 15_000, 50);
    const tookMs = Date.now() - signalled;
    assert.ok(tookMs <= 5_000, `h1, h2 and h3 dropped h4 ${tookMs} ms after SIGTERM; the budget is 5000 ms`);
    // h4's agent and its wireguard-go are gone too.
    const h4 = lab.hosts.find((h) => h.name === 'h4')!.process!;
    await waitFor('h4 and its children to exit', async () => (await stillRunning([h4, ...children])).length === 0, 5_000);
  });

  test('lab down leaves no namespace, mount, process or interface behind', async (t) => {
    const current = await loadLab(LAB);
    const agents: ProcessIdentity[] = current.hosts.flatMap((h) => (h.process ? [h.process] : []));
    const children = await childrenOf(agents.map((a) => a.pid));
    // Each running node uses the backend it reports (checked against its interface's link kind);
    // one that reports userspace drives its own wireguard-go, one in the kernel none.
    const runningPids = new Set(await stillRunning(agents));
    const running = current.hosts.filter((h) => h.process && runningPids.has(h.process.pid));
    assert.deepEqual(running.map((h) => h.name), ['h1', 'h2', 'h3'], 'h4 was stopped by the previous test');
    for (const host of running) {
      const backend = await nodeBackend(current, host.name);
      t.diagnostic(`${host.name}: backend ${backend}`);
      const own = await childrenOf([host.process!.pid]);
      assert.equal(own.filter((c) => c.comm === 'wireguard-go').length, expectedWireguardGo(backend),
        `${host.name} reports backend ${backend}; its children: ${own.map((c) => `${c.pid} ${c.comm}`).join(', ') || 'none'}`);
    }

    const report = await labDown({ name: LAB });
    assert.equal(report.existed, true);
    assert.deepEqual(report.killed, [], 'every agent stopped on SIGTERM');
    assert.deepEqual(report.strays, []);
    assert.deepEqual(await leftovers(current, [...agents, ...children]), []);
    assert.equal((await labDown({ name: LAB })).existed, false, 'a second lab down has nothing to do');
  });
});
