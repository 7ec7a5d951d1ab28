/**
 * The data plane does not need the bootstrap: pings between two agents lose nothing during a
 * 30 s bootstrap outage, the agents reconnect when it is back, and an agent restarted while the
 * bootstrap is down reaches its peers again within 3 s (from its saved state).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isRunning, labDown, labKillNode, labStartNode, labUp, type LabState } from '@wgmesh/cli/lab';
import { agentInfo, cliInfo, e2eWgmeshCommand, firstReply, firstTimes, labSkipReason, meshIps, pingUntil, startPing, type PingRun } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';

const LAB = 'wgout';
const OUTAGE_MS = 30_000;
const PING_INTERVAL_S = 0.2;
const RECONNECT_BUDGET_MS = 20_000;
const RESTORE_BUDGET_MS = 3_000;
const AGENTS = ['h2', 'h3', 'h4'];
const skip = await labSkipReason({ wireguard: true });

/** Polls until every host reports `connected` as wanted; returns when each first did, in ms after `fromMs`. */
function untilConnected(lab: LabState, hosts: readonly string[], connected: boolean, fromMs: number, timeoutMs: number): Promise<Map<string, number>> {
  return firstTimes(lab, hosts, `report connected: ${connected}`, (info) => info.connected === connected, fromMs, timeoutMs, 100);
}

describe('a bootstrap outage', { skip: skip ?? false }, () => {
  let lab: LabState;
  let ping: PingRun | undefined;

  before(async () => {
    await labDown({ name: LAB });
    lab = (await labUp({ name: LAB, hosts: 4, mesh: 'out', wgmeshCommand: e2eWgmeshCommand(), readyTimeoutMs: 60_000 })).lab;
  });

  after(async () => {
    // Our own ping first: nothing may keep the namespaces busy.
    await ping?.stop();
    await labDown({ name: LAB });
  });

  test(`pings from h2 to h3 every ${PING_INTERVAL_S} s lose nothing while the bootstrap is down for ${OUTAGE_MS / 1000} s`, async (t) => {
    const ip3 = meshIps(lab).get('h3')!;
    // The tunnel is up (handshake done) before the window opens.
    await pingUntil(lab, 'h2', ip3, 15_000);
    ping = startPing(lab, 'h2', ip3, PING_INTERVAL_S);
    await waitFor('the continuous ping to get its first answer', () => ping!.answered.size > 0, 10_000, 20);

    // Every ping sent from here on is checked, up to the agents' reconnection.
    const firstSeq = ping.lastSeq + 1;
    const killed = await labKillNode(LAB, 'h1', { signal: 'SIGTERM' });
    lab = killed.lab;
    // The outage is real: the agents lose their membership stream.
    const noticed = await untilConnected(lab, AGENTS, false, killed.signalledMs, 15_000);
    // The outage itself, watched the whole time: the bootstrap stays down and ping keeps going.
    const run = ping;
    const h1 = killed.host.process!;
    await waitFor(`${OUTAGE_MS / 1000} s of outage`, async () => {
      if (await isRunning(h1)) throw new Error('the bootstrap is running again');
      if (run.exited) throw new Error('ping stopped during the outage');
      return Date.now() - killed.signalledMs >= OUTAGE_MS;
    }, OUTAGE_MS + 5_000, 250);
    const lastSeqInOutage = ping.lastSeq;

    const started = await labStartNode(LAB, 'h1', { wait: false });
    lab = started.lab;
    const reconnected = await untilConnected(lab, AGENTS, true, started.host.process!.startedMs, RECONNECT_BUDGET_MS + 20_000);
    // The last two may still be on their way when ping is stopped.
    const lastSeq = run.lastSeq - 2;
    await run.stop();
    ping = undefined;

    const sent = lastSeq - firstSeq + 1;
    const lost = Array.from({ length: sent }, (_, i) => firstSeq + i).filter((seq) => !run.answered.has(seq));
    t.diagnostic(`icmp_seq ${firstSeq}..${lastSeq} (${sent} pings, the outage ending at ${lastSeqInOutage}) sent, ${lost.length} lost; ` +
      `agents noticed after ${AGENTS.map((h) => `${h} ${noticed.get(h)} ms`).join(', ')}; reconnected after the restart after ${AGENTS.map((h) => `${h} ${reconnected.get(h)} ms`).join(', ')}`);
    assert.ok(lastSeqInOutage - firstSeq + 1 >= (OUTAGE_MS / 1000 / PING_INTERVAL_S) * 0.9, `ping ran through the outage (${lastSeqInOutage - firstSeq + 1} pings sent)`);
    assert.deepEqual(lost, [], 'no ping lost from the bootstrap\'s stop to the agents\' reconnection');
    assert.deepEqual(AGENTS.filter((h) => reconnected.get(h)! > RECONNECT_BUDGET_MS), [], `every agent reconnected within ${RECONNECT_BUDGET_MS / 1000} s`);
    // The same through the CLI: `wgmesh info -json` says connected.
    for (const host of AGENTS) assert.equal((await cliInfo(lab, host)).connected, true, `${host}: wgmesh info -json`);
  });

  test(`an agent restarted while the bootstrap is down pings its peers within ${RESTORE_BUDGET_MS / 1000} s`, async (t) => {
    const ips = meshIps(lab);
    lab = (await labKillNode(LAB, 'h1', { signal: 'SIGKILL' })).lab;
    lab = (await labKillNode(LAB, 'h3', { signal: 'SIGKILL' })).lab;
    const restarted = await labStartNode(LAB, 'h3', { wait: false });
    lab = restarted.lab;
    const startedMs = restarted.host.process!.startedMs;
    const results = await Promise.allSettled(['h2', 'h4'].map(async (to) => ({ to, ms: (await firstReply(lab, 'h3', ips.get(to)!, 20_000)) - startedMs })));
    const reached = results.map((r, i) => (r.status === 'fulfilled' ? r.value : { to: ['h2', 'h4'][i]!, ms: Infinity }));
    const detail = `h3's first answers after its restart: ${reached.map((r) => `from ${r.to} ${r.ms} ms`).join(', ')}`;
    t.diagnostic(detail);
    assert.deepEqual(reached.filter((r) => r.ms > RESTORE_BUDGET_MS), [], detail);

    // And when the bootstrap is back, the restored agent re-joins in the background.
    const back = await labStartNode(LAB, 'h1', { wait: false });
    lab = back.lab;
    const reconnected = await untilConnected(lab, ['h3'], true, back.host.process!.startedMs, RECONNECT_BUDGET_MS + 20_000);
    t.diagnostic(`h3 reconnected ${reconnected.get('h3')} ms after the bootstrap's restart`);
    assert.ok(reconnected.get('h3')! <= RECONNECT_BUDGET_MS);
    assert.equal((await agentInfo(lab, 'h3'))?.meshIp, ips.get('h3'), 'h3 kept its mesh IP');
  });
});
