/**
 * Relay benchmark: RTT and TCP throughput of one pair of real wgmesh nodes, relayed and direct.
 * Not a test: prints figures.
 *
 *   node --conditions=source --import tsx relay.ts            # markdown section on stdout
 *   node --conditions=source --import tsx relay.ts --cleanup  # remove what a killed run left
 *
 * stdout: the markdown section for bench/results.md; stderr: progress as JSON lines.
 * Needs root and a built CLI (`make build`): the lab runs packages/cli/bin/wgmesh.js.
 *
 * The lab: bootstrap h1 on the public segment (it relays, by default), h2 and h3 each behind a
 * `home` NAT router. UDP between the two routers is blocked as soon as the nodes start: the pair
 * goes through h1 and is measured relayed; then unblocked, it goes direct and is measured again.
 * One relayed phase, then one direct phase: a direct pair whose path breaks goes back through the
 * relay only when its probes stop (seconds), and returns to direct at the next handshake, which
 * on a session still valid is its rekey (up to 2 minutes), so alternating would cost minutes.
 */
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { hostCommand, labDown, labUp, localNodeInfo, netnsPath, type LabState } from '@wgmesh/cli/lab';
import {
  Aborted,
  checkAborted,
  exec,
  execOk,
  isAborted,
  median,
  readText,
  removeEmptyRecord,
  sleep,
  runBenchPart,
  stopRecordedDaemons,
  envInt,
  iperf3Once,
} from './dp-sys.js';


export const RELAY_SETTINGS = {
  lab: process.env.BENCH_RELAY_LAB ?? 'wgbr',
  mesh: 'br',
  /** The lab's public segment (TEST-NET-3); the routers' WAN addresses sit at its top. */
  underlay: '203.0.113.0/24',
  /** Rounds per phase; each round: the pair's pings, each relay hop's pings, one iperf3 run. */
  rounds: envInt('BENCH_RELAY_ROUNDS', 3),
  iperfSeconds: envInt('BENCH_RELAY_IPERF_SECONDS', 5),
  pingCount: 50,
  pingIntervalS: 0.05,
  /** How long the pair may take to go through the relay after the joins, and direct after the unblock. */
  switchDeadlineMs: 45_000,
};

export const TARGETS = {
  /** Relayed throughput at least this fraction of direct. */
  throughputFraction: 0.4,
  /** Relayed RTT at most direct RTT plus this many relay hop RTTs. */
  hopRtts: 2,
};

const RELAY = 'h1';
const PAIR = ['h2', 'h3'] as const;

// ---------------------------------------------------------------------------------------------
// Results

export type PathName = 'direct' | 'relayed' | 'hop h2→h1' | 'hop h3→h1';

export interface PingRun {
  readonly path: PathName;
  readonly round: number;
  /** Each answered ping's time=, in ms. */
  readonly times: number[];
  readonly sent: number;
}

export interface IperfRun {
  readonly path: PathName;
  readonly round: number;
  readonly mbps: number;
  readonly retransmits?: number;
  readonly error?: string;
}

export interface RelayResults {
  readonly durationS: number;
  readonly settings: typeof RELAY_SETTINGS;
  readonly pings: PingRun[];
  readonly iperf: IperfRun[];
  /** Bytes h1's relay chain accepted (its ACCEPT rule's counter) during each phase. */
  readonly relayBytes: { readonly relayed?: number; readonly direct?: number };
  /** Joins started → both ends route the pair via h1; unblock → both ends direct. */
  readonly switchMs: { readonly relayed?: number; readonly direct?: number };
  readonly loadavg: readonly [string, string];
  readonly error?: string;
}

function progress(event: Record<string, unknown>): void {
  process.stderr.write(JSON.stringify({ bench: 'relay', t: new Date().toISOString(), ...event }) + '\n');
}

// ---------------------------------------------------------------------------------------------
// Teardown: one idempotent function, reached from the normal path, errors and signals alike.

let tearingDown: Promise<void> | undefined;

export function teardown(): Promise<void> {
  tearingDown ??= (async () => {
    const problems: string[] = [];
    try {
      await stopRecordedDaemons((d, how) => progress({ teardown: `${how} ${d.label} (PID ${d.pid})` }));
    } catch (err) {
      problems.push(`daemons: ${(err as Error).message}`);
    }
    try {
      // The routers' block rules live in the routers' namespaces and go with them.
      const report = await labDown({ name: RELAY_SETTINGS.lab, onProgress: (message) => progress({ teardown: message }) });
      if (report.strays.length > 0) problems.push(`lab: processes the lab did not start were inside it: ${report.strays.join(', ')}`);
    } catch (err) {
      problems.push(`lab: ${(err as Error).message}`);
    }
    await removeEmptyRecord().catch(() => {});
    if (problems.length > 0) progress({ teardown: 'incomplete', problems });
    else progress({ teardown: 'done' });
  })();
  return tearingDown;
}

export async function cleanupStale(): Promise<void> {
  await stopRecordedDaemons((d, how) => progress({ stale: `${how} ${d.label} (PID ${d.pid})` }));
  await removeEmptyRecord().catch(() => {});
  const report = await labDown({ name: RELAY_SETTINGS.lab });
  if (report.existed) progress({ stale: `removed lab ${RELAY_SETTINGS.lab}`, netns: report.netns.length });
}

// ---------------------------------------------------------------------------------------------
// The lab: routers, paths, counters

function routerOf(lab: LabState, host: string): NonNullable<LabState['routers']>[number] {
  const router = lab.routers?.find((r) => r.hosts.includes(host));
  if (!router) throw new Error(`lab ${lab.name}: ${host} is behind no NAT router`);
  return router;
}

/** Drops (or, with `undo`, stops dropping) UDP between the two routers' WAN addresses, in both routers' FORWARD chains, ahead of their own rules. */
async function udpBetweenRouters(lab: LabState, undo: boolean): Promise<void> {
  const routers = PAIR.map((h) => routerOf(lab, h));
  for (const [router, other] of [[routers[0]!, routers[1]!], [routers[1]!, routers[0]!]] as const) {
    const inRouter = (args: string[]) => ['nsenter', `--net=${netnsPath(router.netns)}`, '--', router.iptables, '-w', ...args];
    for (const rule of [['-p', 'udp', '-d', `${other.wanIp}/32`, '-j', 'DROP'], ['-p', 'udp', '-s', `${other.wanIp}/32`, '-j', 'DROP']]) {
      if (!undo) await execOk(inRouter(['-I', 'FORWARD', '1', ...rule]));
      else {
        // -D removes one copy at a time; repeat until none is left.
        while ((await exec(inRouter(['-D', 'FORWARD', ...rule]), { timeoutMs: 5_000 })).code === 0) {
          // removed one
        }
      }
    }
  }
}

/** `via` of each end for the other ('' direct), and each end's last handshake on the other's own peer entry (0: never). */
async function pairPaths(lab: LabState): Promise<{ via: (string | undefined)[]; handshakeS: number[] } | undefined> {
  const infos = await Promise.all(PAIR.map((h) => localNodeInfo(lab, h)));
  if (infos.some((i) => !i)) return undefined;
  const via: (string | undefined)[] = [];
  const handshakeS: number[] = [];
  for (const [i, host] of PAIR.entries()) {
    const peer = infos[i]!.peers.find((p) => p.node?.name === PAIR[1 - i]);
    via.push(peer?.via);
    const out = peer?.node ? await exec(hostCommand(lab, host, ['wg', 'show', `wg${lab.mesh}`, 'latest-handshakes']), { timeoutMs: 5_000 }) : undefined;
    const line = out?.stdout.split('\n').find((l) => l.startsWith(`${peer!.node!.publicKey}\t`));
    handshakeS.push(Number(line?.split('\t')[1] ?? 0));
  }
  return { via, handshakeS };
}

async function waitForPath(lab: LabState, want: 'relayed' | 'direct', sinceMs: number): Promise<number> {
  const deadline = sinceMs + RELAY_SETTINGS.switchDeadlineMs;
  let last: Awaited<ReturnType<typeof pairPaths>>;
  for (;;) {
    checkAborted();
    last = await pairPaths(lab);
    const now = Date.now();
    if (last) {
      const ok = want === 'relayed'
        ? last.via.every((v) => v === RELAY)
        : last.via.every((v) => v === '') && last.handshakeS.every((t) => t > 0 && now / 1000 - t < 180);
      if (ok) return now - sinceMs;
    }
    if (now > deadline) break;
    await sleep(200);
  }
  throw new Error(`h2/h3 not ${want} within ${RELAY_SETTINGS.switchDeadlineMs / 1000} s: via ${JSON.stringify(last?.via)}, direct handshakes ${JSON.stringify(last?.handshakeS)}`);
}

/** Bytes accepted by h1's relay chain (the mesh-to-mesh ACCEPT rule), read from iptables' counter. */
async function relayedBytes(lab: LabState): Promise<number> {
  const out = await execOk(hostCommand(lab, RELAY, ['iptables', '-w', '-L', `WGMESH-RELAY-wg${lab.mesh}`, '-n', '-v', '-x']));
  return [...out.matchAll(/^\s*\d+\s+(\d+)\s+ACCEPT\b/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

async function meshIpOf(lab: LabState, host: string): Promise<string> {
  for (let i = 0; i < 300; i++) {
    checkAborted();
    const ip = (await localNodeInfo(lab, host))?.meshIp;
    if (ip) return ip;
    await sleep(200);
  }
  throw new Error(`${host} reported no mesh IP within 60 s`);
}

// ---------------------------------------------------------------------------------------------
// Measurements

async function pingRun(lab: LabState, from: string, ip: string, path: PathName, round: number): Promise<PingRun> {
  const s = RELAY_SETTINGS;
  const r = await exec(hostCommand(lab, from, ['ping', '-n', '-c', String(s.pingCount), '-i', String(s.pingIntervalS), '-W', '1', ip]), { timeoutMs: 30_000 });
  const times = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  return { path, round, times, sent: s.pingCount };
}

const IPERF_PORT = 5202;

async function iperfRun(lab: LabState, serverIp: string, path: PathName, round: number): Promise<IperfRun> {
  try {
    const result = await iperf3Once((argv) => hostCommand(lab, PAIR[1], argv), (argv) => hostCommand(lab, PAIR[0], argv), serverIp, IPERF_PORT, RELAY_SETTINGS.iperfSeconds, `iperf3 server (${path})`);
    return { path, round, ...result };
  } catch (err) {
    if (err instanceof Aborted) throw err;
    return { path, round, mbps: Number.NaN, error: (err as Error).message };
  }
}

// ---------------------------------------------------------------------------------------------
// The run

export async function runRelay(): Promise<RelayResults> {
  const s = RELAY_SETTINGS;
  const startedMs = Date.now();
  const pings: PingRun[] = [];
  const iperf: IperfRun[] = [];
  const relayBytes: { relayed?: number; direct?: number } = {};
  const switchMs: { relayed?: number; direct?: number } = {};
  const loadStart = ((await readText('/proc/loadavg')) ?? '').split(' ').slice(0, 3).join(' ');
  let error: string | undefined;
  try {
    await cleanupStale();
    progress({ step: 'lab up', lab: s.lab, nat: PAIR, natStyle: 'home' });
    const { lab } = await labUp({
      name: s.lab, hosts: 3, underlay: s.underlay, mesh: s.mesh, nat: [...PAIR], natStyle: 'home', wait: false,
      readyTimeoutMs: 60_000, onProgress: (message) => progress({ lab: message }),
    });
    // Blocked before the joins' first WireGuard packet (a join takes over a second to get there; checked below).
    await udpBetweenRouters(lab, false);
    const joinsMs = Math.max(...PAIR.map((h) => lab.hosts.find((x) => x.name === h)!.process!.startedMs));
    const ip = new Map<string, string>();
    for (const h of [RELAY, ...PAIR]) ip.set(h, await meshIpOf(lab, h));

    switchMs.relayed = await waitForPath(lab, 'relayed', joinsMs);
    const before = await pairPaths(lab);
    if (before?.handshakeS.some((t) => t > 0)) throw new Error('a direct handshake happened before the block: the pair is not relayed only');
    progress({ step: 'relayed', afterJoinsMs: switchMs.relayed });

    const phase = async (path: 'relayed' | 'direct') => {
      const bytesBefore = await relayedBytes(lab);
      for (let round = 1; round <= s.rounds; round++) {
        const runs = [await pingRun(lab, PAIR[0], ip.get(PAIR[1])!, path, round)];
        if (path === 'relayed') {
          runs.push(await pingRun(lab, 'h2', ip.get(RELAY)!, 'hop h2→h1', round));
          runs.push(await pingRun(lab, 'h3', ip.get(RELAY)!, 'hop h3→h1', round));
        }
        pings.push(...runs);
        const tp = await iperfRun(lab, ip.get(PAIR[1])!, path, round);
        iperf.push(tp);
        progress({ step: path, round, rttMedianMs: runs.map((r) => ({ path: r.path, ms: median(r.times), lost: r.sent - r.times.length })), mbps: tp.mbps, ...(tp.error ? { error: tp.error } : {}) });
      }
      relayBytes[path] = (await relayedBytes(lab)) - bytesBefore;
      // Still the path it was measured on at the end.
      const after = await pairPaths(lab);
      const ok = path === 'relayed' ? after?.via.every((v) => v === RELAY) : after?.via.every((v) => v === '');
      if (!ok) throw new Error(`the pair left the ${path} path during its measurement: via ${JSON.stringify(after?.via)}`);
    };

    await phase('relayed');
    const unblockedMs = Date.now();
    await udpBetweenRouters(lab, true);
    switchMs.direct = await waitForPath(lab, 'direct', unblockedMs);
    progress({ step: 'direct', afterUnblockMs: switchMs.direct });
    await phase('direct');
  } catch (err) {
    if (err instanceof Aborted) throw err;
    error = (err as Error).message;
    progress({ error });
  } finally {
    await teardown();
  }
  const loadEnd = ((await readText('/proc/loadavg')) ?? '').split(' ').slice(0, 3).join(' ');
  return { durationS: (Date.now() - startedMs) / 1000, settings: s, pings, iperf, relayBytes, switchMs, loadavg: [loadStart, loadEnd], ...(error ? { error } : {}) };
}

// ---------------------------------------------------------------------------------------------
// Markdown

const fmt = (v: number | undefined, digits: number): string => (v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits));

function percentile(values: readonly number[], p: number): number {
  const v = [...values].sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  return v[Math.min(v.length - 1, Math.ceil((p / 100) * v.length) - 1)]!;
}

const mean = (values: readonly number[]): number => (values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length);

export interface PathSummary {
  readonly rttMedianMs: number;
  readonly rttP90Ms: number;
  readonly rttMeanMs: number;
  readonly pings: number;
  readonly lost: number;
  readonly rounds: number;
  /** Median of the rounds' iperf3 runs (NaN: none). */
  readonly mbps: number;
  readonly mbpsRuns: number[];
}

export function summarizePath(r: RelayResults, path: PathName): PathSummary {
  const runs = r.pings.filter((p) => p.path === path);
  const times = runs.flatMap((p) => p.times);
  const tp = r.iperf.filter((x) => x.path === path).map((x) => x.mbps);
  return {
    rttMedianMs: median(times), rttP90Ms: percentile(times, 90), rttMeanMs: mean(times),
    pings: runs.reduce((n, p) => n + p.sent, 0), lost: runs.reduce((n, p) => n + p.sent - p.times.length, 0), rounds: runs.length,
    mbps: median(tp), mbpsRuns: tp,
  };
}

export function formatRelaySection(r: RelayResults): string {
  const s = r.settings;
  const paths: [PathName, string][] = [
    ['direct', 'h2→h3 direct'],
    ['relayed', 'h2→h3 relayed via h1'],
    ['hop h2→h1', 'relay hop h2→h1 (during the relayed phase)'],
    ['hop h3→h1', 'relay hop h3→h1 (during the relayed phase)'],
  ];
  const sum = new Map(paths.map(([p]) => [p, summarizePath(r, p)]));
  const direct = sum.get('direct')!;
  const relayed = sum.get('relayed')!;
  const hopMean = (sum.get('hop h2→h1')!.rttMedianMs + sum.get('hop h3→h1')!.rttMedianMs) / 2;
  const tpRatio = relayed.mbps / direct.mbps;
  const rttBound = direct.rttMedianMs + TARGETS.hopRtts * hopMean;
  const status = (x: number, ok: boolean) => (Number.isFinite(x) ? (ok ? '**PASS**' : '**MISS**') : 'not measured');
  const L: string[] = [];
  L.push('## Relay (real WireGuard: one pair relayed through the bootstrap, then direct)', '');
  L.push(
    `Lab \`${s.lab}\`: bootstrap h1 on the public segment (${s.underlay}), relaying; h2 and h3 each behind a \`home\` NAT router; built CLI. ` +
      `UDP between the two routers is blocked as the nodes start, so h2↔h3 goes through h1 (${fmt((r.switchMs.relayed ?? Number.NaN) / 1000, 1)} s after the joins started, both ends' \`via\` = h1) and is measured; ` +
      `then unblocked, the pair goes direct (${fmt((r.switchMs.direct ?? Number.NaN) / 1000, 1)} s later, both ends' \`via\` = '' with a direct handshake) and is measured again. ` +
      `One relayed phase, then one direct phase, not alternated: a pair that was direct returns to direct after a break only at its session's next handshake (up to 2 minutes). ` +
      `${s.rounds} rounds per phase; a round = \`ping -c ${s.pingCount} -i ${s.pingIntervalS}\` h2→h3 (and, relayed, h2→h1 and h3→h1 over the mesh), then \`iperf3 -t ${s.iperfSeconds} -O 1\` h2→h3 (one TCP stream, received rate). ` +
      `RTT figures are over all pings of a path pooled; throughput is the median of the rounds. ` +
      `${cpus().length} CPUs shared by all three nodes' wireguard-go (load average ${r.loadavg[0]} at the start, ${r.loadavg[1]} at the end).`,
    '',
  );
  L.push(
    '| path | RTT median (ms) | RTT p90 (ms) | RTT mean (ms) | pings (lost) | throughput (Mbit/s, median) | iperf3 runs (Mbit/s) | rounds |',
    '|---|---:|---:|---:|---:|---:|---|---:|',
  );
  for (const [p, label] of paths) {
    const x = sum.get(p)!;
    L.push(`| ${label} | ${fmt(x.rttMedianMs, 3)} | ${fmt(x.rttP90Ms, 3)} | ${fmt(x.rttMeanMs, 3)} | ${x.pings} (${x.lost}) | ${fmt(x.mbps, 0)} | ${x.mbpsRuns.map((v) => fmt(v, 0)).join(', ') || '—'} | ${x.rounds} |`);
  }
  L.push('');
  L.push('| target | measured | status |', '|---|---|---|');
  L.push(
    `| relayed throughput ≥ ${TARGETS.throughputFraction} × direct | ${fmt(relayed.mbps, 0)} / ${fmt(direct.mbps, 0)} Mbit/s (ratio ×${fmt(tpRatio, 3)}, computed) | ${status(tpRatio, tpRatio >= TARGETS.throughputFraction)} |`,
  );
  L.push(
    `| relayed RTT ≤ direct RTT + ${TARGETS.hopRtts} × relay hop RTT (medians; hop = mean of the h2→h1 and h3→h1 medians) | ${fmt(relayed.rttMedianMs, 3)} ms ≤ ${fmt(direct.rttMedianMs, 3)} + ${TARGETS.hopRtts} × ${fmt(hopMean, 3)} = ${fmt(rttBound, 3)} ms (bound computed) | ${status(rttBound - relayed.rttMedianMs, relayed.rttMedianMs <= rttBound)} |`,
  );
  L.push(
    '',
    `Bytes h1's relay chain accepted (its ACCEPT counter): ${fmt(r.relayBytes.relayed, 0)} during the relayed phase, ${fmt(r.relayBytes.direct, 0)} during the direct phase.`,
  );
  for (const x of r.iperf.filter((i) => i.error)) L.push('', `iperf3 round ${x.round} (${x.path}) failed: ${x.error}`);
  if (r.error) L.push('', `**The run stopped early**: ${r.error}`);
  L.push('', `Relay run: ${r.durationS.toFixed(0)} s.`, '');
  return L.join('\n');
}

// ---------------------------------------------------------------------------------------------
// CLI

async function run(argv: readonly string[]): Promise<number> {
  const i = argv.indexOf('--json');
  const jsonOut = i >= 0 ? argv[i + 1] : undefined;
  const results = await runRelay();
  process.stdout.write(formatRelaySection(results));
  if (jsonOut) await writeFile(jsonOut, JSON.stringify(results, null, 1) + '\n');
  // A run that stopped early still prints what it measured, but fails, like the other parts.
  return isAborted() ? 143 : results.error ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/relay.ts')) {
  runBenchPart({ name: 'relay', progress, cleanupStale, teardown, run }, process.argv.slice(2));
}
