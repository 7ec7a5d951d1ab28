/**
 * Several bootstraps, one mesh, end to end: `wgmesh lab up -bootstraps 3` (a 3-member etcd cluster
 * of Debian's etcd-server in h1..h3, and `wgmesh bootstrap -store etcd` in each), joins as real
 * processes on real WireGuard (wireguard-go), checked with ping, `wgmesh info` and etcdctl:
 *
 * - 12 agents joining at once, spread over the three bootstraps: unique addresses, all 15 ping;
 * - kill -9 of one bootstrap: its agents are on another within 5 s, a join and a leave after it
 *   reach every node, and no ping between agents is lost;
 * - one bootstrap cut off from etcd (an iptables rule in its namespace): it refuses joins with
 *   UNAVAILABLE saying etcd is unreachable, its agents move to the others, and it serves again once
 *   etcd answers;
 * - every bootstrap down for 20 s: no ping lost, and everything resumes when one returns;
 * - kill -9 of the etcd leader during 10 concurrent joins: every join completes with a unique
 *   address (those refused meanwhile said why and succeeded on retry), and etcd holds exactly one
 *   address key per member.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair, spreadIndex, type InfoResponse__Output } from '@wgmesh/agent';
import { etcdLeader, hostExec, labAdd, labDown, labEtcdctl, labKillNode, labStartNode, labUp, type LabState } from '@wgmesh/cli/lab';
import { agentInfo, e2eWgmeshCommand, firstTimes, hostLog, labSkipReason, peerStatus, pingUntil, startPing, testToolCommand, type PingRun } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';

const LAB = 'wgem';
const MESH = 'em';
const CIDR = '198.18.0.0/16';
const UNDERLAY = '198.51.100.0/24';
const BOOTSTRAPS = ['h1', 'h2', 'h3'];
const MOVE_BUDGET_MS = 5_000;
const OUTAGE_MS = 20_000;
const TAKEOVER_BUDGET_MS = 10_000;
const skip = await labSkipReason({ wireguard: true, etcd: true });

const addressOf = (lab: LabState, host: string) => `${lab.hosts.find((h) => h.name === host)!.underlayIp}:5000`;
const running = (lab: LabState) => lab.hosts.filter((h) => h.process && !h.stopped).map((h) => h.name);
const agentsOf = (lab: LabState) => running(lab).filter((h) => !BOOTSTRAPS.includes(h));

/** When a bootstrap's log last said it took over failure detection (ms since the epoch), if it did. */
function lastLeadingAt(log: string): number | undefined {
  const lines = log.split('\n').filter((l) => l.includes('this bootstrap now runs failure detection'));
  const last = lines[lines.length - 1];
  return last ? Date.parse(last.slice(0, 24)) : undefined;
}

/** The bootstrap host leading failure detection now: the one that took over last. */
async function leaderNow(lab: LabState): Promise<string> {
  const times = await Promise.all(BOOTSTRAPS.map(async (b) => [b, lastLeadingAt(await hostLog(lab, b)) ?? 0] as const));
  const [host, at] = times.reduce((best, x) => (x[1] > best[1] ? x : best));
  assert.ok(at > 0, 'one bootstrap leads failure detection');
  return host;
}

/** Waits until every running host (but `unchecked`) has every other running host as a peer and none of `gone`. */
async function converged(lab: LabState, what: string, gone: readonly string[] = [], timeoutMs = 60_000, unchecked: readonly string[] = []): Promise<Map<string, InfoResponse__Output>> {
  const all = running(lab);
  const hosts = all.filter((h) => !unchecked.includes(h));
  const infos = new Map<string, InfoResponse__Output>();
  await waitFor(what, async () => {
    for (const host of hosts) {
      if (infos.has(host)) continue;
      const info = await agentInfo(lab, host);
      const peers = new Set(info?.peers.map((p) => p.node?.name));
      if (info && all.every((h) => h === host || peers.has(h)) && gone.every((g) => !peers.has(g))) infos.set(host, info);
    }
    return infos.size === hosts.length;
  }, timeoutMs, 250);
  return infos;
}

/**
 * Every running host pings every other running host's mesh IP (one host's pings in turn, hosts side
 * by side), each pair until answered or 15 s: a first ping may wait for its WireGuard handshake.
 */
async function allPairsPing(lab: LabState, infos: ReadonlyMap<string, InfoResponse__Output>): Promise<string[]> {
  const hosts = running(lab);
  const failed: string[] = [];
  await Promise.all(hosts.map(async (from) => {
    for (const to of hosts) {
      if (to === from) continue;
      await pingUntil(lab, from, infos.get(to)!.meshIp, 15_000).catch(() => failed.push(`${from}->${to}`));
    }
  }));
  return failed;
}

/** The icmp_seq numbers a continuous ping sent from `firstSeq` up to now (minus two still in flight) that got no answer. */
async function lostSince(run: PingRun, firstSeq: number): Promise<{ sent: number; lost: number[] }> {
  const lastSeq = run.lastSeq - 2;
  await run.stop();
  const lost: number[] = [];
  for (let seq = firstSeq; seq <= lastSeq; seq++) if (!run.answered.has(seq)) lost.push(seq);
  return { sent: lastSeq - firstSeq + 1, lost };
}

/** One Mesh call from inside `host` (test/tools/mesh-call.ts): its status code and details or response. */
async function meshCall(lab: LabState, host: string, address: string, method: string, request: object): Promise<{ code: string; details?: string; response?: Record<string, unknown> }> {
  const result = await hostExec(lab, host, [...testToolCommand('mesh-call.ts'), address, method, JSON.stringify(request)], { timeoutMs: 30_000 });
  assert.equal(result.code, 0, `mesh-call in ${host}: ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').pop()!) as { code: string; details?: string; response?: Record<string, unknown> };
}

/** etcd's members/ and ips/ keys of the mesh, read with etcdctl inside the lab. */
async function etcdAllocations(lab: LabState): Promise<{ members: Map<string, string>; ips: Map<string, string> }> {
  const read = async (what: string) => {
    const r = await labEtcdctl(lab, ['get', '--prefix', `/wgmesh/${MESH}/${what}/`], 15_000);
    assert.equal(r.code, 0, `etcdctl get ${what}: ${r.stderr}`);
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    const pairs: [string, string][] = [];
    for (let i = 0; i + 1 < lines.length; i += 2) pairs.push([lines[i]!.slice(`/wgmesh/${MESH}/${what}/`.length), lines[i + 1]!]);
    return pairs;
  };
  const members = new Map((await read('members')).map(([name, json]) => [name, (JSON.parse(json) as { meshIp: string }).meshIp]));
  const ips = new Map(await read('ips'));
  return { members, ips };
}

describe('three bootstraps sharing one mesh through a real etcd cluster', { skip: skip ?? false }, () => {
  let lab: LabState;
  let pingRun: PingRun | undefined;

  before(async () => {
    await labDown({ name: LAB });
    lab = (await labUp({ name: LAB, hosts: 3, bootstraps: 3, mesh: MESH, cidr: CIDR, underlay: UNDERLAY, wgmeshCommand: e2eWgmeshCommand(), readyTimeoutMs: 90_000 })).lab;
  });

  after(async () => {
    await pingRun?.stop();
    await labDown({ name: LAB });
  });

  test('12 agents joining at once, spread over the three bootstraps: no two share an address, all 15 nodes ping each other', async (t) => {
    const added = await labAdd({ name: LAB, count: 12, wait: false });
    lab = added.lab;
    const infos = await converged(lab, 'all 15 nodes to see the 14 others', [], 120_000);
    const ips = [...infos.values()].map((i) => i.meshIp);
    assert.equal(new Set(ips).size, 15, `15 different mesh IPs: ${ips.join(' ')}`);
    // Where each agent started is its name's place in the list (spreadIndex); it is still there.
    const byBootstrap = new Map<string, string[]>();
    for (const host of agentsOf(lab)) {
      const expected = addressOf(lab, BOOTSTRAPS[spreadIndex(host, BOOTSTRAPS.length)]!);
      assert.equal(infos.get(host)!.bootstrapAddr, expected, `${host} talks to the bootstrap its name picks`);
      byBootstrap.set(expected, [...(byBootstrap.get(expected) ?? []), host]);
    }
    t.diagnostic(`agents per bootstrap: ${[...byBootstrap].map(([b, hs]) => `${b}: ${hs.join(' ')}`).join('; ')}`);
    assert.equal(byBootstrap.size, 3, 'every bootstrap took joins');
    const failed = await allPairsPing(lab, infos);
    assert.deepEqual(failed, [], 'every pair of the 15 nodes pings');
    const { members, ips: ipKeys } = await etcdAllocations(lab);
    assert.equal(members.size, 15);
    assert.deepEqual([...ipKeys].sort(), [...members].map(([name, ip]) => [ip, name] as [string, string]).sort(), 'one address key per member, naming it');
  });

  test(`kill -9 of the bootstrap that runs failure detection: its agents are on another within ${MOVE_BUDGET_MS / 1000} s, another leads within ${TAKEOVER_BUDGET_MS / 1000} s and marks a silent node failed, a join and a leave after it reach every node, no ping between agents lost`, async (t) => {
    const victim = await leaderNow(lab);
    const victimAddr = addressOf(lab, victim);
    const infos = await converged(lab, 'the mesh before the kill');
    const moved = agentsOf(lab).filter((h) => infos.get(h)!.bootstrapAddr === victimAddr);
    assert.ok(moved.length > 0, `some agent talks to ${victim}`);
    const stays = agentsOf(lab).find((h) => !moved.includes(h))!;
    // A ping between an agent of the killed bootstrap and one of another.
    pingRun = startPing(lab, moved[0]!, infos.get(stays)!.meshIp, 0.2);
    await waitFor('the continuous ping to be answered', () => pingRun!.answered.size > 0, 10_000, 20);
    const firstSeq = pingRun.lastSeq + 1;

    const killed = await labKillNode(LAB, victim, { signal: 'SIGKILL' });
    lab = killed.lab;
    const onAnother = await firstTimes(lab, moved, `be connected to another bootstrap than ${victim}`, (i) => i.connected && i.bootstrapAddr !== victimAddr && i.bootstrapAddr !== '', killed.signalledMs, 30_000, 100);
    t.diagnostic(`moved off ${victim} after ${moved.map((h) => `${h} ${onAnother.get(h)} ms`).join(', ')}`);
    assert.deepEqual(moved.filter((h) => onAnother.get(h)! > MOVE_BUDGET_MS), [], `every agent of ${victim} on another bootstrap within ${MOVE_BUDGET_MS} ms`);

    // Another bootstrap takes over failure detection: it says so in its log, and judges a node that went silent.
    const takeover = await waitFor('another bootstrap to take over failure detection', async () => {
      for (const b of BOOTSTRAPS.filter((h) => h !== victim)) {
        const at = lastLeadingAt(await hostLog(lab, b));
        if (at !== undefined && at > killed.signalledMs) return { host: b, ms: at - killed.signalledMs };
      }
      return undefined;
    }, 30_000, 250);
    t.diagnostic(`${takeover.host} leads failure detection ${takeover.ms} ms after ${victim} was killed`);
    assert.ok(takeover.ms <= TAKEOVER_BUDGET_MS, `taken over within ${TAKEOVER_BUDGET_MS} ms`);
    const silent = agentsOf(lab).find((h) => h !== moved[0] && h !== stays)!;
    const silenced = await labKillNode(LAB, silent, { signal: 'SIGKILL' });
    lab = silenced.lab;
    const silencedAt = silenced.signalledMs;
    const failedSeen = await firstTimes(lab, agentsOf(lab), `show ${silent} failed`, (i) => peerStatus(i, silent) === 'NODE_STATUS_FAILED', silencedAt, 40_000, 250);
    t.diagnostic(`${silent} killed silently: failed on every agent after ${Math.max(...failedSeen.values())} ms`);

    const joined = await labAdd({ name: LAB, count: 1, wait: false });
    lab = joined.lab;
    const leaver = agentsOf(lab).find((h) => h !== moved[0] && h !== stays && h !== silent && h !== joined.hosts[0]!.name)!;
    lab = (await labKillNode(LAB, leaver, { signal: 'SIGTERM' })).lab;
    await converged(lab, `every node to see ${joined.hosts[0]!.name} and not ${leaver}`, [leaver]);
    // The ping covers at least the 5 s after the kill, whatever came faster.
    const run = pingRun;
    await waitFor('the ping to run 5 s past the kill', () => run.lastSeq - firstSeq >= 25, 20_000, 100);

    const { sent, lost } = await lostSince(pingRun, firstSeq);
    pingRun = undefined;
    t.diagnostic(`${sent} pings from ${moved[0]} to ${stays} across the kill, ${lost.length} lost`);
    assert.ok(sent >= 20, `the ping ran (${sent} sent)`);
    assert.deepEqual(lost, [], 'no ping lost');
    lab = (await labStartNode(LAB, victim, { wait: false })).lab;
    await converged(lab, `${victim} back`);
  });

  test('one bootstrap cut off from etcd refuses joins with UNAVAILABLE saying etcd is unreachable, its agents move to the others, and it serves again with etcd back', async (t) => {
    const victim = 'h3';
    const victimAddr = addressOf(lab, victim);
    const infos = await converged(lab, 'the mesh before the cut');
    const moved = agentsOf(lab).filter((h) => infos.get(h)!.bootstrapAddr === victimAddr);
    assert.ok(moved.length > 0, `some agent talks to ${victim}`);
    const asker = agentsOf(lab)[0]!;
    const rule = ['OUTPUT', '-p', 'tcp', '--dport', '2379', '-j', 'DROP'];
    const cut = await hostExec(lab, victim, ['iptables', '-I', ...rule]);
    assert.equal(cut.code, 0, cut.stderr);
    const cutMs = Date.now();
    try {
      const request = { meshName: MESH, nodeName: 'probe-cut', publicKey: generateKeyPair().publicKey, listenPort: 51820 };
      const refused = await waitFor('a join through the cut-off bootstrap to be refused as UNAVAILABLE', async () => {
        const r = await meshCall(lab, asker, victimAddr, 'Join', request);
        assert.notEqual(r.code, 'OK', 'the cut-off bootstrap must not allocate');
        return r.code === 'UNAVAILABLE' ? r : undefined;
      }, 20_000, 250);
      t.diagnostic(`refused ${Date.now() - cutMs} ms after the cut: ${refused.details}`);
      assert.match(refused.details ?? '', /etcd is unreachable/);
      const onAnother = await firstTimes(lab, moved, `leave ${victim}`, (i) => i.connected && i.bootstrapAddr !== victimAddr, cutMs, 30_000, 200);
      t.diagnostic(`agents of ${victim} moved after ${moved.map((h) => `${h} ${onAnother.get(h)} ms`).join(', ')}`);
      assert.match(await hostLog(lab, victim), /Watch streams go on from what this bootstrap last saw, which may be stale/);
      // The others still serve: a node joins through the mesh as usual.
      const joined = await labAdd({ name: LAB, count: 1, wait: false });
      lab = joined.lab;
      // The cut-off bootstrap's own node follows what its table last saw, so it is not asked.
      await converged(lab, `${joined.hosts[0]!.name} seen by every node but ${victim}`, [], 60_000, [victim]);
      assert.equal((await etcdAllocations(lab)).members.has('probe-cut'), false, 'no member from the refused join');
    } finally {
      await hostExec(lab, victim, ['iptables', '-D', ...rule]);
    }
    const probeKey = generateKeyPair().publicKey;
    const served = await waitFor('the bootstrap to serve joins again', async () => {
      const r = await meshCall(lab, asker, victimAddr, 'Join', { meshName: MESH, nodeName: 'probe-back', publicKey: probeKey, listenPort: 51820 });
      return r.code === 'OK' ? r.response! : undefined;
    }, 30_000, 500);
    const left = await meshCall(lab, asker, victimAddr, 'Leave', { meshName: MESH, nodeName: 'probe-back', publicKey: probeKey, nodeSecret: served.nodeSecret });
    assert.equal(left.code, 'OK', JSON.stringify(left));
    await converged(lab, 'every node, the cut-off bootstrap included, to agree again', ['probe-back']);
  });

  test(`every bootstrap down for ${OUTAGE_MS / 1000} s: no ping lost, and everything resumes when one returns`, async (t) => {
    const infos = await converged(lab, 'the mesh before the outage');
    const [from, to] = agentsOf(lab);
    pingRun = startPing(lab, from!, infos.get(to!)!.meshIp, 0.2);
    await waitFor('the continuous ping to be answered', () => pingRun!.answered.size > 0, 10_000, 20);
    const firstSeq = pingRun.lastSeq + 1;
    let downAt = 0;
    for (const b of BOOTSTRAPS) {
      const killed = await labKillNode(LAB, b, { signal: 'SIGKILL' });
      lab = killed.lab;
      downAt = killed.signalledMs;
    }
    await waitFor(`${OUTAGE_MS / 1000} s with no bootstrap`, () => Date.now() - downAt >= OUTAGE_MS, OUTAGE_MS + 5_000, 250);
    const back = await labStartNode(LAB, 'h1', { wait: false });
    lab = back.lab;
    const agents = agentsOf(lab);
    const reconnected = await firstTimes(lab, agents, 'be connected again', (i) => i.connected, back.host.process!.startedMs, 60_000, 200);
    t.diagnostic(`reconnected after h1's restart: ${agents.map((h) => `${h} ${reconnected.get(h)} ms`).join(', ')}`);
    const joined = await labAdd({ name: LAB, count: 1, wait: false });
    lab = joined.lab;
    await converged(lab, `${joined.hosts[0]!.name}, joined through the one bootstrap back, seen by every running node`);
    const { sent, lost } = await lostSince(pingRun, firstSeq);
    pingRun = undefined;
    t.diagnostic(`${sent} pings from ${from} to ${to} through the outage, ${lost.length} lost`);
    assert.ok(sent >= (OUTAGE_MS / 1000 / 0.2) * 0.9, `the ping ran through the outage (${sent} sent)`);
    assert.deepEqual(lost, [], 'no ping lost');
    for (const b of ['h2', 'h3']) lab = (await labStartNode(LAB, b, { wait: false })).lab;
    await converged(lab, 'all bootstraps back');
  });

  test('kill -9 of the etcd leader during 10 concurrent joins: each completes with a unique address, refusals say why, no allocation lost', async (t) => {
    // Room on two cores: most agents leave first.
    for (const host of agentsOf(lab).slice(3)) lab = (await labKillNode(LAB, host, { signal: 'SIGTERM' })).lab;
    await converged(lab, 'the smaller mesh', []);
    const leader = await etcdLeader(lab);
    assert.ok(leader?.process, 'the etcd cluster has a leader with a PID');
    const added = await labAdd({ name: LAB, count: 10, wait: false });
    lab = added.lab;
    // Killed once the first of the ten is answered: the others are starting or in flight.
    await waitFor('the first of the 10 joins to be answered', async () => {
      for (const h of added.hosts) if ((await hostLog(lab, h.name)).includes('joined the mesh')) return true;
      return false;
    }, 60_000, 50);
    process.kill(leader.process.pid, 'SIGKILL');
    const killedAt = Date.now();
    const infos = await converged(lab, 'the 10 new nodes joined and seen by every node', [], 120_000);
    t.diagnostic(`etcd leader ${leader.name} killed; every node converged ${Date.now() - killedAt} ms later`);
    const newIps = added.hosts.map((h) => infos.get(h.name)!.meshIp);
    assert.equal(new Set([...infos.values()].map((i) => i.meshIp)).size, infos.size, 'no two nodes share an address');
    const { members, ips } = await etcdAllocations(lab);
    for (const h of added.hosts) assert.equal(members.get(h.name), infos.get(h.name)!.meshIp, `${h.name}'s address in etcd is the one it uses`);
    assert.deepEqual([...ips].sort(), [...members].map(([name, ip]) => [ip, name] as [string, string]).sort(), 'exactly one address key per member: none lost, none orphaned');
    const refusals: string[] = [];
    const joinedAt: number[] = [];
    for (const h of added.hosts) {
      const lines = (await hostLog(lab, h.name)).split('\n');
      for (const line of lines.filter((l) => /bootstrap unreachable, retrying/.test(l))) refusals.push(`${h.name}: ${line}`);
      const joined = lines.find((l) => l.includes('joined the mesh'));
      if (joined) joinedAt.push(Date.parse(joined.slice(0, 24)));
    }
    t.diagnostic(`new addresses ${newIps.join(' ')}; the last join answered ${Math.max(...joinedAt) - killedAt} ms after the kill; ` +
      `${refusals.length} join attempts refused or unanswered meanwhile, each then joined on retry`);
    assert.equal(joinedAt.length, 10, 'every new node logged its join');
    assert.ok(Math.min(...joinedAt) <= killedAt && Math.max(...joinedAt) > killedAt, 'the etcd leader died between the first join answered and the last');
    assert.deepEqual(refusals.filter((r) => !/etcd is unreachable|UNAVAILABLE|DEADLINE_EXCEEDED|ECONNREFUSED|ABORTED/.test(r)), [], 'every refusal said why');
  });
});
