/**
 * Liveness with real processes: an agent killed with SIGKILL (no Leave) is shown failed by every
 * other node within 15 s with the default thresholds; with a 5 s reap it then disappears from
 * every WireGuard interface within 10 s of being marked failed; restarted, it comes back with the
 * same mesh IP and every node reaches it again within 5 s.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { labDown, labHost, labKillNode, labStartNode, labUp, loadLab, type LabKillResult, type LabState, type ProcessIdentity } from '@wgmesh/cli/lab';
import { agentInfo, childrenOf, cliInfo, e2eWgmeshCommand, expectedWireguardGo, firstReply, firstTimes, hostLog, labSkipReason, leftovers, meshIps, nodeBackend, peerStatus, wgDump } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';

const skip = await labSkipReason({ wireguard: true });
const FAILED = 'NODE_STATUS_FAILED';
/** The issue's bound with the default thresholds (suspect 8 s, failed 12 s, heartbeat 5 s). */
const FAILED_BUDGET_MS = 15_000;
const REAP_BUDGET_MS = 10_000;
const REJOIN_BUDGET_MS = 5_000;
const OTHERS = ['h1', 'h2', 'h3'];

/** When each host first showed `peer` as failed (polled every 50 ms), in ms after `fromMs`. */
function timeUntilFailed(lab: LabState, hosts: readonly string[], peer: string, fromMs: number, timeoutMs: number): Promise<Map<string, number>> {
  return firstTimes(lab, hosts, `show ${peer} as ${FAILED}`, (info) => peerStatus(info, peer) === FAILED, fromMs, timeoutMs, 50);
}

/**
 * The bootstrap's own account of the failure: its text log line (the lab's default format)
 * "TIME warn [bootstrap:liveness] node silent for X s: failed node=H silentMs=N", or undefined.
 */
async function bootstrapFailedLine(lab: LabState, node: string): Promise<string | undefined> {
  const log = await hostLog(lab, 'h1');
  return log.split('\n').find((l) => /: failed\b/.test(l) && new RegExp(`\\bnode=${node}(\\s|$)`).test(l));
}

/** The last lines of the bootstrap's log, for a failure message. */
async function bootstrapLogTail(lab: LabState): Promise<string> {
  return (await hostLog(lab, 'h1')).trimEnd().split('\n').slice(-15).join('\n');
}

/** "wireguard-go 1234 exited with it" for each child of a killed node. */
function describeChildren(killed: LabKillResult): string {
  return killed.children.map((c) => `${c.comm} ${c.pid} ${c.how}`).join(', ') || 'none';
}

describe('an agent killed with SIGKILL, default liveness thresholds', { skip: skip ?? false }, () => {
  const LAB = 'wgfail';
  let lab: LabState;
  /** When h4 was killed (set by the first test). */
  let killedAt = 0;
  /** How long each node took to show it failed (set by the second test). */
  let failure: { seen: Map<string, number>; detail: string } | undefined;

  before(async () => {
    await labDown({ name: LAB });
    lab = (await labUp({ name: LAB, hosts: 4, mesh: 'fail', wgmeshCommand: e2eWgmeshCommand(), readyTimeoutMs: 60_000 })).lab;
  });

  after(async () => {
    await labDown({ name: LAB });
  });

  test('h4 killed just after a heartbeat: its wireguard-go, if it uses one, exits with it (setpriv --pdeathsig), the lab records the stop', async () => {
    // The backend h4 reports (checked against its interface): only with userspace is there a wireguard-go.
    const backend = await nodeBackend(lab, 'h4');
    // The worst moment to die: just after a heartbeat reached the bootstrap, so the silence the
    // liveness monitor waits for starts with the kill. h1 is the bootstrap: its info shows the
    // latest heartbeat of every member as lastSeenMs.
    const lastSeen = async (): Promise<number> => Number((await agentInfo(lab, 'h1'))?.peers.find((p) => p.node?.name === 'h4')?.node?.lastSeenMs ?? 0);
    const previous = await lastSeen();
    await waitFor('a heartbeat from h4 to reach the bootstrap', async () => (await lastSeen()) !== previous, 15_000, 20);
    const killed = await labKillNode(LAB, 'h4', { signal: 'SIGKILL' });
    lab = killed.lab;
    killedAt = killed.signalledMs;
    assert.equal(killed.escalated, false);
    const wgGo = killed.children.filter((c) => c.comm === 'wireguard-go');
    assert.equal(wgGo.length, expectedWireguardGo(backend), `h4 reported backend ${backend}; children: ${describeChildren(killed)}`);
    assert.deepEqual(killed.children.filter((c) => c.how !== 'exited'), [], `every child exited on its own: ${describeChildren(killed)}`);
    const h4 = labHost(await loadLab(LAB), 'h4');
    assert.equal(h4.stopped?.signal, 'SIGKILL');
  });

  test(`every other node shows it ${FAILED} within failed-after (12 s) + one check interval (1 s) of its last heartbeat`, async (t) => {
    assert.ok(killedAt > 0, 'h4 was killed by the previous test');
    // Polled well past the budget, so a miss reports the real time instead of a timeout.
    const seen = await timeUntilFailed(lab, OTHERS, 'h4', killedAt, FAILED_BUDGET_MS + 15_000);
    const h1 = await agentInfo(lab, 'h1');
    const statusChangedMs = Number(h1?.peers.find((p) => p.node?.name === 'h4')?.node?.statusChangedMs ?? 0);
    assert.ok(statusChangedMs > 0, `h1's info has the time h4's status changed: ${JSON.stringify(h1?.peers.find((p) => p.node?.name === 'h4'))}`);
    const markedMs = statusChangedMs - killedAt;
    // Found and parsed before any comparison: a line in another format (-log-format json, a
    // renamed field) would give NaN, and every comparison with NaN is false, so nothing would fail.
    const line = await bootstrapFailedLine(lab, 'h4');
    assert.ok(line !== undefined, `the bootstrap logged "node silent for X s: failed node=h4 silentMs=N"; its log ends:\n${await bootstrapLogTail(lab)}`);
    const silentText = /\bsilentMs=(\d+)(\s|$)/.exec(line)?.[1];
    assert.ok(silentText !== undefined, `silentMs=N in the bootstrap's line: ${line}`);
    const silentMs = Number(silentText);
    // The monitor marks a node failed only once it has been silent for failed-after (12 s).
    assert.ok(silentMs >= 12_000 && silentMs < 12_000 + FAILED_BUDGET_MS, `silentMs=${silentMs} is at least failed-after (12000 ms) and not far past it: ${line}`);
    // The last heartbeat the bootstrap had from h4, relative to the kill (negative: before it).
    const lastBeatMs = markedMs - silentMs;
    failure = {
      seen,
      detail: `shown failed after ${OTHERS.map((h) => `${h} ${seen.get(h)} ms`).join(', ')} (from the kill); the bootstrap marked it at +${markedMs} ms, ` +
        `${silentMs} ms after its last heartbeat (at ${lastBeatMs} ms relative to the kill); bootstrap log: ${line.trim()}`,
    };
    t.diagnostic(failure.detail);
    // The same status through the CLI the issue names.
    for (const host of OTHERS) assert.equal(peerStatus(await cliInfo(lab, host), 'h4'), FAILED, `${host}: wgmesh info -json`);
    // What the monitor promises as configured: failed-after, plus up to one check interval,
    // plus the fan-out to every node (generous 1 s on a loaded 2-core machine).
    const bound = 12_000 + 1_000 + 1_000;
    assert.deepEqual(OTHERS.filter((h) => (seen.get(h) ?? Infinity) - lastBeatMs > bound), [], failure.detail);
  });

  // With the default failed-after of 12 s: an agent killed just after a heartbeat is marked failed
  // 12-13 s after the kill and shown so everywhere right after.
  test(`... and so within ${FAILED_BUDGET_MS / 1000} s of the kill, as the issue asks`, () => {
    assert.ok(failure, 'measured by the previous test');
    assert.deepEqual(OTHERS.filter((h) => (failure!.seen.get(h) ?? Infinity) > FAILED_BUDGET_MS), [], failure.detail);
  });
});

describe('an agent killed with SIGKILL, -reap-after 5s, then restarted', { skip: skip ?? false }, () => {
  const LAB = 'wgreap';
  // reap-after must be at least failed-after; heartbeats every second keep live nodes far from suspect.
  const bootstrapArgs = ['-suspect-after', '2s', '-failed-after', '3s', '-reap-after', '5s'];
  const joinArgs = ['-heartbeat', '1s'];
  let lab: LabState;
  let h4Ip = '';
  let h4Key = '';
  const started: ProcessIdentity[] = [];

  before(async () => {
    await labDown({ name: LAB });
    lab = (await labUp({ name: LAB, hosts: 4, mesh: 'reap', bootstrapArgs, joinArgs, wgmeshCommand: e2eWgmeshCommand(), readyTimeoutMs: 60_000 })).lab;
    h4Ip = meshIps(lab).get('h4')!;
    h4Key = (await wgDump(lab, 'h4')).publicKey;
    for (const h of lab.hosts) if (h.process) started.push(h.process);
    started.push(...(await childrenOf(started.map((p) => p.pid))));
  });

  after(async () => {
    await labDown({ name: LAB });
  });

  test('the nodes run with the extra flags', () => {
    assert.deepEqual(labHost(lab, 'h1').process!.argv.slice(-bootstrapArgs.length), bootstrapArgs);
    for (const h of ['h2', 'h3', 'h4']) assert.deepEqual(labHost(lab, h).process!.argv.slice(-joinArgs.length), joinArgs);
  });

  test(`once marked failed, it is gone from every other host's wg show within ${REAP_BUDGET_MS / 1000} s`, async (t) => {
    const killed = await labKillNode(LAB, 'h4', { signal: 'SIGKILL' });
    lab = killed.lab;
    await timeUntilFailed(lab, ['h1'], 'h4', killed.signalledMs, 20_000).catch(() => undefined);
    // When the bootstrap marked it failed, by its own clock (the same machine's). If the reap
    // already happened before the first poll saw "failed", the bootstrap's log line has the time.
    const h1 = await agentInfo(lab, 'h1');
    let markedAt = Number(h1?.peers.find((p) => p.node?.name === 'h4' && p.node.status === FAILED)?.node?.statusChangedMs ?? 0);
    if (!markedAt) {
      const line = await bootstrapFailedLine(lab, 'h4');
      assert.ok(line !== undefined, `the bootstrap logged h4 failed; its log ends:\n${await bootstrapLogTail(lab)}`);
      markedAt = Date.parse(line.split(' ')[0] ?? '');
    }
    assert.ok(markedAt > 0, `the bootstrap marked h4 failed: ${(await bootstrapFailedLine(lab, 'h4')) ?? '(no "failed" line in its log)'}`);
    const goneAt = new Map<string, number>();
    await Promise.all(
      OTHERS.map((host) =>
        waitFor(`${host} to drop h4 from WireGuard`, async () => {
          const dump = await wgDump(lab, host);
          if (!dump.peers.some((p) => p.publicKey === h4Key)) goneAt.set(host, Date.now() - markedAt);
          return goneAt.has(host);
        }, REAP_BUDGET_MS + 10_000, 50),
      ),
    );
    const detail = `marked failed at +${markedAt - killed.signalledMs} ms after the kill; gone from wg show after ${OTHERS.map((h) => `${h} ${goneAt.get(h)} ms`).join(', ')}`;
    t.diagnostic(detail);
    assert.deepEqual(OTHERS.filter((h) => goneAt.get(h)! > REAP_BUDGET_MS), [], detail);
    // And from the membership: no node lists it any more.
    for (const host of OTHERS) assert.equal(peerStatus((await agentInfo(lab, host))!, 'h4'), undefined, `${host} no longer lists h4`);
  });

  test(`restarted, it has the same mesh IP and every node pings it within ${REJOIN_BUDGET_MS / 1000} s`, async (t) => {
    const restarted = await labStartNode(LAB, 'h4', { wait: false });
    lab = restarted.lab;
    started.push(restarted.host.process!);
    const startedMs = restarted.host.process!.startedMs;
    const pings = await Promise.allSettled(OTHERS.map(async (from) => ({ from, ms: (await firstReply(lab, from, h4Ip, 20_000)) - startedMs })));
    const info = await waitFor('h4 to answer on its local API', () => agentInfo(lab, 'h4'), 10_000, 50);
    assert.equal(info.meshIp, h4Ip, 'h4 keeps its mesh IP');
    for (const host of OTHERS) {
      const listed = (await agentInfo(lab, host))?.peers.find((p) => p.node?.name === 'h4')?.node?.meshIp;
      assert.equal(listed, h4Ip, `${host} lists h4 with its old mesh IP`);
    }
    const reached = pings.map((p, i) => (p.status === 'fulfilled' ? p.value : { from: OTHERS[i]!, ms: Infinity }));
    const detail = `first answers from ${h4Ip} after the restart: ${reached.map((r) => `${r.from} ${r.ms} ms`).join(', ')}`;
    t.diagnostic(detail);
    assert.deepEqual(reached.filter((r) => r.ms > REJOIN_BUDGET_MS), [], detail);
  });

  test('lab down after the kill and the restart leaves nothing behind', async () => {
    const current = await loadLab(LAB);
    const now = current.hosts.flatMap((h) => (h.process ? [h.process] : []));
    const children = await childrenOf(now.map((p) => p.pid));
    const report = await labDown({ name: LAB });
    assert.deepEqual(report.strays, []);
    assert.deepEqual(await leftovers(current, [...started, ...now, ...children]), []);
  });
});
