/**
 * A mesh at rest costs almost nothing on the wire. An 8-host lab joins and settles (every node has
 * a handshake with every peer, and probes each of them at the rest cadence); then the packets each
 * host sends on its underlay interface are counted for WINDOW_S seconds (iptables counters in the
 * host's own namespace, by destination). Each node must send its peers at most
 * MAX_PACKETS_PER_PEER_PER_S packets a second per peer (its packets to all of them over the window,
 * per peer and second; there is no NAT in this lab, so no NAT keepalive either). One pair's count
 * over 30 s comes in steps of 1/30 packet a second and is only reported: a probe, WireGuard's
 * keepalive 10 s after its answer, the reply to the peer's probe and a rekey handshake every 2
 * minutes may all fall in one window (0.1-0.17 a second measured). The control plane (TCP to and from the bootstrap: heartbeats every 5 s) is reported, not
 * bounded here. Afterwards, asked once, `wgmesh rtt` answers within 3 s with figures measured after
 * the question: at rest costs nothing, yet the figures are there when wanted.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { labDown, labUp, type LabState } from '@wgmesh/cli/lab';
import { agentInfo, cliRtt, e2eWgmeshCommand, labSkipReason } from '../helpers/lab.js';
import { installCounters, packetsBetween, readCounters, removeCounters, type UnderlayPackets } from '../helpers/idle.js';
import { waitFor } from '../helpers/wait.js';

const LAB = 'wgrest';
const HOSTS = 8;
/** The measured window (the one fixed wait: the measurement itself). */
const WINDOW_S = 30;
/** The bound: packets a node sends each peer per second at rest, outside NAT keepalives. */
const MAX_PACKETS_PER_PEER_PER_S = 0.2;
/** Joins, handshakes and the new peers' fast-probing warm-up (25 s) behind them. */
const SETTLE_TIMEOUT_MS = 120_000;
/** The rest cadence the nodes report for a peer (RTT_REST_DEFAULTS.restIntervalMs). */
const REST_PROBE_EVERY_MS = 30_000;

const skip = await labSkipReason({ wireguard: true });

describe('a mesh at rest', { skip }, () => {
  let lab: LabState;

  before(async () => {
    await labDown({ name: LAB });
    lab = (await labUp({ name: LAB, hosts: HOSTS, mesh: 'rest', wgmeshCommand: e2eWgmeshCommand(), readyTimeoutMs: 60_000 })).lab;
  });

  after(async () => {
    if (lab) for (const host of lab.hosts) await removeCounters(host.netns);
    await labDown({ name: LAB });
  });

  test(`each node sends its peers at most ${MAX_PACKETS_PER_PEER_PER_S} packets a second per peer over ${WINDOW_S} s at rest; wgmesh rtt still answers fresh within 3 s`, { timeout: 300_000 }, async (t) => {
    const names = lab.hosts.map((h) => h.name);
    // Step 1: settled: every node has had a handshake with every peer and probes each at the rest cadence.
    await waitFor('every node to have all its peers at rest', async () => {
      for (const name of names) {
        const info = await agentInfo(lab, name, 5_000);
        if (!info || info.peers.length !== HOSTS - 1) return false;
        if (!info.peers.every((p) => Number(p.latestHandshakeMs) > 0 && p.rttProbeEveryMs === REST_PROBE_EVERY_MS)) return false;
      }
      return true;
    }, SETTLE_TIMEOUT_MS, 1_000);

    // Step 2: the counters, read at the start and the end of the window.
    const peerIps = new Map(lab.hosts.map((h) => [h.name, lab.hosts.filter((p) => p !== h).map((p) => p.underlayIp)]));
    for (const host of lab.hosts) await installCounters(host.netns, peerIps.get(host.name)!);
    const start = new Map<string, UnderlayPackets>();
    for (const host of lab.hosts) start.set(host.name, await readCounters(host.netns, peerIps.get(host.name)!));
    const startedMs = Date.now();
    await delay(WINDOW_S * 1000);
    const seconds = (Date.now() - startedMs) / 1000;
    const sent = new Map<string, UnderlayPackets>();
    for (const host of lab.hosts) sent.set(host.name, packetsBetween(start.get(host.name)!, await readCounters(host.netns, peerIps.get(host.name)!)));

    // Step 3: the figures, then the bound, per host and peer.
    const over: string[] = [];
    for (const host of lab.hosts) {
      const s = sent.get(host.name)!;
      const perPeer = [...s.toPeer.values()].map((n) => n / seconds);
      const worst = Math.max(...perPeer);
      const mean = perPeer.reduce((a, b) => a + b, 0) / perPeer.length;
      t.diagnostic(`${host.name}: to each peer ${mean.toFixed(3)} packets/s on average, at most ${worst.toFixed(3)}; control plane (TCP) ${(s.control / seconds).toFixed(2)}/s; other ${(s.other / seconds).toFixed(2)}/s`);
      if (mean > MAX_PACKETS_PER_PEER_PER_S) over.push(`${host.name}: ${mean.toFixed(3)} packets/s per peer`);
      assert.equal(s.nebula, 0, 'nothing else in the lab sends from Nebula\'s port');
    }
    assert.deepEqual(over, [], `at most ${MAX_PACKETS_PER_PEER_PER_S} packets a second per peer at rest`);

    // Step 4: asked once, the matrix comes within 3 s, every figure measured after the question.
    const askedMs = Date.now();
    const matrix = await cliRtt(lab, 'h2');
    const tookMs = Date.now() - askedMs;
    // The CLI's own start (a Node process) is not the mesh's answer: it is timed apart in the log.
    t.diagnostic(`wgmesh rtt -json on h2 took ${tookMs} ms (CLI start included)`);
    assert.equal(matrix.partial, false);
    assert.equal(matrix.rows.length, HOSTS * (HOSTS - 1), 'every ordered pair has a figure');
    const stale = matrix.rows.filter((r) => Number(r.measuredAtMs) < askedMs);
    assert.deepEqual(stale.map((r) => `${r.from}>${r.to} measured ${askedMs - Number(r.measuredAtMs)} ms before the question`), [], 'every figure measured after the question');
    assert.ok(tookMs < 3_000 + CLI_START_ALLOWANCE_MS, `answered in ${tookMs} ms`);
  });
});

/** A Node CLI process starting on this busy machine (the bundle, gRPC): counted apart from the 3 s. */
const CLI_START_ALLOWANCE_MS = 1_500;
