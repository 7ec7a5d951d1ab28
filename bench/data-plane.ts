/**
 * Data-plane benchmark: real wgmesh nodes with real WireGuard (wireguard-go) in the lab's network
 * namespaces, beside a hand-configured wireguard-go pair. Not a test: prints figures.
 *
 *   node --conditions=source --import tsx data-plane.ts [--out FILE] [--json FILE]
 *   node --conditions=source --import tsx data-plane.ts --cleanup     # remove what a crashed run left
 *
 * stdout: the markdown section for bench/results.md; stderr: progress as JSON lines.
 * Needs root and a built CLI (`make build`): the lab runs packages/cli/bin/wgmesh.js.
 *
 * Figures:
 * - join → full reachability: an 8-host lab (bootstrap + 6 joins up first); each round adds a
 *   fresh host (`labAdd`, which spawns `wgmesh join` and records the spawn time) while the host
 *   of the previous round is stopped, so the mesh always has 8 live nodes. Measured from the
 *   spawn until the new host has had a ping reply from every other live host's mesh IP.
 * - agent RSS: VmRSS of every join node's process (wireguard-go is a separate process, shown apart).
 * - RTT and throughput between two lab hosts' mesh IPs, and the same for the hand pair,
 *   alternated (wgmesh, pair, wgmesh, pair, …) in one run.
 */
import { stat } from 'node:fs/promises';
import { join as joinPath } from 'node:path';
import { cpus } from 'node:os';
import {
  hostCommand,
  isRunning,
  labAdd,
  labDown,
  labKillNode,
  labUp,
  NodeNotRunning,
  netnsPath,
  runningHosts,
  type LabHost,
  type LabState,
} from '@wgmesh/cli/lab';
import {
  Aborted,
  checkAborted,
  descendants,
  exec,
  hasRouteVia,
  hasTcpTo,
  isAborted,
  listensOn,
  median,
  memoryDetail,
  type MemoryDetail,
  procNetTcpAddress,
  readText,
  removeEmptyRecord,
  rssMb,
  sleep,
  startDaemon,
  stopDaemon,
  runBenchPart,
  stopRecordedDaemons,
  childrenOf,
  envInt,
  reportPart,
} from './dp-sys.js';
import { deletePairNamespaces, WgPair } from './wg-pair.js';


export const DATA_PLANE_SETTINGS = {
  lab: process.env.BENCH_DP_LAB ?? 'wgb',
  mesh: 'bench',
  hosts: envInt('BENCH_DP_HOSTS', 8),
  joinRounds: envInt('BENCH_DP_JOIN_ROUNDS', 5),
  abRounds: envInt('BENCH_DP_AB_ROUNDS', 3),
  iperfSeconds: envInt('BENCH_DP_IPERF_SECONDS', 5),
  pingCount: 50,
  joinDeadlineMs: 30_000,
};

export const TARGETS = {
  joinMedianS: 1.0,
  agentRssMb: 80,
  /** wgmesh within this fraction of the hand-configured pair (RTT no more than 10% higher, throughput no more than 10% lower). */
  withinFraction: 0.1,
};

// ---------------------------------------------------------------------------------------------
// Results

/** Milliseconds after the spawn of `wgmesh join` (undefined: not observed). */
export interface JoinMarks {
  /** The node wrote its new private key (state dir): node started, modules loaded, local socket claimed, WireGuard backend detected. */
  keyWritten?: number;
  /** A TCP socket to the bootstrap's join service appears in the host (first dial). */
  dial?: number;
  /** Log: "WireGuard backend detected" (before the key is written and the join RPC). */
  backend?: number;
  /** Log: "joined the mesh" (the Join RPC answered and its answer saved). */
  joined?: number;
  /** A setpriv/wireguard-go child of the node appears. */
  wgSpawned?: number;
  /** Log: "wireguard-go started" (its UAPI socket answers). */
  wgReady?: number;
  /** A route through the WireGuard interface appears (address set, link up). */
  route?: number;
  /** Log: first "wireguard reconciled" (peers written to the device). */
  peersSet?: number;
  firstReply?: number;
  lastReply?: number;
}

export interface JoinRound {
  readonly round: number;
  readonly host: string;
  readonly pid: number;
  /** Spawn → every other live host answered a ping; NaN when the deadline passed. */
  readonly totalMs: number;
  readonly targets: number;
  readonly marks: JoinMarks;
  /** VmRSS of the new node right after it reached everyone. */
  readonly rssAtReachMb?: number;
  readonly error?: string;
}

export interface RssSample {
  readonly host: string;
  readonly role: string;
  /** VmRSS of the wgmesh process. */
  readonly agentMb: number;
  readonly agent: MemoryDetail;
  readonly wireguardGoMb?: number;
  /** Seconds since the node was spawned. */
  readonly ageS: number;
}

/**
 * wgmesh: between two lab hosts' mesh IPs. hand: the hand-configured pair on its own veth (the
 * reference of the targets). handLab: a second hand-configured wireguard-go pair inside the same
 * two lab hosts, over the lab's bridge: same underlay as wgmesh, so it separates what the
 * topology costs from what wgmesh costs.
 */
export type PathName = 'wgmesh' | 'hand' | 'handLab';

export interface AbSample {
  readonly round: number;
  readonly path: PathName;
  readonly rttMs: number;
  readonly rttLost: number;
  readonly gbps: number;
  readonly retransmits?: number;
  readonly error?: string;
}

export interface DataPlaneResults {
  readonly startedIso: string;
  readonly durationS: number;
  readonly settings: typeof DATA_PLANE_SETTINGS;
  readonly join: JoinRound[];
  /** Right after the join rounds. */
  readonly rss: RssSample[];
  /** At the end of the run (after the RTT/throughput rounds): the steady state the target is checked against. */
  readonly rssEnd: RssSample[];
  /** VmRSS of the hand-configured pairs' wireguard-go at the end (same traffic as wgmesh's h2/h3 had). */
  readonly pairWireguardGoMb: { readonly pair: string; readonly mb: number }[];
  readonly ab: AbSample[];
  readonly abHosts: readonly [string, string];
  /** /proc/loadavg at the start and the end of the run: other work on the machine shows here. */
  readonly loadavg: readonly [string, string];
}

function progress(event: Record<string, unknown>): void {
  process.stderr.write(JSON.stringify({ bench: 'data-plane', t: new Date().toISOString(), ...event }) + '\n');
}

// ---------------------------------------------------------------------------------------------
// Teardown: one idempotent function, reached from the normal path, errors and signals alike.

let pair: WgPair | undefined;
let labPair: WgPair | undefined;
let tearingDown: Promise<void> | undefined;

export function teardown(): Promise<void> {
  tearingDown ??= (async () => {
    const name = DATA_PLANE_SETTINGS.lab;
    const problems: string[] = [];
    for (const p of [labPair, pair]) {
      try {
        await p?.down();
      } catch (err) {
        problems.push(`pair: ${(err as Error).message}`);
      }
    }
    pair = undefined;
    labPair = undefined;
    try {
      // Whatever of ours is still recorded (e.g. an iperf3 server) stops before the lab goes.
      await stopRecordedDaemons((d, how) => progress({ teardown: `${how} ${d.label} (PID ${d.pid})` }));
    } catch (err) {
      problems.push(`daemons: ${(err as Error).message}`);
    }
    try {
      // Joins that a round stopped are gone already; the lab stops the rest (and their wireguard-go).
      const report = await labDown({ name, onProgress: (message) => progress({ teardown: message }) });
      if (report.strays.length > 0) problems.push(`lab: processes the lab did not start were inside it: ${report.strays.join(', ')}`);
    } catch (err) {
      problems.push(`lab: ${(err as Error).message}`);
    }
    try {
      await deletePairNamespaces(WgPair.namespaces());
    } catch (err) {
      problems.push(`pair namespaces: ${(err as Error).message}`);
    }
    await removeEmptyRecord().catch(() => {});
    if (problems.length > 0) progress({ teardown: 'incomplete', problems });
    else progress({ teardown: 'done' });
  })();
  return tearingDown;
}

/** What an earlier, crashed run may have left: its recorded daemons, the pair's namespaces, the lab. */
export async function cleanupStale(): Promise<void> {
  await stopRecordedDaemons((d, how) => progress({ stale: `${how} ${d.label} (PID ${d.pid})` }));
  await removeEmptyRecord().catch(() => {});
  const removed = await deletePairNamespaces(WgPair.namespaces());
  if (removed.length > 0) progress({ stale: `deleted namespaces ${removed.join(', ')}` });
  const report = await labDown({ name: DATA_PLANE_SETTINGS.lab });
  if (report.existed) progress({ stale: `removed lab ${DATA_PLANE_SETTINGS.lab}`, netns: report.netns.length });
}

// ---------------------------------------------------------------------------------------------
// Join → reachability

const LOG_EVENTS: [keyof JoinMarks, RegExp][] = [
  ['backend', /^WireGuard backend detected/],
  ['joined', /^joined the mesh/],
  ['wgReady', /^wireguard-go started/],
  ['peersSet', /^wireguard reconciled/],
];

/** First time of each known event in the log of the node's latest start (winston lines: ISO time, level, [component], message). */
export function parseLogMarks(log: string, t0: number): JoinMarks {
  const start = log.lastIndexOf('\n--- ');
  const section = start >= 0 ? log.slice(start + 1) : log;
  const marks: JoinMarks = {};
  for (const line of section.split('\n')) {
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) \S+ (?:\[[^\]]*\] )?(.*)$/.exec(line);
    if (!m) continue;
    for (const [key, pattern] of LOG_EVENTS) {
      if (marks[key] === undefined && pattern.test(m[2]!)) marks[key] = Date.parse(m[1]!) - t0;
    }
  }
  return marks;
}

/** Pings `ip` from the host until a reply (a packet every 20 ms), or the deadline; returns the reply time or NaN. */
async function pingUntilReply(lab: LabState, host: string, ip: string, deadlineMs: number): Promise<number> {
  for (;;) {
    const remaining = deadlineMs - Date.now();
    if (remaining <= 0) return Number.NaN;
    checkAborted();
    // -c 1 with -w: keep sending every -i until one reply arrives (or the deadline).
    const r = await exec(hostCommand(lab, host, ['ping', '-n', '-q', '-c', '1', '-i', '0.02', '-w', String(Math.max(1, Math.ceil(remaining / 1000))), ip]), {
      timeoutMs: remaining + 2_000,
    });
    if (r.code === 0) return r.endMs;
    await sleep(20);
  }
}

/** Watches a starting node through /proc (no process spawned): first dial, wireguard-go child, WireGuard route. */
function watchStart(pid: number, t0: number, iface: string, bootstrapRemote: string, marks: JoinMarks, deadlineMs: number): { stop(): void; routed: Promise<boolean> } {
  let stopped = false;
  const routed = (async () => {
    while (!stopped && Date.now() < deadlineMs) {
      if (marks.dial === undefined && (await hasTcpTo(pid, bootstrapRemote))) marks.dial = Date.now() - t0;
      if (marks.wgSpawned === undefined) {
        for (const child of await childrenOf(pid)) {
          const comm = (await readText(`/proc/${child}/comm`))?.trim();
          if (comm === 'setpriv' || comm === 'wireguard-go') marks.wgSpawned = Date.now() - t0;
        }
      }
      if (marks.route === undefined && (await hasRouteVia(pid, iface))) {
        marks.route = Date.now() - t0;
        return true;
      }
      if (!(await readText(`/proc/${pid}/stat`))) return false;
      await sleep(5);
    }
    return false;
  })();
  return { stop: () => void (stopped = true), routed };
}

/** Stops the node of a host the benchmark added (the lab also stops its wireguard-go should it outlive the node). */
async function stopJoinHost(host: LabHost): Promise<void> {
  try {
    await labKillNode(DATA_PLANE_SETTINGS.lab, host.name, { timeoutMs: 10_000 });
  } catch (err) {
    // A node that failed its round may have exited already.
    if (!(err instanceof NodeNotRunning)) throw err;
  }
}

export async function joinRound(round: number, previous: LabHost | undefined, meshIps: Map<string, string>): Promise<{ lab: LabState; host: LabHost; result: JoinRound }> {
  const s = DATA_PLANE_SETTINGS;
  if (previous) {
    await stopJoinHost(previous);
    // Let the departure reach every node and the machine go quiet before the next spawn.
    await sleep(1_000);
  }
  checkAborted();
  const { lab, host } = await labAdd({ name: s.lab, wait: false });
  const proc = host.process!;
  const t0 = proc.startedMs;
  const deadline = t0 + s.joinDeadlineMs;
  const marks: JoinMarks = {};
  const bootstrap = lab.hosts.find((h) => h.role === 'bootstrap')!;
  const watch = watchStart(proc.pid, t0, `wg${lab.mesh}`, procNetTcpAddress(bootstrap.underlayIp, lab.bootstrapPort), marks, deadline);
  const targets = (await runningHosts(lab)).filter((h) => h.name !== host.name && meshIps.has(h.name));
  let error: string | undefined;
  let totalMs = Number.NaN;
  let rssAtReachMb: number | undefined;
  try {
    // Pings start once the interface has its route: before that they fail at once and would only
    // burn CPU the starting node needs.
    if (!(await watch.routed)) {
      if (isAborted()) throw new Error('aborted');
      const running = await isRunning(proc);
      const tail = ((await readText(host.logFile)) ?? '').trimEnd().split('\n').slice(-6).join(' ⏎ ');
      throw new Error(`${running ? `no route through wg${lab.mesh} within ${s.joinDeadlineMs} ms` : `the node exited after ${Date.now() - t0} ms`}; last log lines: ${tail}`);
    }
    const replies = await Promise.all(targets.map((t) => pingUntilReply(lab, host.name, meshIps.get(t.name)!, deadline)));
    const missing = targets.filter((_, i) => Number.isNaN(replies[i]!)).map((t) => t.name);
    const ok = replies.filter((r) => !Number.isNaN(r));
    if (ok.length > 0) {
      marks.firstReply = Math.min(...ok) - t0;
      marks.lastReply = Math.max(...ok) - t0;
    }
    if (missing.length > 0) throw new Error(`no ping reply within ${s.joinDeadlineMs} ms from ${missing.join(', ')}`);
    totalMs = marks.lastReply!;
    rssAtReachMb = await rssMb(proc.pid);
  } catch (err) {
    if (err instanceof Aborted) throw err;
    error = (err as Error).message;
  } finally {
    watch.stop();
  }
  const logMarks = parseLogMarks((await readText(host.logFile)) ?? '', t0);
  try {
    // The lab binds the host's state directory over the node's; the key is its first write there.
    logMarks.keyWritten = (await stat(joinPath(host.stateDir, lab.mesh, 'private.key'))).mtimeMs - t0;
  } catch {
    // No key: the node failed before writing it.
  }
  const result: JoinRound = {
    round, host: host.name, pid: proc.pid, totalMs, targets: targets.length,
    marks: { ...logMarks, ...marks },
    ...(rssAtReachMb !== undefined ? { rssAtReachMb } : {}),
    ...(error ? { error } : {}),
  };
  return { lab, host, result };
}

// ---------------------------------------------------------------------------------------------
// RSS

async function measureRss(lab: LabState): Promise<RssSample[]> {
  const samples: RssSample[] = [];
  for (const h of await runningHosts(lab)) {
    const agent = await memoryDetail(h.process!.pid);
    if (agent === undefined) continue;
    const wg = (await descendants(h.process!.pid)).filter((d) => d.comm === 'wireguard-go');
    const wgMb = wg.length > 0 ? await rssMb(wg[0]!.pid) : undefined;
    samples.push({ host: h.name, role: h.role, agentMb: agent.rssMb, agent, ...(wgMb !== undefined ? { wireguardGoMb: wgMb } : {}), ageS: (Date.now() - h.process!.startedMs) / 1000 });
  }
  return samples;
}

// ---------------------------------------------------------------------------------------------
// RTT and throughput

interface PathSpec {
  readonly path: PathName;
  /** argv of a command run at the client end / the server end. */
  readonly client: (cmd: readonly string[]) => string[];
  readonly server: (cmd: readonly string[]) => string[];
  readonly serverIp: string;
}

async function measureRtt(spec: PathSpec): Promise<{ rttMs: number; lost: number }> {
  const n = DATA_PLANE_SETTINGS.pingCount;
  const r = await exec(spec.client(['ping', '-n', '-c', String(n), '-i', '0.02', '-W', '1', spec.serverIp]), { timeoutMs: 30_000 });
  const times = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  return { rttMs: median(times), lost: n - times.length };
}

const IPERF_PORT = 5201;

async function measureThroughput(spec: PathSpec): Promise<{ gbps: number; retransmits?: number }> {
  const seconds = DATA_PLANE_SETTINGS.iperfSeconds;
  const server = await startDaemon(spec.server(['iperf3', '-s', '-1', '-B', spec.serverIp, '-p', String(IPERF_PORT)]), `iperf3 server (${spec.path})`);
  try {
    const deadline = Date.now() + 5_000;
    while (!(await listensOn(server.pid, IPERF_PORT))) {
      if (Date.now() > deadline) throw new Error('iperf3 server did not listen within 5 s');
      await sleep(10);
    }
    // -O 1: the first second (slow start) is left out of the figure.
    const r = await exec(spec.client(['iperf3', '-c', spec.serverIp, '-p', String(IPERF_PORT), '-t', String(seconds), '-O', '1', '-J']), {
      timeoutMs: (seconds + 30) * 1000,
    });
    let parsed: { end?: { sum_received?: { bits_per_second?: number }; sum_sent?: { retransmits?: number } }; error?: string };
    try {
      parsed = JSON.parse(r.stdout) as typeof parsed;
    } catch {
      throw new Error(`iperf3 client: exit ${r.code}: ${r.stderr.trim() || r.stdout.slice(0, 200)}`);
    }
    if (parsed.error || parsed.end?.sum_received?.bits_per_second === undefined) throw new Error(`iperf3 client: ${parsed.error ?? 'no result'}`);
    const retransmits = parsed.end.sum_sent?.retransmits;
    return { gbps: parsed.end.sum_received.bits_per_second / 1e9, ...(retransmits !== undefined ? { retransmits } : {}) };
  } finally {
    await stopDaemon(server, 2_000);
  }
}

async function measurePath(spec: PathSpec, round: number): Promise<AbSample> {
  try {
    const { rttMs, lost } = await measureRtt(spec);
    const { gbps, retransmits } = await measureThroughput(spec);
    return { round, path: spec.path, rttMs, rttLost: lost, gbps, ...(retransmits !== undefined ? { retransmits } : {}) };
  } catch (err) {
    if (err instanceof Aborted) throw err;
    return { round, path: spec.path, rttMs: Number.NaN, rttLost: 0, gbps: Number.NaN, error: (err as Error).message };
  }
}

async function warmUp(spec: PathSpec): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const r = await exec(spec.client(['ping', '-n', '-q', '-c', '1', '-W', '1', spec.serverIp]), { timeoutMs: 5_000 });
    if (r.code === 0) return;
    await sleep(100);
  }
  throw new Error(`${spec.path}: no ping reply from ${spec.serverIp} within 15 s`);
}

// ---------------------------------------------------------------------------------------------
// The run

export async function runDataPlane(): Promise<DataPlaneResults> {
  const s = DATA_PLANE_SETTINGS;
  const startedMs = Date.now();
  const join: JoinRound[] = [];
  const ab: AbSample[] = [];
  let rss: RssSample[] = [];
  let rssEnd: RssSample[] = [];
  let labForRss: LabState | undefined;
  const pairWireguardGoMb: { pair: string; mb: number }[] = [];
  const abHosts = ['h2', 'h3'] as const;
  const loadStart = ((await readText('/proc/loadavg')) ?? '').split(' ').slice(0, 3).join(' ');
  try {
    await cleanupStale();
    progress({ step: 'lab up', lab: s.lab, hosts: s.hosts - 1 });
    let lab = (await labUp({ name: s.lab, hosts: s.hosts - 1, mesh: s.mesh, logLevel: 'debug', readyTimeoutMs: 60_000, onProgress: (message) => progress({ lab: message }) })).lab;
    const meshIps = new Map(lab.hosts.filter((h) => h.meshIp).map((h) => [h.name, h.meshIp!]));

    let previous: LabHost | undefined;
    for (let round = 1; round <= s.joinRounds; round++) {
      const r = await joinRound(round, previous, meshIps);
      lab = r.lab;
      previous = r.host;
      join.push(r.result);
      progress({ step: 'join', ...r.result });
    }
    // The last round's node stays: the lab has its 8 live nodes for the rest.
    await sleep(2_000);
    rss = await measureRss(lab);
    labForRss = lab;
    progress({ step: 'rss', rss });

    pair = await WgPair.up();
    progress({ step: 'hand pair up', wireguardGo: pair.daemonPids });
    const [ha, hb] = abHosts;
    const labLive = lab;
    const wgmesh: PathSpec = {
      path: 'wgmesh',
      client: (cmd) => hostCommand(labLive, ha, cmd),
      server: (cmd) => hostCommand(labLive, hb, cmd),
      serverIp: meshIps.get(hb)!,
    };
    const p = pair;
    const hand: PathSpec = { path: 'hand', client: (cmd) => p.netnsCommand(0, cmd), server: (cmd) => p.netnsCommand(1, cmd), serverIp: p.overlayIp(1) };
    const [la, lb] = [ha, hb].map((n) => lab.hosts.find((h) => h.name === n)!);
    labPair = await WgPair.up({
      existing: { netnsPaths: [netnsPath(la!.netns), netnsPath(lb!.netns)], underlayIps: [la!.underlayIp, lb!.underlayIp] },
      iface: 'wgh0',
      overlay: ['198.19.1.1', '198.19.1.2'],
      listenPort: 51821,
    });
    const lp = labPair;
    const handLab: PathSpec = { path: 'handLab', client: (cmd) => lp.netnsCommand(0, cmd), server: (cmd) => lp.netnsCommand(1, cmd), serverIp: lp.overlayIp(1) };
    const specs = [wgmesh, hand, handLab];
    for (const spec of specs) await warmUp(spec);
    for (let round = 1; round <= s.abRounds; round++) {
      for (const spec of specs) {
        const sample = await measurePath(spec, round);
        ab.push(sample);
        progress({ step: 'ab', ...sample });
      }
    }
    rssEnd = await measureRss(labForRss);
    for (const [name, pr] of [['own veth', pair], ['in the lab hosts', labPair]] as const) {
      for (const pid of pr?.daemonPids ?? []) {
        const mb = await rssMb(pid);
        if (mb !== undefined) pairWireguardGoMb.push({ pair: name, mb });
      }
    }
    progress({ step: 'rss at the end', rss: rssEnd });
  } finally {
    await teardown();
  }
  const loadEnd = ((await readText('/proc/loadavg')) ?? '').split(' ').slice(0, 3).join(' ');
  return { startedIso: new Date(startedMs).toISOString(), durationS: (Date.now() - startedMs) / 1000, settings: s, join, rss, rssEnd, pairWireguardGoMb, ab, abHosts, loadavg: [loadStart, loadEnd] };
}

// ---------------------------------------------------------------------------------------------
// Markdown

const fmt = (v: number | undefined, digits: number): string => (v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits));
const met = (ok: boolean | undefined): string => (ok === undefined ? 'not measured' : ok ? '**met**' : '**not met**');

export interface DataPlaneSummary {
  joinMedianS: number;
  joinOk: number;
  agentRssMedianMb: number;
  rttWgmeshMs: number;
  rttHandMs: number;
  rttHandLabMs: number;
  gbpsWgmesh: number;
  gbpsHand: number;
  gbpsHandLab: number;
}

export function summarize(r: DataPlaneResults): DataPlaneSummary {
  const pathMedian = (path: string, key: 'rttMs' | 'gbps') => median(r.ab.filter((a) => a.path === path).map((a) => a[key]));
  // A round that failed counts as infinitely slow, so failures cannot improve the median.
  const joins = r.join.map((j) => (Number.isFinite(j.totalMs) ? j.totalMs : Number.POSITIVE_INFINITY));
  return {
    joinMedianS: r.join.length > 0 ? medianWithInfinity(joins) / 1000 : Number.NaN,
    joinOk: r.join.filter((j) => Number.isFinite(j.totalMs)).length,
    agentRssMedianMb: median(r.rssEnd.filter((x) => x.role === 'join').map((x) => x.agentMb)),
    rttWgmeshMs: pathMedian('wgmesh', 'rttMs'),
    rttHandMs: pathMedian('hand', 'rttMs'),
    rttHandLabMs: pathMedian('handLab', 'rttMs'),
    gbpsWgmesh: pathMedian('wgmesh', 'gbps'),
    gbpsHand: pathMedian('hand', 'gbps'),
    gbpsHandLab: pathMedian('handLab', 'gbps'),
  };
}

function medianWithInfinity(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

export function formatDataPlaneSection(r: DataPlaneResults): string {
  const s = r.settings;
  const sum = summarize(r);
  // The targets compare against the hand pair on the same underlay path as wgmesh (inside lab
  // hosts, over the lab's bridge): a pair on a bare veth also measures the bridge it skips.
  const rttRatio = sum.rttWgmeshMs / sum.rttHandLabMs;
  const gbpsRatio = sum.gbpsWgmesh / sum.gbpsHandLab;
  const fin = (x: number) => Number.isFinite(x);
  const joinMet = r.join.length > 0 ? sum.joinMedianS <= TARGETS.joinMedianS : undefined;
  const rssMet = fin(sum.agentRssMedianMb) ? sum.agentRssMedianMb <= TARGETS.agentRssMb : undefined;
  const rttMet = fin(rttRatio) ? rttRatio <= 1 + TARGETS.withinFraction : undefined;
  const gbpsMet = fin(gbpsRatio) ? gbpsRatio >= 1 - TARGETS.withinFraction : undefined;
  const joinHosts = r.rssEnd.filter((x) => x.role === 'join');
  const boot = r.rssEnd.find((x) => x.role === 'bootstrap');
  const ages = joinHosts.map((x) => x.ageS);
  const rssAfterRounds = median(r.rss.filter((x) => x.role === 'join').map((x) => x.agentMb));
  const L: string[] = [];
  L.push('## Data plane (real WireGuard: wireguard-go in network namespaces)', '');
  L.push(
    `Lab \`${s.lab}\`: ${s.hosts} live hosts (network + mount namespace each, one bridge), bootstrap on h1, \`wgmesh join -dev\` on the others, ` +
      `built CLI, log level debug. Hand-configured pair: two namespaces joined by a veth, one \`wireguard-go\` each configured with \`wg set\`/\`ip\` ` +
      `(MTU 1420 like wgmesh). ${s.abRounds} rounds each, alternated (wgmesh, pair, reference, wgmesh, …); each figure is the median of the rounds' values; ` +
      `RTT per round = median of ${s.pingCount} pings at 20 ms intervals; throughput = \`iperf3 -t ${s.iperfSeconds} -O 1\`, one TCP stream, received rate. ` +
      `${cpus().length} CPUs shared by both ends, both wireguard-go and everything else running on the machine (load average ${r.loadavg[0]} at the start, ${r.loadavg[1]} at the end).`,
    '',
  );
  L.push('| figure | result | target | status |', '|---|---|---|---|');
  L.push(`| join → full reachability (median of ${r.join.length}${sum.joinOk < r.join.length ? `, ${r.join.length - sum.joinOk} failed` : ''}) | ${fmt(sum.joinMedianS, 2)} s | ≤ ${TARGETS.joinMedianS.toFixed(1)} s | ${met(joinMet)} |`);
  const rssAtReach = median(r.join.map((j) => j.rssAtReachMb ?? Number.NaN));
  L.push(
    `| agent RSS after joining (VmRSS, median of ${joinHosts.length} join nodes at the end of the run, ${fmt(Math.min(...ages), 0)}–${fmt(Math.max(...ages), 0)} s after their start) | ${fmt(sum.agentRssMedianMb, 1)} MB ` +
      `(earlier: ${fmt(rssAfterRounds, 1)} MB 2 s after the join rounds; ${fmt(rssAtReach, 1)} MB for a new node the moment it reached everyone, median of ${r.join.length}) | ≤ ${TARGETS.agentRssMb} MB | ${met(rssMet)} |`,
  );
  L.push(`| overlay ping RTT, wgmesh ${r.abHosts[0]}→${r.abHosts[1]} / hand-configured pair on the same path | ${fmt(sum.rttWgmeshMs, 3)} / ${fmt(sum.rttHandLabMs, 3)} ms (×${fmt(rttRatio, 3)}) | ≤ ×${(1 + TARGETS.withinFraction).toFixed(2)} of the pair | ${met(rttMet)} |`);
  L.push(`| overlay TCP throughput, wgmesh / hand-configured pair on the same path | ${fmt(sum.gbpsWgmesh, 2)} / ${fmt(sum.gbpsHandLab, 2)} Gbit/s (×${fmt(gbpsRatio, 3)}) | ≥ ×${(1 - TARGETS.withinFraction).toFixed(2)} of the pair | ${met(gbpsMet)} |`);
  L.push(
    '',
    `The hand-configured pair of the targets runs inside lab hosts ${r.abHosts[0]} and ${r.abHosts[1]}, over the same veths and bridge as wgmesh, so the ratio is wgmesh's own overhead. ` +
      `For scale, a pair on one bare veth (no bridge): RTT ${fmt(sum.rttHandMs, 3)} ms (wgmesh ×${fmt(sum.rttWgmeshMs / sum.rttHandMs, 3)}), ` +
      `throughput ${fmt(sum.gbpsHand, 2)} Gbit/s (wgmesh ×${fmt(sum.gbpsWgmesh / sum.gbpsHand, 3)}): the difference is the lab's bridge path, not wgmesh.`,
    '',
  );

  L.push('### Join → full reachability, per round', '');
  L.push(
    'Milliseconds after the spawn of `wgmesh join` (`labAdd` records the time just before it). Each round adds a fresh host and stops the previous round\'s, so the mesh has ' +
      `${s.hosts} live nodes every time; "reached all" = a ping reply from each of the other live hosts (one \`ping -c 1 -i 0.02 -w …\` per target, in parallel, started once the interface has its route).`,
    '',
  );
  const cols: [keyof JoinMarks, string][] = [
    ['backend', 'backend detected'],
    ['keyWritten', 'key written'],
    ['dial', 'dials bootstrap'],
    ['joined', 'joined (RPC)'],
    ['wgSpawned', 'wireguard-go spawned'],
    ['wgReady', 'wireguard-go answers'],
    ['route', 'interface up'],
    ['peersSet', 'peers set'],
    ['firstReply', 'first reply'],
    ['lastReply', 'reached all'],
  ];
  L.push(`| round | host | ${cols.map((c) => c[1]).join(' | ')} | RSS at reach (MB) |`, `|---|---|${cols.map(() => '---:').join('|')}|---:|`);
  for (const j of r.join) {
    L.push(`| ${j.round} | ${j.host} | ${cols.map(([k]) => fmt(j.marks[k], 0)).join(' | ')} | ${fmt(j.rssAtReachMb, 1)} |`);
  }
  L.push(`| median | | ${cols.map(([k]) => fmt(median(r.join.map((j) => j.marks[k] ?? Number.NaN)), 0)).join(' | ')} | ${fmt(median(r.join.map((j) => j.rssAtReachMb ?? Number.NaN)), 1)} |`);
  for (const j of r.join.filter((x) => x.error)) L.push('', `Round ${j.round} (${j.host}) failed: ${j.error}`);
  L.push('');

  L.push('### Memory', '');
  L.push(
    'VmRSS counts shared file-backed pages too (the node binary and libraries, mapped by every node process); RssAnon is the process\'s own memory, PSS divides shared pages among the processes that map them.',
    '',
  );
  L.push(
    '| host | role | VmRSS after the join rounds (MB) | age then (s) | VmRSS at the end (MB) | age then (s) | RssAnon (MB) | RssFile (MB) | PSS (MB) | its wireguard-go VmRSS (MB) |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const x of r.rssEnd) {
    const before = r.rss.find((y) => y.host === x.host);
    L.push(`| ${x.host} | ${x.role} | ${fmt(before?.agentMb, 1)} | ${fmt(before?.ageS, 0)} | ${fmt(x.agentMb, 1)} | ${fmt(x.ageS, 0)} | ${fmt(x.agent.rssAnonMb, 1)} | ${fmt(x.agent.rssFileMb, 1)} | ${fmt(x.agent.pssMb, 1)} | ${fmt(x.wireguardGoMb, 1)} |`);
  }
  const joinsOnly = r.rssEnd.filter((x) => x.role === 'join');
  L.push(`| median of joins | | ${fmt(rssAfterRounds, 1)} | | ${fmt(median(joinsOnly.map((x) => x.agentMb)), 1)} | | ${fmt(median(joinsOnly.map((x) => x.agent.rssAnonMb)), 1)} | ${fmt(median(joinsOnly.map((x) => x.agent.rssFileMb)), 1)} | ${fmt(median(joinsOnly.map((x) => x.agent.pssMb ?? Number.NaN)), 1)} | ${fmt(median(joinsOnly.map((x) => x.wireguardGoMb ?? Number.NaN)), 1)} |`);
  if (boot) L.push('', `The bootstrap (h1) is a join service plus an agent; the target applies to join nodes.`);
  if (r.pairWireguardGoMb.length > 0) {
    L.push(
      '',
      `wireguard-go grows with traffic (its packet buffers): the hand-configured pairs' wireguard-go, after the same iperf3 runs as ${r.abHosts.join('/')}: ` +
        r.pairWireguardGoMb.map((x) => `${fmt(x.mb, 1)} MB (${x.pair})`).join(', ') + '.',
    );
  }
  L.push('');

  L.push('### RTT and throughput, per round (alternated)', '');
  L.push('| round | path | RTT median (ms) | pings lost | throughput (Gbit/s) | TCP retransmits |', '|---|---|---:|---:|---:|---:|');
  for (const a of r.ab) {
    const label = a.path === 'wgmesh' ? `wgmesh ${r.abHosts[0]}→${r.abHosts[1]}` : a.path === 'hand' ? 'hand pair (own veth)' : `hand pair in ${r.abHosts[0]}/${r.abHosts[1]} (lab bridge)`;
    L.push(`| ${a.round} | ${label} | ${fmt(a.rttMs, 3)} | ${a.rttLost} | ${fmt(a.gbps, 2)} | ${a.retransmits ?? '—'} |`);
  }
  for (const a of r.ab.filter((x) => x.error)) L.push('', `Round ${a.round} (${a.path}) failed: ${a.error}`);
  L.push('', `Data-plane run: ${r.durationS.toFixed(0)} s.`, '');
  return L.join('\n');
}

// ---------------------------------------------------------------------------------------------
// CLI

async function run(argv: readonly string[]): Promise<number> {
  const results = await runDataPlane();
  return reportPart(argv, results, formatDataPlaneSection(results), summarize(results));
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/data-plane.ts')) {
  runBenchPart({ name: 'data-plane', progress, cleanupStale, teardown, run }, process.argv.slice(2));
}
