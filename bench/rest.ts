/**
 * A mesh at rest: what wgmesh costs when nothing happens, beside Nebula in the same lab and run.
 * Not a test: prints figures.
 *
 *   node --conditions=source --import tsx rest.ts [--out FILE] [--json FILE]
 *   node --conditions=source --import tsx rest.ts --cleanup     # remove what a killed run left
 *
 * stdout: the markdown section for bench/results.md; stderr: progress as JSON lines.
 *
 * The lab and both systems are bench/startup.ts's (its hosts-only lab, wgmesh with the lab's own
 * command lines, Nebula 1.6 with a lighthouse on h1): both meshes of 8 come up side by side, wgmesh
 * settles (every node probes every peer at the rest cadence, after the new peers' warm-up), stays
 * at rest BENCH_REST_SETTLE_S seconds (30: the end of the start, below), then for BENCH_REST_WINDOW_S
 * seconds (60) nothing is asked of either. Per host, over that window:
 * - CPU (utime + stime, /proc/PID/stat) of the wgmesh node process, of its wireguard-go, and of
 *   Nebula, as a share of one core;
 * - wake-ups: voluntary context switches of all the process's threads (/proc/PID/task/…/status);
 * - packets the host sends on its underlay interface (iptables counters in its namespace): UDP to
 *   each peer (WireGuard), UDP from Nebula's port, TCP (wgmesh's control plane: gRPC to the
 *   bootstrap). Nebula's lighthouse traffic goes over its UDP port, so its figure includes it.
 * Then the simulated node with 200 peers (test/helpers/rest-sim.ts) is measured in a child process,
 * with its timer callbacks by part.
 *
 * The settle: a node whose peers went to the rest cadence a moment ago is still finishing its
 * start. In a profile of a fresh lab node 30-53 s after its start, protobufjs was still generating
 * the codecs of messages used for the first time, and V8 compiles and collects start-up garbage on
 * its helper threads then; a restarted lab node (2026-12-02, idle machine, its threads' schedstat)
 * read 2.0 % of a core in its first 20 s, 0.48 % from 20 to 40 s, and 0.12-0.18 % in every 20-s
 * part from 40 s to 240 s. BENCH_REST_SETTLE_S=0 measures from the moment every peer is at the
 * rest cadence, as the first runs did.
 *
 * Environment: BENCH_REST_WINDOW_S (60), BENCH_REST_SETTLE_S (30), BENCH_REST_SIM_WINDOW_S (30), BENCH_STARTUP_LAB (wgbs:
 * the lab is startup.ts's; the parts run one after the other).
 */
import { hostCommand, type LabState } from '@wgmesh/cli/lab';
import type { InfoResponse__Output } from '@wgmesh/agent';
import { installCounters, packetsBetween, processTreeCost, readCounters, removeCounters, costBetween, type ProcessCost, type UnderlayPackets } from '@wgmesh/test/helpers/idle';
import { measureRestingNode, type RestingNodeFigures } from '@wgmesh/test/helpers/rest-sim';
import { checkAborted, descendants, envInt, exec, readText, reportPart, runBenchPart, sleep } from './dp-sys.js';
import { bringUp, cleanupStale, freshLab, makeNebulaPki, nebula, teardown, wgmesh, type MeshNode } from './startup.js';

/** A whole number of seconds from the environment, 0 allowed (envInt takes only positive ones). */
function envSeconds(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return process.env[name] !== undefined && process.env[name] !== '' && Number.isInteger(v) && v >= 0 ? v : fallback;
}

export const REST_SETTINGS = {
  hosts: 8,
  windowS: envInt('BENCH_REST_WINDOW_S', 60),
  /** At rest this long after settling, before the window (see above). */
  settleS: envSeconds('BENCH_REST_SETTLE_S', 30),
  simWindowS: envInt('BENCH_REST_SIM_WINDOW_S', 30),
  simPeers: 200,
  /** The rest cadence a settled node reports for every peer (RTT_REST_DEFAULTS.restIntervalMs). */
  restProbeEveryMs: 30_000,
  settleTimeoutMs: 180_000,
};

export const REST_TARGETS = {
  /** wgmesh node process, share of one core. */
  nodeCpu: 0.003,
  /** node + wireguard-go at most this many times Nebula's node. */
  ratioToNebula: 3,
  packetsPerPeerPerS: 0.2,
  simCpu: 0.01,
};

function progress(event: Record<string, unknown>): void {
  process.stderr.write(JSON.stringify({ part: 'rest', at: new Date().toISOString(), ...event }) + '\n');
}

export interface HostFigures {
  readonly host: string;
  readonly first: boolean;
  readonly node: ProcessCost;
  readonly wireguardGo: ProcessCost | undefined;
  readonly nebula: ProcessCost;
  readonly packets: UnderlayPackets;
  readonly peers: number;
}

export interface RestResults {
  readonly startedIso: string;
  readonly seconds: number;
  /** At rest this long before the window began. */
  readonly settleS: number;
  readonly hosts: HostFigures[];
  readonly sim: (Omit<RestingNodeFigures, 'timerCallbacks'> & { timerCallbacks: Record<string, number> }) | undefined;
  readonly loadavg: [string, string];
  readonly error?: string;
}

const loadavg = async () => ((await readText('/proc/loadavg')) ?? '').split(' ').slice(0, 3).join(' ');

async function wgmeshInfo(lab: LabState, host: string): Promise<InfoResponse__Output | undefined> {
  // `info` asks the node's Info (not its Watch): it does not make the node probe faster.
  const r = await exec(hostCommand(lab, host, ['wgmesh', 'info', '-json']), { timeoutMs: 10_000 });
  if (r.code !== 0) return undefined;
  try {
    return JSON.parse(r.stdout) as InfoResponse__Output;
  } catch {
    return undefined;
  }
}

/** Until every wgmesh node has had a handshake with every peer and probes each at the rest cadence. */
async function waitSettled(lab: LabState): Promise<void> {
  const deadline = Date.now() + REST_SETTINGS.settleTimeoutMs;
  const pending = new Set(lab.hosts.map((h) => h.name));
  while (pending.size > 0) {
    checkAborted();
    if (Date.now() > deadline) throw new Error(`wgmesh did not settle within ${REST_SETTINGS.settleTimeoutMs / 1000} s: ${[...pending].join(', ')}`);
    for (const host of [...pending]) {
      const info = await wgmeshInfo(lab, host);
      const settled = info && info.peers.length === lab.hosts.length - 1
        && info.peers.every((p) => Number(p.latestHandshakeMs) > 0 && p.rttProbeEveryMs === REST_SETTINGS.restProbeEveryMs);
      if (settled) pending.delete(host);
    }
    if (pending.size > 0) await sleep(2_000);
  }
}

interface Watched {
  readonly host: string;
  readonly first: boolean;
  readonly nodePid: number;
  readonly wgPid: number | undefined;
  readonly nebulaPid: number;
  readonly peerIps: string[];
  readonly netns: string;
}

async function sample(w: Watched) {
  return {
    node: await processTreeCost(w.nodePid),
    wg: w.wgPid ? await processTreeCost(w.wgPid) : undefined,
    nebula: await processTreeCost(w.nebulaPid),
    packets: await readCounters(w.netns, w.peerIps),
  };
}

export async function runRest(): Promise<RestResults> {
  const s = REST_SETTINGS;
  const startedMs = Date.now();
  const loadStart = await loadavg();
  const hosts: HostFigures[] = [];
  let sim: RestResults['sim'];
  let error: string | undefined;
  let lab: LabState | undefined;
  let windowSeconds = s.windowS;
  try {
    await cleanupStale();
    await makeNebulaPki(s.hosts);
    lab = await freshLab(s.hosts);
    const nodes: MeshNode[] = [];
    for (const system of [wgmesh, nebula]) {
      const up = await bringUp(system, lab, s.hosts);
      if (up.result.error) throw new Error(`${system.name}: the mesh of ${s.hosts} did not come up: ${up.result.error}`);
      nodes.push(...up.nodes);
      progress({ step: 'mesh up', system: system.name });
    }
    await waitSettled(lab);
    progress({ step: 'settled', restBeforeWindowS: s.settleS });
    await sleep(s.settleS * 1000);
    const watched: Watched[] = [];
    for (const host of lab.hosts) {
      const node = nodes.find((n) => n.system === 'wgmesh' && n.host.name === host.name)!;
      const neb = nodes.find((n) => n.system === 'nebula' && n.host.name === host.name)!;
      const wg = (await descendants(node.daemon.pid)).find((c) => c.comm === 'wireguard-go');
      const peerIps = lab.hosts.filter((h) => h !== host).map((h) => h.underlayIp);
      await installCounters(host.netns, peerIps);
      watched.push({ host: host.name, first: node.first, nodePid: node.daemon.pid, wgPid: wg?.pid, nebulaPid: neb.daemon.pid, peerIps, netns: host.netns });
    }
    const before = await Promise.all(watched.map(sample));
    const t0 = Date.now();
    progress({ step: 'window', seconds: s.windowS });
    await sleep(s.windowS * 1000);
    const after = await Promise.all(watched.map(sample));
    windowSeconds = (Date.now() - t0) / 1000;
    watched.forEach((w, i) => {
      const b = before[i]!;
      const a = after[i]!;
      if (!b.node || !a.node || !b.nebula || !a.nebula) throw new Error(`${w.host}: a node exited during the window`);
      hosts.push({
        host: w.host,
        first: w.first,
        node: costBetween(b.node, a.node),
        wireguardGo: b.wg && a.wg ? costBetween(b.wg, a.wg) : undefined,
        nebula: costBetween(b.nebula, a.nebula),
        packets: packetsBetween(b.packets, a.packets),
        peers: w.peerIps.length,
      });
    });
    for (const w of watched) await removeCounters(w.netns);
    progress({ step: 'lab measured', seconds: windowSeconds });
  } catch (err) {
    error = (err as Error).message;
    progress({ error });
  } finally {
    if (lab) for (const host of lab.hosts) await removeCounters(host.netns).catch(() => {});
    await teardown();
  }
  try {
    const r = await measureRestingNode({ peers: s.simPeers, windowMs: s.simWindowS * 1000, settleMs: 10_000, windows: 5 });
    sim = { ...r, timerCallbacks: Object.fromEntries(r.timerCallbacks) };
    progress({ step: 'sim', ...sim });
  } catch (err) {
    error = [error, `simulated node: ${(err as Error).message}`].filter(Boolean).join('; ');
  }
  return { startedIso: new Date(startedMs).toISOString(), seconds: windowSeconds, settleS: s.settleS, hosts, sim, loadavg: [loadStart, await loadavg()], ...(error ? { error } : {}) };
}

// ---------------------------------------------------------------------------------------------
// The section

const pct = (ms: number, s: number) => (ms / 10 / s).toFixed(2);
const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
const met = (ok: boolean) => (ok ? '**met**' : '**not met**');

export interface RestSummary {
  readonly nodeCpu: number;
  readonly wgCpu: number;
  readonly nebulaCpu: number;
  readonly packetsPerPeerPerS: number;
  readonly simCpu: number | undefined;
}

/** Means over the member nodes (h1, the bootstrap / lighthouse, is shown apart). */
export function summarize(r: RestResults): RestSummary {
  const members = r.hosts.filter((h) => !h.first);
  return {
    nodeCpu: mean(members.map((h) => h.node.cpuMs)) / 1000 / r.seconds,
    wgCpu: mean(members.map((h) => h.wireguardGo?.cpuMs ?? 0)) / 1000 / r.seconds,
    nebulaCpu: mean(members.map((h) => h.nebula.cpuMs)) / 1000 / r.seconds,
    packetsPerPeerPerS: mean(r.hosts.map((h) => [...h.packets.toPeer.values()].reduce((a, b) => a + b, 0) / h.peers)) / r.seconds,
    simCpu: r.sim?.cpuFraction,
  };
}

export function formatRestSection(r: RestResults): string {
  const L: string[] = ['## A mesh at rest (8 nodes, beside Nebula in the same lab)', ''];
  if (r.error) L.push(`**Failed:** ${r.error}`, '');
  const s = r.seconds;
  if (r.hosts.length > 0) {
    const sum = summarize(r);
    L.push(
      `Both meshes up side by side in bench/startup.ts's 8-host lab; wgmesh settled (every peer at the rest cadence), ${r.settleS} s more at rest (BENCH_REST_SETTLE_S: the end of the nodes' start), then ${s.toFixed(0)} s with nothing asked of either.`,
      'CPU is a share of one core; wake-ups are voluntary context switches of all the process\'s threads; packets are what the host sent on its underlay interface.',
      '',
      '| host | wgmesh node CPU % | wake-ups/s | wireguard-go CPU % | wake-ups/s | Nebula CPU % | wake-ups/s | WireGuard packets/s per peer | wgmesh control (TCP) packets/s | Nebula packets/s per peer |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const h of r.hosts) {
      const toPeers = [...h.packets.toPeer.values()].reduce((a, b) => a + b, 0);
      L.push(`| ${h.host}${h.first ? ' (bootstrap / lighthouse)' : ''} | ${pct(h.node.cpuMs, s)} | ${(h.node.wakeups / s).toFixed(1)} | ${h.wireguardGo ? pct(h.wireguardGo.cpuMs, s) : '—'} | ${h.wireguardGo ? (h.wireguardGo.wakeups / s).toFixed(1) : '—'} | ${pct(h.nebula.cpuMs, s)} | ${(h.nebula.wakeups / s).toFixed(1)} | ${(toPeers / h.peers / s).toFixed(3)} | ${(h.packets.control / s).toFixed(2)} | ${(h.packets.nebula / h.peers / s).toFixed(3)} |`);
    }
    const ratio = (sum.nodeCpu + sum.wgCpu) / sum.nebulaCpu;
    L.push(
      '',
      `Members (h2-h8), mean: wgmesh node ${(sum.nodeCpu * 100).toFixed(2)} %, wireguard-go ${(sum.wgCpu * 100).toFixed(2)} %, Nebula ${(sum.nebulaCpu * 100).toFixed(2)} % of a core.`,
      '',
      '| target | measured | |',
      '|---|---:|---|',
      `| wgmesh node process ≤ ${REST_TARGETS.nodeCpu * 100} % of a core | ${(sum.nodeCpu * 100).toFixed(2)} % | ${met(sum.nodeCpu <= REST_TARGETS.nodeCpu)} |`,
      `| node + wireguard-go ≤ ${REST_TARGETS.ratioToNebula}x Nebula's node | ${Number.isFinite(ratio) ? ratio.toFixed(1) : '—'}x | ${met(ratio <= REST_TARGETS.ratioToNebula)} |`,
      `| packets a node sends per peer per second ≤ ${REST_TARGETS.packetsPerPeerPerS} (no NAT here) | ${sum.packetsPerPeerPerS.toFixed(3)} | ${met(sum.packetsPerPeerPerS <= REST_TARGETS.packetsPerPeerPerS)} |`,
      ...(sum.simCpu !== undefined ? [`| simulated node with ${r.sim!.peers} peers ≤ ${REST_TARGETS.simCpu * 100} % of a core | ${(sum.simCpu * 100).toFixed(2)} % | ${met(sum.simCpu <= REST_TARGETS.simCpu)} |`] : []),
    );
  }
  if (r.sim) {
    const fired = Object.values(r.sim.timerCallbacks).reduce((a, b) => a + b, 0);
    L.push(
      '',
      `Simulated node with ${r.sim.peers} peers (the built agent alone in a child process, its prober in rest mode answered by a loopback stand-in, in-memory WireGuard; the bootstrap over gRPC in another child, not counted), ${r.sim.seconds.toFixed(0)} s at rest after 10 s: ${(r.sim.cpuFraction * 100).toFixed(2)} % of a core in its steady state (the lowest of ${r.sim.cpuFractions.length} parts: ${r.sim.cpuFractions.map((f) => (f * 100).toFixed(2)).join(', ')} %; median ${(r.sim.medianCpuFraction * 100).toFixed(2)} %); timer callbacks ${(fired / r.sim.seconds).toFixed(2)}/s, by part: ${Object.entries(r.sim.timerCallbacks).map(([part, n]) => `${part} ${(n / r.sim!.seconds).toFixed(2)}/s`).join(', ')}.`,
    );
  }
  L.push('', `Load average before and after: ${r.loadavg[0]} / ${r.loadavg[1]}.`, '');
  return L.join('\n');
}

async function run(argv: readonly string[]): Promise<number> {
  const results = await runRest();
  const code = await reportPart(argv, { ...results, hosts: results.hosts.map((h) => ({ ...h, packets: { ...h.packets, toPeer: Object.fromEntries(h.packets.toPeer) } })) }, formatRestSection(results), summarize(results));
  return results.error ? 1 : code;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/rest.ts')) {
  runBenchPart({ name: 'rest', progress, cleanupStale, teardown, run }, process.argv.slice(2));
}
