/**
 * Layer 2 benchmark: TCP throughput between two real wgmesh nodes (wireguard-go in the lab's
 * namespaces), over their bridges' addresses (bootstrap -l2: VXLAN over the mesh) beside the same
 * pair's mesh IPs, alternated in one run (mesh, bridge, mesh, bridge, …). Not a test: prints figures.
 *
 *   node --conditions=source --import tsx l2.ts            # markdown section on stdout
 *   node --conditions=source --import tsx l2.ts --cleanup  # remove what a killed run left
 *
 * stdout: the markdown section for bench/results.md; stderr: progress as JSON lines.
 * Needs root and a built CLI (`make build`): the lab runs packages/cli/bin/wgmesh.js.
 */
import { cpus } from 'node:os';
import { hostCommand, labDown, labRestartNode, labUp, localNodeInfo, waitForMesh, type LabState } from '@wgmesh/cli/lab';
import { Aborted, envInt, exec, listensOn, median, readText, removeEmptyRecord, reportPart, runBenchPart, sleep, startDaemon, stopDaemon, stopRecordedDaemons } from './dp-sys.js';

export const L2_SETTINGS = {
  lab: process.env.BENCH_L2_LAB ?? 'wgbl2',
  mesh: 'bl2',
  rounds: envInt('BENCH_L2_ROUNDS', 3),
  iperfSeconds: envInt('BENCH_L2_IPERF_SECONDS', 5),
};

/** Over the bridge at least this fraction of the mesh IPs' throughput. */
export const TARGETS = { fraction: 0.8 };

type PathName = 'mesh IP' | 'bridge';

interface IperfRun {
  readonly path: PathName;
  readonly round: number;
  readonly mbps: number;
  readonly retransmits?: number;
  readonly error?: string;
}

interface L2Results {
  readonly durationS: number;
  readonly settings: typeof L2_SETTINGS;
  readonly runs: IperfRun[];
  readonly mtu: { readonly wg?: number; readonly bridge?: number };
  readonly loadavg: readonly [string, string];
  readonly error?: string;
}

const BRIDGE_IP = { h1: '10.99.0.1', h2: '10.99.0.2' } as const;
const IPERF_PORT = 5203;

function progress(event: Record<string, unknown>): void {
  process.stderr.write(JSON.stringify({ bench: 'l2', t: new Date().toISOString(), ...event }) + '\n');
}

let tearingDown: Promise<void> | undefined;

function teardown(): Promise<void> {
  tearingDown ??= (async () => {
    await stopRecordedDaemons((d, how) => progress({ teardown: `${how} ${d.label} (PID ${d.pid})` })).catch(() => {});
    await labDown({ name: L2_SETTINGS.lab, onProgress: (message) => progress({ teardown: message }) }).catch((err: unknown) => progress({ teardown: 'incomplete', err: (err as Error).message }));
    await removeEmptyRecord().catch(() => {});
  })();
  return tearingDown;
}

async function cleanupStale(): Promise<void> {
  await stopRecordedDaemons((d, how) => progress({ stale: `${how} ${d.label} (PID ${d.pid})` }));
  await removeEmptyRecord().catch(() => {});
  await labDown({ name: L2_SETTINGS.lab });
}

async function iperfRun(lab: LabState, serverIp: string, path: PathName, round: number): Promise<IperfRun> {
  const seconds = L2_SETTINGS.iperfSeconds;
  try {
    const server = await startDaemon(hostCommand(lab, 'h2', ['iperf3', '-s', '-1', '-B', serverIp, '-p', String(IPERF_PORT)]), `iperf3 server (${path})`);
    try {
      const deadline = Date.now() + 5_000;
      while (!(await listensOn(server.pid, IPERF_PORT))) {
        if (Date.now() > deadline) throw new Error('iperf3 server did not listen within 5 s');
        await sleep(10);
      }
      // -O 1: the first second (slow start) is left out of the figure.
      const r = await exec(hostCommand(lab, 'h1', ['iperf3', '-c', serverIp, '-p', String(IPERF_PORT), '-t', String(seconds), '-O', '1', '-J']), { timeoutMs: (seconds + 30) * 1000 });
      const parsed = JSON.parse(r.stdout || '{}') as { end?: { sum_received?: { bits_per_second?: number }; sum_sent?: { retransmits?: number } }; error?: string };
      const bps = parsed.end?.sum_received?.bits_per_second;
      if (parsed.error || bps === undefined) throw new Error(`iperf3 client: exit ${r.code}: ${parsed.error ?? (r.stderr.trim() || 'no result')}`);
      const retransmits = parsed.end?.sum_sent?.retransmits;
      return { path, round, mbps: bps / 1e6, ...(retransmits !== undefined ? { retransmits } : {}) };
    } finally {
      await stopDaemon(server, 2_000);
    }
  } catch (err) {
    if (err instanceof Aborted) throw err;
    return { path, round, mbps: Number.NaN, error: (err as Error).message };
  }
}

async function linkMtu(lab: LabState, host: string, dev: string): Promise<number | undefined> {
  const r = await exec(hostCommand(lab, host, ['ip', '-j', 'link', 'show', 'dev', dev]));
  return r.code === 0 ? (JSON.parse(r.stdout) as { mtu: number }[])[0]?.mtu : undefined;
}

async function runL2(): Promise<L2Results> {
  const s = L2_SETTINGS;
  const startedMs = Date.now();
  const loadStart = ((await readText('/proc/loadavg')) ?? '').split(' ').slice(0, 3).join(' ');
  const runs: IperfRun[] = [];
  const mtu: { wg?: number; bridge?: number } = {};
  let error: string | undefined;
  try {
    await labDown({ name: s.lab });
    let lab = (await labUp({ name: s.lab, hosts: 2, mesh: s.mesh, bootstrapArgs: ['-l2'], readyTimeoutMs: 60_000, onProgress: (m) => progress({ lab: m }) })).lab;
    for (const host of ['h1', 'h2'] as const) await labRestartNode(lab, host, { args: ['-l2-addr', `${BRIDGE_IP[host]}/24`], wait: false });
    lab = await waitForMesh(s.lab, { timeoutMs: 60_000 });
    const meshIp = new Map(lab.hosts.map((h) => [h.name, h.meshIp!]));
    const deadline = Date.now() + 20_000;
    while (!(await localNodeInfo(lab, 'h1'))?.l2?.up || !(await localNodeInfo(lab, 'h2'))?.l2?.up) {
      if (Date.now() > deadline) throw new Error('layer 2 not up on both nodes within 20 s');
      await sleep(100);
    }
    const ping = await exec(hostCommand(lab, 'h1', ['ping', '-c', '3', '-i', '0.2', '-W', '2', BRIDGE_IP.h2]));
    if (ping.code !== 0) throw new Error(`h1 cannot ping h2's bridge: ${ping.stdout}${ping.stderr}`);
    mtu.wg = await linkMtu(lab, 'h1', `wg${s.mesh}`);
    mtu.bridge = await linkMtu(lab, 'h1', `br${s.mesh}`);
    for (let round = 1; round <= s.rounds; round++) {
      for (const [path, ip] of [['mesh IP', meshIp.get('h2')!], ['bridge', BRIDGE_IP.h2]] as const) {
        const run = await iperfRun(lab, ip, path, round);
        runs.push(run);
        progress({ round, path, mbps: run.mbps, ...(run.error ? { error: run.error } : {}) });
      }
    }
  } catch (err) {
    if (err instanceof Aborted) throw err;
    error = (err as Error).message;
    progress({ error });
  } finally {
    await teardown();
  }
  const loadEnd = ((await readText('/proc/loadavg')) ?? '').split(' ').slice(0, 3).join(' ');
  return { durationS: (Date.now() - startedMs) / 1000, settings: s, runs, mtu, loadavg: [loadStart, loadEnd], ...(error ? { error } : {}) };
}

const fmt = (v: number | undefined, digits: number): string => (v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits));

function summarize(r: L2Results) {
  const of = (path: PathName) => r.runs.filter((x) => x.path === path && Number.isFinite(x.mbps)).map((x) => x.mbps);
  const mesh = median(of('mesh IP'));
  const bridge = median(of('bridge'));
  const fraction = bridge / mesh;
  return { meshMbps: mesh, bridgeMbps: bridge, fraction, met: Number.isFinite(fraction) && fraction >= TARGETS.fraction };
}

function markdown(r: L2Results): string {
  const s = r.settings;
  const sum = summarize(r);
  const L = [
    '## Layer 2 over the mesh (real WireGuard: a bridge with VXLAN over wireguard-go)',
    '',
    `Lab ${s.lab}: bootstrap h1 with \`-l2\` and h2 joined, each bridge given an address with \`-l2-addr\`; ${s.rounds} rounds, each \`iperf3 -t ${s.iperfSeconds} -O 1\` h1→h2 ` +
      `(one TCP stream, received rate) to h2's mesh IP and then to its bridge address. MTU: wg ${r.mtu.wg ?? '?'}, bridge and VXLAN ${r.mtu.bridge ?? '?'} ` +
      `(the wg MTU less VXLAN's 50 bytes over IPv4). ${cpus().length} CPUs; load average ${r.loadavg[0]} at the start, ${r.loadavg[1]} at the end; ${r.durationS.toFixed(0)} s.`,
    '',
    '| path | throughput (Mbit/s, median) | runs (Mbit/s) | retransmits |',
    '|---|---|---|---|',
  ];
  for (const path of ['mesh IP', 'bridge'] as const) {
    const runs = r.runs.filter((x) => x.path === path);
    L.push(`| ${path} | ${fmt(path === 'mesh IP' ? sum.meshMbps : sum.bridgeMbps, 0)} | ${runs.map((x) => fmt(x.mbps, 0)).join(', ')} | ${runs.map((x) => x.retransmits ?? '—').join(', ')} |`);
  }
  L.push('', '| target | result | goal | status |', '|---|---|---|---|');
  L.push(`| bridge throughput / mesh IP throughput | ${fmt(sum.fraction, 2)} | ≥ ${TARGETS.fraction} | ${sum.met ? '**met**' : '**not met**'} |`);
  for (const x of r.runs.filter((i) => i.error)) L.push('', `iperf3 round ${x.round} (${x.path}) failed: ${x.error}`);
  if (r.error) L.push('', `**The run stopped early**: ${r.error}`);
  return L.join('\n') + '\n';
}

async function run(argv: readonly string[]): Promise<number> {
  const results = await runL2();
  const code = await reportPart(argv, results, markdown(results), summarize(results));
  return results.error ? 1 : code;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/l2.ts')) {
  runBenchPart({ name: 'l2', progress, cleanupStale, teardown, run }, process.argv.slice(2));
}
