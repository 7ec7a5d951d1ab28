/**
 * Start-up and footprint benchmark: wgmesh beside Nebula, in the same lab, measured the same way.
 * Not a test: prints figures.
 *
 *   node --conditions=source --import tsx startup.ts [--out FILE] [--json FILE]
 *   node --conditions=source --import tsx startup.ts --cleanup     # remove what a killed run left
 *
 * stdout: the markdown section for bench/results.md; stderr: progress as JSON lines.
 * Needs root, a built CLI (`make build`: the nodes run `node packages/cli/bin/wgmesh.js`, as users
 * do) and Nebula (`nebula`, `nebula-cert`; scripts/install-deps.sh installs Debian's).
 *
 * Both systems run in the hosts of a hosts-only lab (network + mount namespace each, one bridge,
 * underlay 192.0.2.0/24): wgmesh with the lab's own command lines (`wgmesh bootstrap -dev` on h1,
 * `wgmesh join -dev` on the others, mesh 198.18.0.0/24, interface wgbench), Nebula with a CA
 * and one certificate per host (lighthouse on h1, mesh 198.18.9.0/24, tun nebula1, UDP 4242).
 *
 * Figures:
 * - cold mesh: a fresh 8-host lab per round; the first node (bootstrap / lighthouse) is started
 *   and waited for (its port listens and its interface is up), then the 7 others are spawned back
 *   to back. Measured from the first of those spawns until every ordered pair of the 8 hosts has
 *   had a ping reply over the mesh (56 pings in parallel, each started once both ends have their
 *   interface up). wgmesh and Nebula rounds alternate.
 * - one join: a mesh of 7 is up (both systems side by side in the same hosts); a node is spawned
 *   in a fresh host and measured until each of the 7 answers its ping; also its CPU time then
 *   (utime + stime of that process). The previous round's node is stopped first, so the mesh is
 *   8 nodes each time.
 * - `wgmesh info` in a join host: spawn → exit (Nebula has no equivalent).
 * - memory: VmRSS of the last joined node and of the first node (bootstrap / lighthouse) when
 *   the joined node is BENCH_STARTUP_MEMORY_AGE_S seconds old, both meshes running side by side.
 *
 * Environment: BENCH_STARTUP_COLD_ROUNDS, BENCH_STARTUP_JOIN_ROUNDS, BENCH_STARTUP_INFO_ROUNDS
 * (5 each), BENCH_STARTUP_MEMORY_AGE_S (60), BENCH_STARTUP_LOG_LEVEL (info: the lab's default),
 * BENCH_STARTUP_LAB (wgbs). A run takes about 3 minutes on 2 CPUs.
 */
import { appendFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { hostCommand, labDown, labEnv, labUp, plannedNodeArgv, readProcStat, type LabHost, type LabState } from '@wgmesh/cli/lab';
import {
  Aborted,
  checkAborted,
  descendants,
  exec,
  execOk,
  hasRouteVia,
  hasTcpTo,
  listensOn,
  median,
  memoryDetail,
  procNetTcpAddress,
  readText,
  removeEmptyRecord,
  runBenchPart,
  sleep,
  startDaemon,
  stopDaemon,
  stopProcess,
  stopRecordedDaemons,
  type Daemon,
  type MemoryDetail,
  envInt,
  reportPart,
} from './dp-sys.js';
import { parseLogMarks } from './data-plane.js';


export const STARTUP_SETTINGS = {
  lab: process.env.BENCH_STARTUP_LAB ?? 'wgbs',
  /** wgmesh's mesh name: its interface is wgbench. */
  mesh: 'bench',
  underlay: '192.0.2.0/24',
  cidr: '198.18.0.0/24',
  nebulaCidr: '198.18.9.0/24',
  nebulaDev: 'nebula1',
  nebulaPort: 4242,
  /** Hosts of a cold mesh; the one-join rounds join a mesh of hosts - 1. */
  hosts: 8,
  coldRounds: envInt('BENCH_STARTUP_COLD_ROUNDS', 5),
  joinRounds: envInt('BENCH_STARTUP_JOIN_ROUNDS', 5),
  infoRounds: envInt('BENCH_STARTUP_INFO_ROUNDS', 5),
  memoryAgeS: envInt('BENCH_STARTUP_MEMORY_AGE_S', 60),
  /** The nodes' log level (the lab's default, what a user gets). */
  logLevel: process.env.BENCH_STARTUP_LOG_LEVEL ?? 'info',
  /**
   * 'lab' (default): wgmesh's processes get the lab host's environment (labEnv: no
   * NODE_EXTRA_CA_CERTS); 'shell': the same with NODE_EXTRA_CA_CERTS kept, as a user's shell would
   * pass it, to measure what such a shell costs every start.
   */
  nodeEnv: process.env.BENCH_STARTUP_NODE_ENV === 'shell' ? 'shell' as const : 'lab' as const,
  deadlineMs: 30_000,
};

export const TARGETS = {
  coldMedianS: 1.0,
  /** wgmesh's cold mesh at most this many times Nebula's. */
  coldRatio: 4,
  joinWallS: 0.25,
  joinCpuS: 0.25,
  infoS: 0.15,
  joinRssMb: 45,
  bootstrapRssMb: 60,
};

/** The environment wgmesh's processes run with (STARTUP_SETTINGS.nodeEnv). */
function wgmeshEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = labEnv(process.env, extra);
  // 'shell': the one setting labEnv leaves out for start-up's sake goes back in.
  if (STARTUP_SETTINGS.nodeEnv === 'shell' && process.env.NODE_EXTRA_CA_CERTS !== undefined) env.NODE_EXTRA_CA_CERTS = process.env.NODE_EXTRA_CA_CERTS;
  return env;
}

/** Nebula's CA, certificates, configs and logs (under /tmp: the lab hosts see it; their /run is their own). */
const NEBULA_DIR = joinPath(tmpdir(), 'wgmesh-bench-startup');
/** /proc/stat times are in clock ticks: sysconf(_SC_CLK_TCK), 100 on Linux. */
const CLK_TCK = 100;

export type SystemName = 'wgmesh' | 'nebula';

// ---------------------------------------------------------------------------------------------
// Results

export interface ColdRound {
  readonly system: SystemName;
  readonly round: number;
  /** Spawn of the first of the 7 → every ordered pair answered; NaN when the deadline passed. */
  readonly totalMs: number;
  /** From the first node's spawn until it was ready (port listening, interface up): not in totalMs. */
  readonly firstReadyMs: number;
  /** Milliseconds after the first of the 7 spawns (undefined: not observed). */
  readonly marks: {
    /** The last of the 7 spawned. */
    readonly lastSpawn: number;
    /** The last node's interface had its address and route. */
    readonly allUp?: number;
    /** wgmesh: the last "WireGuard backend detected" in the joins' logs (the node has started: modules loaded, flags read). */
    readonly allStarted?: number;
    /** wgmesh: the last "joined the mesh" in the joins' logs. */
    readonly allJoined?: number;
    readonly firstReply?: number;
    readonly lastReply?: number;
  };
  readonly pairs: number;
  readonly error?: string;
}

export interface JoinRound {
  readonly system: SystemName;
  readonly round: number;
  readonly host: string;
  /** Spawn → each of the other nodes answered a ping; NaN when the deadline passed. */
  readonly totalMs: number;
  /** utime + stime of the node's own process when it had reached all (wireguard-go apart). */
  readonly cpuMs?: number;
  /** The same of its wireguard-go (wgmesh only). */
  readonly wgCpuMs?: number;
  readonly rssAtReachMb?: number;
  /** Milliseconds after the spawn. */
  readonly marks: {
    /** wgmesh, log: "WireGuard backend detected". */
    backend?: number;
    /** wgmesh: a TCP socket to the bootstrap's join port appears. */
    dial?: number;
    /** wgmesh, log: "joined the mesh". */
    joined?: number;
    /** wgmesh: its setpriv/wireguard-go child appears. */
    wgSpawned?: number;
    /** The interface has its address and route. */
    up?: number;
    firstReply?: number;
    lastReply?: number;
  };
  readonly targets: number;
  readonly error?: string;
}

export interface InfoRound {
  readonly round: number;
  /** `wgmesh info` in a join host: spawn → exit. */
  readonly infoMs: number;
  /** `node -e 0` in the same host: Node.js's own start-up, for scale. */
  readonly nodeFloorMs: number;
  /**
   * The same with this benchmark's own environment rather than the lab's (labEnv): the difference
   * is what the operator's shell settings cost every Node.js start (NODE_EXTRA_CA_CERTS here).
   */
  readonly shellFloorMs: number;
  readonly error?: string;
}

export interface MemorySample {
  readonly system: SystemName;
  readonly host: string;
  readonly role: 'first' | 'joined' | 'member';
  readonly ageS: number;
  readonly detail: MemoryDetail;
  /** wgmesh: its wireguard-go's VmRSS. */
  readonly wireguardGoMb?: number;
}

export interface StartupResults {
  readonly startedIso: string;
  readonly durationS: number;
  readonly settings: typeof STARTUP_SETTINGS;
  readonly nebulaVersion: string;
  readonly cold: ColdRound[];
  readonly join: JoinRound[];
  readonly info: InfoRound[];
  readonly memory: MemorySample[];
  /** /proc/loadavg at the start and the end of the run. */
  readonly loadavg: readonly [string, string];
}

function progress(event: Record<string, unknown>): void {
  process.stderr.write(JSON.stringify({ bench: 'startup', t: new Date().toISOString(), ...event }) + '\n');
}

// ---------------------------------------------------------------------------------------------
// Nodes of both systems

export interface MeshNode {
  readonly system: SystemName;
  readonly host: LabHost;
  readonly first: boolean;
  readonly daemon: Daemon;
  readonly spawnMs: number;
  readonly logFile: string;
}

export interface Prepared {
  readonly host: LabHost;
  readonly first: boolean;
  readonly argv: string[];
  readonly logFile: string;
  readonly env: NodeJS.ProcessEnv;
}

export interface MeshSystem {
  readonly name: SystemName;
  readonly iface: string;
  /** Writes what the node needs (log header, config) and returns its command line; spawns nothing. */
  prepare(lab: LabState, host: LabHost, first: boolean): Promise<Prepared>;
  /** The node's mesh address once its interface has it and a route (checked once, from /proc). */
  upAddress(lab: LabState, node: MeshNode): Promise<string | undefined>;
  /** The first node takes others in: its port listens (and upAddress answers). */
  listens(lab: LabState, node: MeshNode): Promise<boolean>;
}

/** Local IPv4 addresses of the process's network namespace (from /proc/PID/net/fib_trie). */
export function localAddresses(fibTrie: string): string[] {
  const found = new Set<string>();
  for (const m of fibTrie.matchAll(/\|-- (\d+\.\d+\.\d+\.\d+)\n\s+\/32 host LOCAL/g)) found.add(m[1]!);
  return [...found];
}

function inCidr(ip: string, cidr: string): boolean {
  const [net, prefix] = cidr.split('/');
  const n = (a: string) => a.split('.').reduce((x, o) => x * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(prefix));
  return Math.floor(n(ip) / size) === Math.floor(n(net!) / size);
}

/** Whether a UDP socket (IPv4, or IPv6 as Nebula's 0.0.0.0 is) is bound to this port in the process's network namespace. */
async function bindsUdp(pid: number, port: number): Promise<boolean> {
  const suffix = `:${port.toString(16).padStart(4, '0').toUpperCase()}`;
  for (const table of ['udp', 'udp6']) {
    const text = await readText(`/proc/${pid}/net/${table}`);
    if (text?.split('\n').some((line) => line.trim().split(/\s+/)[1]?.endsWith(suffix) === true)) return true;
  }
  return false;
}

const WGMESH_IFACE = `wg${STARTUP_SETTINGS.mesh}`;

export const wgmesh: MeshSystem = {
  name: 'wgmesh',
  iface: WGMESH_IFACE,
  async prepare(lab, host, first) {
    // The lab's own command line for this host, run as the lab runs it (its namespaces, its log).
    const argv = plannedNodeArgv(lab, host);
    await appendFile(host.logFile, `--- ${new Date().toISOString()} ${argv.join(' ')}\n`);
    return { host, first, argv: hostCommand(lab, host.name, argv, false), logFile: host.logFile, env: wgmeshEnv({ WGMESH_LOG_LEVEL: lab.logLevel }) };
  },
  async upAddress(lab, node) {
    if (!(await hasRouteVia(node.daemon.pid, WGMESH_IFACE))) return undefined;
    const fib = await readText(`/proc/${node.daemon.pid}/net/fib_trie`);
    return localAddresses(fib ?? '').find((ip) => inCidr(ip, lab.cidr));
  },
  async listens(lab, node) {
    return listensOn(node.daemon.pid, lab.bootstrapPort);
  },
};

function nebulaIp(host: LabHost): string {
  const [a, b, c] = STARTUP_SETTINGS.nebulaCidr.split('.');
  return `${a}.${b}.${c}.${host.index}`;
}

function nebulaConfig(lab: LabState, host: LabHost, first: boolean): Record<string, unknown> {
  const s = STARTUP_SETTINGS;
  const lighthouse = lab.hosts[0]!;
  const file = (name: string) => joinPath(NEBULA_DIR, name);
  return {
    pki: { ca: file('ca.crt'), cert: file(`${host.name}.crt`), key: file(`${host.name}.key`) },
    static_host_map: { [nebulaIp(lighthouse)]: [`${lighthouse.underlayIp}:${s.nebulaPort}`] },
    lighthouse: { am_lighthouse: first, interval: 60, hosts: first ? [] : [nebulaIp(lighthouse)] },
    listen: { host: '0.0.0.0', port: s.nebulaPort },
    punchy: { punch: false },
    tun: { dev: s.nebulaDev, drop_local_broadcast: false, drop_multicast: false, tx_queue: 500, mtu: 1300 },
    logging: { level: 'info', format: 'text' },
    firewall: {
      outbound: [{ port: 'any', proto: 'any', host: 'any' }],
      inbound: [{ port: 'any', proto: 'icmp', host: 'any' }],
    },
  };
}

export const nebula: MeshSystem = {
  name: 'nebula',
  iface: STARTUP_SETTINGS.nebulaDev,
  async prepare(lab, host, first) {
    const config = joinPath(NEBULA_DIR, `${host.name}.yml`);
    const logFile = joinPath(NEBULA_DIR, `${host.name}.log`);
    // YAML is a superset of JSON.
    await writeFile(config, JSON.stringify(nebulaConfig(lab, host, first), null, 1) + '\n');
    await appendFile(logFile, `--- ${new Date().toISOString()} ${lab.name}\n`);
    return { host, first, argv: hostCommand(lab, host.name, ['nebula', '-config', config], false), logFile, env: process.env };
  },
  async upAddress(_lab, node) {
    return (await hasRouteVia(node.daemon.pid, STARTUP_SETTINGS.nebulaDev)) ? nebulaIp(node.host) : undefined;
  },
  async listens(_lab, node) {
    return bindsUdp(node.daemon.pid, STARTUP_SETTINGS.nebulaPort);
  },
};

/** CA and one certificate per host index 1…count (made once per run). */
export async function makeNebulaPki(count: number): Promise<void> {
  await rm(NEBULA_DIR, { recursive: true, force: true });
  await mkdir(NEBULA_DIR, { recursive: true, mode: 0o700 });
  const f = (name: string) => joinPath(NEBULA_DIR, name);
  await execOk(['nebula-cert', 'ca', '-name', 'wgmesh bench', '-out-crt', f('ca.crt'), '-out-key', f('ca.key')]);
  const prefix = STARTUP_SETTINGS.nebulaCidr.split('/')[1]!;
  const [a, b, c] = STARTUP_SETTINGS.nebulaCidr.split('.');
  await Promise.all(
    Array.from({ length: count }, (_, i) => i + 1).map((k) =>
      execOk(['nebula-cert', 'sign', '-ca-crt', f('ca.crt'), '-ca-key', f('ca.key'), '-name', `h${k}`, '-ip', `${a}.${b}.${c}.${k}/${prefix}`, '-out-crt', f(`h${k}.crt`), '-out-key', f(`h${k}.key`)]),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Starting and stopping nodes. Every node is tracked, so errors and signals stop exactly ours.

const liveNodes = new Set<MeshNode>();

/** Spawns a prepared node; the spawn happens before the first await (see startDaemon). */
async function spawnNode(system: MeshSystem, p: Prepared): Promise<MeshNode> {
  const spawnMs = Date.now();
  const daemon = await startDaemon(p.argv, `${system.name} ${p.first ? 'first node' : 'node'} in ${p.host.name}`, { logFile: p.logFile, env: p.env });
  const node: MeshNode = { system: system.name, host: p.host, first: p.first, daemon, spawnMs, logFile: p.logFile };
  liveNodes.add(node);
  return node;
}

/** SIGTERM (SIGKILL after 5 s), then whatever child it left (wireguard-go). */
async function stopNode(node: MeshNode): Promise<void> {
  const children = await descendants(node.daemon.pid);
  await stopDaemon(node.daemon, 5_000);
  for (const c of children) await stopProcess(c, 3_000);
  liveNodes.delete(node);
}

/** Joined nodes first (a wgmesh join's Leave needs its bootstrap), then the first nodes. */
export async function stopNodes(nodes: Iterable<MeshNode>): Promise<void> {
  const all = [...nodes];
  await Promise.all(all.filter((n) => !n.first).map(stopNode));
  await Promise.all(all.filter((n) => n.first).map(stopNode));
}

async function logTail(node: MeshNode): Promise<string> {
  return ((await readText(node.logFile)) ?? '').trimEnd().split('\n').slice(-4).join(' ⏎ ');
}

/** Polls until the node's interface is up with its address; undefined when it exited or the deadline passed. */
async function waitUp(system: MeshSystem, lab: LabState, node: MeshNode, deadlineMs: number): Promise<{ ip: string; atMs: number } | undefined> {
  while (Date.now() < deadlineMs) {
    checkAborted();
    const ip = await system.upAddress(lab, node);
    if (ip) return { ip, atMs: Date.now() };
    if (!(await readProcStat(node.daemon.pid))) return undefined;
    await sleep(10);
  }
  return undefined;
}

/** Starts the first node and waits until it takes others in: its port listens and its interface is up. */
async function startFirst(system: MeshSystem, lab: LabState): Promise<{ node: MeshNode; readyMs: number; ip: string }> {
  const node = await spawnNode(system, await system.prepare(lab, lab.hosts[0]!, true));
  const deadline = node.spawnMs + STARTUP_SETTINGS.deadlineMs;
  while (Date.now() < deadline) {
    checkAborted();
    if (await system.listens(lab, node)) {
      const ip = await system.upAddress(lab, node);
      if (ip) return { node, readyMs: Date.now() - node.spawnMs, ip };
    }
    if (!(await readProcStat(node.daemon.pid))) throw new Error(`${system.name}: the first node exited; last log lines: ${await logTail(node)}`);
    await sleep(10);
  }
  throw new Error(`${system.name}: the first node was not ready within ${STARTUP_SETTINGS.deadlineMs} ms; last log lines: ${await logTail(node)}`);
}

/** Pings `ip` from the host until a reply (a packet every 20 ms, one ping process), or the deadline; the reply time or NaN. */
async function pingUntilReply(lab: LabState, host: string, ip: string, deadlineMs: number): Promise<number> {
  for (;;) {
    const remaining = deadlineMs - Date.now();
    if (remaining <= 0) return Number.NaN;
    checkAborted();
    const r = await exec(hostCommand(lab, host, ['ping', '-n', '-q', '-c', '1', '-i', '0.02', '-w', String(Math.max(1, Math.ceil(remaining / 1000))), ip]), {
      timeoutMs: remaining + 2_000,
    });
    if (r.code === 0) return r.endMs;
    await sleep(20);
  }
}

// ---------------------------------------------------------------------------------------------
// Cold mesh

/** A fresh hosts-only lab (the previous one, if any, removed first). */
export async function freshLab(hosts: number): Promise<LabState> {
  const s = STARTUP_SETTINGS;
  await labDown({ name: s.lab });
  return (await labUp({ name: s.lab, hosts, hostsOnly: true, underlay: s.underlay, cidr: s.cidr, mesh: s.mesh, logLevel: s.logLevel })).lab;
}

interface MeshUp {
  readonly nodes: MeshNode[];
  /** Mesh IP of each host's node. */
  readonly ips: Map<string, string>;
  readonly result: Omit<ColdRound, 'round'>;
}

/**
 * First node on h1 and ready; then a node on each of `count - 1` more hosts, spawned back to
 * back; until every ordered pair answers a ping. Throws only when the first node fails; the
 * nodes are left running.
 */
export async function bringUp(system: MeshSystem, lab: LabState, count: number): Promise<MeshUp> {
  const s = STARTUP_SETTINGS;
  const first = await startFirst(system, lab);
  const prepared = await Promise.all(lab.hosts.slice(1, count).map((h) => system.prepare(lab, h, false)));
  checkAborted();
  const t0 = Date.now();
  const spawned = prepared.map((p) => spawnNode(system, p));
  const members = await Promise.all(spawned);
  const nodes = [first.node, ...members];
  const deadline = t0 + s.deadlineMs;
  const ups = new Map(nodes.map((n) => [n.host.name, n.first ? Promise.resolve({ ip: first.ip, atMs: t0 }) : waitUp(system, lab, n, deadline)]));
  const pairs: Promise<number>[] = [];
  for (const a of nodes) {
    for (const b of nodes) {
      if (a === b) continue;
      pairs.push(
        (async () => {
          const [ua, ub] = await Promise.all([ups.get(a.host.name)!, ups.get(b.host.name)!]);
          return ua && ub ? pingUntilReply(lab, a.host.name, ub.ip, deadline) : Number.NaN;
        })(),
      );
    }
  }
  const replies = await Promise.all(pairs);
  const upTimes = await Promise.all([...ups.values()]);
  const ips = new Map<string, string>();
  nodes.forEach((n, i) => {
    const u = upTimes[i];
    if (u) ips.set(n.host.name, u.ip);
  });
  const ok = replies.filter((r) => Number.isFinite(r));
  const down = nodes.filter((_, i) => !upTimes[i]).map((n) => n.host.name);
  let allJoined: number | undefined;
  let allStarted: number | undefined;
  if (system.name === 'wgmesh') {
    const logMarks = await Promise.all(members.map(async (n) => parseLogMarks((await readText(n.logFile)) ?? '', t0)));
    const last = (values: (number | undefined)[]) => (values.every((v) => v !== undefined) ? Math.max(...(values as number[])) : undefined);
    allJoined = last(logMarks.map((m) => m.joined));
    allStarted = last(logMarks.map((m) => m.backend));
  }
  const marks = {
    lastSpawn: Math.max(...members.map((m) => m.spawnMs)) - t0,
    ...(down.length === 0 ? { allUp: Math.max(...upTimes.map((u) => u!.atMs)) - t0 } : {}),
    ...(allStarted !== undefined ? { allStarted } : {}),
    ...(allJoined !== undefined ? { allJoined } : {}),
    ...(ok.length > 0 ? { firstReply: Math.min(...ok) - t0 } : {}),
    ...(ok.length === replies.length ? { lastReply: Math.max(...ok) - t0 } : {}),
  };
  let error: string | undefined;
  if (down.length > 0) error = `interface not up within ${s.deadlineMs} ms in ${down.join(', ')}; ${down[0]}: ${await logTail(nodes.find((n) => n.host.name === down[0])!)}`;
  else if (ok.length < replies.length) error = `${replies.length - ok.length} of ${replies.length} pairs did not answer within ${s.deadlineMs} ms`;
  return {
    nodes,
    ips,
    result: { system: system.name, totalMs: marks.lastReply ?? Number.NaN, firstReadyMs: first.readyMs, marks, pairs: replies.length, ...(error ? { error } : {}) },
  };
}

async function coldRound(system: MeshSystem, round: number): Promise<ColdRound> {
  const lab = await freshLab(STARTUP_SETTINGS.hosts);
  try {
    const up = await bringUp(system, lab, STARTUP_SETTINGS.hosts);
    await stopNodes(up.nodes);
    return { round, ...up.result };
  } catch (err) {
    if (err instanceof Aborted) throw err;
    return { system: system.name, round, totalMs: Number.NaN, firstReadyMs: Number.NaN, marks: { lastSpawn: Number.NaN }, pairs: 0, error: (err as Error).message };
  } finally {
    await stopNodes([...liveNodes]);
  }
}

// ---------------------------------------------------------------------------------------------
// One join into a running mesh

export async function cpuTicks(pid: number): Promise<number | undefined> {
  const text = await readText(`/proc/${pid}/stat`);
  if (!text) return undefined;
  // Fields after ") ": state is field 3; utime and stime are fields 14 and 15.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}

async function joinRound(system: MeshSystem, lab: LabState, round: number, host: LabHost, targets: Map<string, string>): Promise<{ node?: MeshNode; result: JoinRound }> {
  const s = STARTUP_SETTINGS;
  const prepared = await system.prepare(lab, host, false);
  checkAborted();
  const node = await spawnNode(system, prepared);
  const t0 = node.spawnMs;
  const deadline = t0 + s.deadlineMs;
  const marks: JoinRound['marks'] = {};
  let stopped = false;
  const bootstrap = procNetTcpAddress(lab.hosts[0]!.underlayIp, lab.bootstrapPort);
  // /proc only (no process spawned): first dial of the bootstrap, the wireguard-go child.
  const watcher = (async () => {
    while (!stopped && Date.now() < deadline) {
      if (system.name === 'wgmesh') {
        if (marks.dial === undefined && (await hasTcpTo(node.daemon.pid, bootstrap))) marks.dial = Date.now() - t0;
        if (marks.wgSpawned === undefined && (await descendants(node.daemon.pid)).some((d) => d.comm === 'setpriv' || d.comm === 'wireguard-go')) marks.wgSpawned = Date.now() - t0;
      }
      await sleep(5);
    }
  })();
  let totalMs = Number.NaN;
  let error: string | undefined;
  let cpuMs: number | undefined;
  let wgCpuMs: number | undefined;
  let rssAtReachMb: number | undefined;
  try {
    const up = await waitUp(system, lab, node, deadline);
    if (!up) throw new Error(`interface not up within ${s.deadlineMs} ms (${(await readProcStat(node.daemon.pid)) ? 'running' : 'exited'}); last log lines: ${await logTail(node)}`);
    marks.up = up.atMs - t0;
    const names = [...targets.keys()];
    const replies = await Promise.all(names.map((name) => pingUntilReply(lab, host.name, targets.get(name)!, deadline)));
    const ticks = await cpuTicks(node.daemon.pid);
    const wg = (await descendants(node.daemon.pid)).filter((d) => d.comm === 'wireguard-go');
    const wgTicks = wg.length > 0 ? await cpuTicks(wg[0]!.pid) : undefined;
    rssAtReachMb = (await memoryDetail(node.daemon.pid))?.rssMb;
    const ok = replies.filter((r) => Number.isFinite(r));
    if (ok.length > 0) marks.firstReply = Math.min(...ok) - t0;
    const missing = names.filter((_, i) => !Number.isFinite(replies[i]!));
    if (missing.length > 0) throw new Error(`no ping reply within ${s.deadlineMs} ms from ${missing.join(', ')}`);
    marks.lastReply = Math.max(...ok) - t0;
    totalMs = marks.lastReply;
    if (ticks !== undefined) cpuMs = (ticks * 1000) / CLK_TCK;
    if (wgTicks !== undefined) wgCpuMs = (wgTicks * 1000) / CLK_TCK;
  } catch (err) {
    if (err instanceof Aborted) throw err;
    error = (err as Error).message;
  } finally {
    stopped = true;
    await watcher;
  }
  if (system.name === 'wgmesh') {
    const logMarks = parseLogMarks((await readText(node.logFile)) ?? '', t0);
    if (logMarks.backend !== undefined) marks.backend = logMarks.backend;
    if (logMarks.joined !== undefined) marks.joined = logMarks.joined;
  }
  const result: JoinRound = {
    system: system.name, round, host: host.name, totalMs, marks, targets: targets.size,
    ...(cpuMs !== undefined ? { cpuMs } : {}),
    ...(wgCpuMs !== undefined ? { wgCpuMs } : {}),
    ...(rssAtReachMb !== undefined ? { rssAtReachMb } : {}),
    ...(error ? { error } : {}),
  };
  return { node, result };
}

// ---------------------------------------------------------------------------------------------
// Memory

async function sampleMemory(node: MeshNode, role: MemorySample['role']): Promise<MemorySample | undefined> {
  const detail = await memoryDetail(node.daemon.pid);
  if (!detail) return undefined;
  const wg = (await descendants(node.daemon.pid)).filter((d) => d.comm === 'wireguard-go');
  const wireguardGoMb = wg.length > 0 ? (await memoryDetail(wg[0]!.pid))?.rssMb : undefined;
  return { system: node.system, host: node.host.name, role, ageS: (Date.now() - node.spawnMs) / 1000, detail, ...(wireguardGoMb !== undefined ? { wireguardGoMb } : {}) };
}

// ---------------------------------------------------------------------------------------------
// Teardown: one idempotent function, reached from the normal path, errors and signals alike.

let tearingDown: Promise<void> | undefined;

export function teardown(): Promise<void> {
  tearingDown ??= (async () => {
    const problems: string[] = [];
    try {
      await stopNodes([...liveNodes]);
    } catch (err) {
      problems.push(`nodes: ${(err as Error).message}`);
    }
    try {
      await stopRecordedDaemons((d, how) => progress({ teardown: `${how} ${d.label} (PID ${d.pid})` }));
    } catch (err) {
      problems.push(`daemons: ${(err as Error).message}`);
    }
    try {
      const report = await labDown({ name: STARTUP_SETTINGS.lab, onProgress: (message) => progress({ teardown: message }) });
      if (report.strays.length > 0) problems.push(`lab: processes still inside it: ${report.strays.join(', ')}`);
    } catch (err) {
      problems.push(`lab: ${(err as Error).message}`);
    }
    await rm(NEBULA_DIR, { recursive: true, force: true }).catch((err: Error) => problems.push(`${NEBULA_DIR}: ${err.message}`));
    await removeEmptyRecord().catch(() => {});
    if (problems.length > 0) progress({ teardown: 'incomplete', problems });
    else progress({ teardown: 'done' });
  })();
  return tearingDown;
}

/** What an earlier, killed run may have left: its recorded nodes, the lab, Nebula's files. */
export async function cleanupStale(): Promise<void> {
  await stopRecordedDaemons((d, how) => progress({ stale: `${how} ${d.label} (PID ${d.pid})` }));
  await removeEmptyRecord().catch(() => {});
  const report = await labDown({ name: STARTUP_SETTINGS.lab });
  if (report.existed) progress({ stale: `removed lab ${STARTUP_SETTINGS.lab}`, netns: report.netns.length });
  await rm(NEBULA_DIR, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// The run

/** /proc/loadavg's three averages, as one string. */
export const loadavg = async () => ((await readText('/proc/loadavg')) ?? '').split(' ').slice(0, 3).join(' ');

export async function runStartup(): Promise<StartupResults> {
  const s = STARTUP_SETTINGS;
  const startedMs = Date.now();
  const cold: ColdRound[] = [];
  const join: JoinRound[] = [];
  const info: InfoRound[] = [];
  const memory: MemorySample[] = [];
  const loadStart = await loadavg();
  let nebulaVersion = 'unknown';
  const systems = [wgmesh, nebula];
  try {
    await cleanupStale();
    nebulaVersion = /Version:\s*(\S+)/.exec(await execOk(['nebula', '-version']))?.[1] ?? 'unknown';
    const meshHosts = s.hosts - 1;
    await makeNebulaPki(meshHosts + s.joinRounds);

    // 1. Cold mesh: rounds alternate between the systems, each in a fresh lab.
    for (let round = 1; round <= s.coldRounds; round++) {
      for (const system of systems) {
        const r = await coldRound(system, round);
        cold.push(r);
        progress({ step: 'cold', ...r });
      }
    }

    // 2. One join: both meshes of 7 side by side in one lab, with a fresh host per round.
    const lab = await freshLab(meshHosts + s.joinRounds);
    const targets = new Map<SystemName, Map<string, string>>();
    for (const system of systems) {
      const up = await bringUp(system, lab, meshHosts);
      if (up.result.error) throw new Error(`${system.name}: the mesh of ${meshHosts} for the join rounds did not come up: ${up.result.error}`);
      targets.set(system.name, up.ips);
      progress({ step: 'mesh up', hosts: meshHosts, ...up.result });
    }
    const last = new Map<SystemName, MeshNode>();
    for (let round = 1; round <= s.joinRounds; round++) {
      const host = lab.hosts[meshHosts + round - 1]!;
      for (const system of systems) {
        const previous = last.get(system.name);
        if (previous) {
          await stopNode(previous);
          last.delete(system.name);
          // Let the departure reach every node and the machine go quiet before the next spawn.
          await sleep(1_000);
        }
        const r = await joinRound(system, lab, round, host, targets.get(system.name)!);
        if (r.node) last.set(system.name, r.node);
        join.push(r.result);
        progress({ step: 'join', ...r.result });
      }
    }

    // 3. `wgmesh info` in h2 (a join node), beside Node.js's own start-up in the same host; both
    // with the host's environment, as `wgmesh lab exec h2 …` runs them (the nodes' too: labEnv).
    const hostEnv = wgmeshEnv();
    for (let round = 1; round <= s.infoRounds; round++) {
      const t1 = Date.now();
      const r = await exec(hostCommand(lab, 'h2', ['wgmesh', 'info']), { timeoutMs: 10_000, env: hostEnv });
      const infoMs = r.endMs - t1;
      const t2 = Date.now();
      const floor = await exec(hostCommand(lab, 'h2', [process.execPath, '-e', '0']), { timeoutMs: 10_000, env: hostEnv });
      const nodeFloorMs = floor.endMs - t2;
      const t3 = Date.now();
      const shell = await exec(hostCommand(lab, 'h2', [process.execPath, '-e', '0']), { timeoutMs: 10_000 });
      const shellFloorMs = shell.endMs - t3;
      const error = r.code !== 0 ? `wgmesh info: exit ${r.code}: ${r.stderr.trim()}` : !r.stdout.includes(s.mesh) && r.stdout.trim() === '' ? 'wgmesh info printed nothing' : undefined;
      const sample: InfoRound = {
        round, infoMs: r.code === 0 ? infoMs : Number.NaN, nodeFloorMs: floor.code === 0 ? nodeFloorMs : Number.NaN,
        shellFloorMs: shell.code === 0 ? shellFloorMs : Number.NaN, ...(error ? { error } : {}),
      };
      info.push(sample);
      progress({ step: 'info', ...sample });
    }

    // 4. Memory: both meshes side by side; each system's last joined node at the age asked for.
    for (const system of systems) {
      const node = last.get(system.name);
      if (!node) continue;
      const wait = node.spawnMs + s.memoryAgeS * 1000 - Date.now();
      progress({ step: 'memory', system: system.name, waitS: Math.max(0, wait / 1000) });
      if (wait > 0) await sleep(wait);
      checkAborted();
      for (const n of [...liveNodes].filter((x) => x.system === system.name)) {
        const sample = await sampleMemory(n, n === node ? 'joined' : n.first ? 'first' : 'member');
        if (sample) memory.push(sample);
      }
      progress({ step: 'memory', system: system.name, samples: memory.filter((m) => m.system === system.name && m.role !== 'member') });
    }
  } finally {
    await teardown();
  }
  return { startedIso: new Date(startedMs).toISOString(), durationS: (Date.now() - startedMs) / 1000, settings: s, nebulaVersion, cold, join, info, memory, loadavg: [loadStart, await loadavg()] };
}

// ---------------------------------------------------------------------------------------------
// Markdown

const fmt = (v: number | undefined, digits: number): string => (v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits));
const met = (ok: boolean | undefined): string => (ok === undefined ? 'not measured' : ok ? '**met**' : '**not met**');

/** Median where a failed round counts as infinitely slow (failures cannot improve it); NaN without rounds. */
function medianFailSlow(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const v = values.map((x) => (Number.isFinite(x) ? x : Number.POSITIVE_INFINITY)).sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

export interface StartupSummary {
  coldS: Record<SystemName, number>;
  joinS: Record<SystemName, number>;
  joinCpuS: Record<SystemName, number>;
  infoS: number;
  nodeFloorS: number;
  shellFloorS: number;
  joinedRssMb: Record<SystemName, number>;
  firstRssMb: Record<SystemName, number>;
}

export function summarize(r: StartupResults): StartupSummary {
  const per = <T>(f: (system: SystemName) => T): Record<SystemName, T> => ({ wgmesh: f('wgmesh'), nebula: f('nebula') });
  const mem = (system: SystemName, role: MemorySample['role']) => r.memory.find((m) => m.system === system && m.role === role)?.detail.rssMb ?? Number.NaN;
  return {
    coldS: per((sys) => medianFailSlow(r.cold.filter((c) => c.system === sys).map((c) => c.totalMs)) / 1000),
    joinS: per((sys) => medianFailSlow(r.join.filter((j) => j.system === sys).map((j) => j.totalMs)) / 1000),
    joinCpuS: per((sys) => median(r.join.filter((j) => j.system === sys && Number.isFinite(j.totalMs)).map((j) => j.cpuMs ?? Number.NaN)) / 1000),
    infoS: medianFailSlow(r.info.map((i) => i.infoMs)) / 1000,
    nodeFloorS: median(r.info.map((i) => i.nodeFloorMs)) / 1000,
    shellFloorS: median(r.info.map((i) => i.shellFloorMs ?? Number.NaN)) / 1000,
    joinedRssMb: per((sys) => mem(sys, 'joined')),
    firstRssMb: per((sys) => mem(sys, 'first')),
  };
}

export function formatStartupSection(r: StartupResults): string {
  const s = r.settings;
  const sum = summarize(r);
  const fin = Number.isFinite;
  const ratio = (a: number, b: number) => (fin(a) && fin(b) && b > 0 ? `×${(a / b).toFixed(2)}` : '—');
  const count = (list: readonly { system: SystemName; totalMs: number }[], sys: SystemName) => {
    const all = list.filter((x) => x.system === sys);
    const failed = all.filter((x) => !fin(x.totalMs)).length;
    return `${all.length}${failed > 0 ? `, ${failed} failed` : ''}`;
  };
  const coldRatio = sum.coldS.wgmesh / sum.coldS.nebula;
  const coldMet = fin(sum.coldS.wgmesh) ? sum.coldS.wgmesh <= TARGETS.coldMedianS && fin(coldRatio) && coldRatio <= TARGETS.coldRatio : r.cold.length > 0 ? false : undefined;
  const joinMet = fin(sum.joinS.wgmesh) ? sum.joinS.wgmesh <= TARGETS.joinWallS : r.join.length > 0 ? false : undefined;
  const cpuMet = fin(sum.joinCpuS.wgmesh) ? sum.joinCpuS.wgmesh <= TARGETS.joinCpuS : undefined;
  const infoMet = fin(sum.infoS) ? sum.infoS <= TARGETS.infoS : r.info.length > 0 ? false : undefined;
  const joinRssMet = fin(sum.joinedRssMb.wgmesh) ? sum.joinedRssMb.wgmesh <= TARGETS.joinRssMb : undefined;
  const bootRssMet = fin(sum.firstRssMb.wgmesh) ? sum.firstRssMb.wgmesh <= TARGETS.bootstrapRssMb : undefined;
  const joinedAge = (sys: SystemName) => r.memory.find((m) => m.system === sys && m.role === 'joined')?.ageS;
  const pairs = s.hosts * (s.hosts - 1);
  const L: string[] = [];
  L.push(`## Start-up and footprint: wgmesh beside Nebula ${r.nebulaVersion}`, '');
  L.push(
    `Both run in the hosts of one hosts-only lab \`${s.lab}\` (a network + mount namespace each, one bridge, underlay ${s.underlay}), timed by this benchmark from the machine's own namespace (its pings run inside the hosts): ` +
      `wgmesh with the lab's command lines (\`node packages/cli/bin/wgmesh.js bootstrap -dev\` on h1, \`join -dev\` on the others; mesh ${s.cidr}; log level ${s.logLevel}; wireguard-go), ` +
      `Nebula from Debian with one certificate per host (lighthouse on h1, the only static host; mesh ${s.nebulaCidr}; tun ${s.nebulaDev}; firewall passing ICMP). ` +
      `A node counts as reaching another when a ping to its mesh IP is answered (one \`ping -c 1 -i 0.02 -w …\` per ordered pair, in parallel, started once both ends have their interface up). ` +
      `**Cold mesh**: ${s.coldRounds} rounds per system, alternated (wgmesh, Nebula, wgmesh, …), each in a fresh lab: the first node (bootstrap / lighthouse) is started and waited for (its port listens and its interface is up; not counted), ` +
      `then the ${s.hosts - 1} others are spawned back to back; measured from the first of those spawns until all ${pairs} ordered pairs of the ${s.hosts} hosts have answered. ` +
      `**One join**: ${s.joinRounds} rounds; both systems' meshes of ${s.hosts - 1} run side by side in one lab; each round spawns a node in a fresh host (the previous round's stopped first, so the mesh has ${s.hosts} nodes), ` +
      `measured from the spawn until each of the ${s.hosts - 1} others has answered; CPU = utime + stime of that process (/proc/PID/stat) at that moment. ` +
      `**info**: \`wgmesh info\` (plain, not a terminal) in h2, spawn → exit, ${s.infoRounds} runs. ` +
      `**Memory**: with both meshes still side by side, the last joined node and the first node of each system sampled when the joined node is ${s.memoryAgeS} s old. ` +
      `Medians; a failed round counts as slowest. ${cpus().length} CPUs shared by every node of the mesh, the pings and this benchmark (load average ${r.loadavg[0]} at the start, ${r.loadavg[1]} at the end).`,
    '',
  );
  L.push('| figure | wgmesh | Nebula | wgmesh / Nebula | target (wgmesh) | status |', '|---|---:|---:|---:|---|---|');
  L.push(
    `| cold mesh of ${s.hosts}: spawn of ${s.hosts - 1} nodes → all ${pairs} pairs answer (median of ${count(r.cold, 'wgmesh')} / ${count(r.cold, 'nebula')}) | ${fmt(sum.coldS.wgmesh, 2)} s | ${fmt(sum.coldS.nebula, 2)} s | ${ratio(sum.coldS.wgmesh, sum.coldS.nebula)} | ≤ ${TARGETS.coldMedianS.toFixed(1)} s and ≤ ×${TARGETS.coldRatio} Nebula | ${met(coldMet)} |`,
  );
  L.push(
    `| one join into a mesh of ${s.hosts - 1}: spawn → every other node answers (median of ${count(r.join, 'wgmesh')} / ${count(r.join, 'nebula')}) | ${fmt(sum.joinS.wgmesh, 3)} s | ${fmt(sum.joinS.nebula, 3)} s | ${ratio(sum.joinS.wgmesh, sum.joinS.nebula)} | ≤ ${TARGETS.joinWallS} s | ${met(joinMet)} |`,
  );
  L.push(
    `| CPU time of that join process when it had reached all (median) | ${fmt(sum.joinCpuS.wgmesh, 2)} s | ${fmt(sum.joinCpuS.nebula, 2)} s | ${ratio(sum.joinCpuS.wgmesh, sum.joinCpuS.nebula)} | ≤ ${TARGETS.joinCpuS} s | ${met(cpuMet)} |`,
  );
  L.push(`| \`wgmesh info\`: spawn → exit (median of ${r.info.length}) | ${fmt(sum.infoS, 3)} s | — | — | ≤ ${TARGETS.infoS} s | ${met(infoMet)} |`);
  L.push(
    `| VmRSS of the joined node, ${fmt(joinedAge('wgmesh'), 0)} / ${fmt(joinedAge('nebula'), 0)} s after its spawn | ${fmt(sum.joinedRssMb.wgmesh, 1)} MB | ${fmt(sum.joinedRssMb.nebula, 1)} MB | ${ratio(sum.joinedRssMb.wgmesh, sum.joinedRssMb.nebula)} | ≤ ${TARGETS.joinRssMb} MB | ${met(joinRssMet)} |`,
  );
  L.push(
    `| VmRSS of the bootstrap / the lighthouse, at the same moment | ${fmt(sum.firstRssMb.wgmesh, 1)} MB | ${fmt(sum.firstRssMb.nebula, 1)} MB | ${ratio(sum.firstRssMb.wgmesh, sum.firstRssMb.nebula)} | ≤ ${TARGETS.bootstrapRssMb} MB | ${met(bootRssMet)} |`,
  );
  L.push('');
  L.push(
    `For scale: \`node -e 0\` in the same host takes ${fmt(sum.nodeFloorS, 3)} s (median of ${r.info.length}), the floor under any wgmesh command; ` +
      `wgmesh's wireguard-go is a process of its own, not in the wgmesh figures (its CPU and memory are listed below). ` +
      (s.nodeEnv !== 'shell'
        ? `Every wgmesh process here, and \`info\`, runs with the lab host's environment (labEnv: the benchmark's own, without WGMESH_ settings and NODE_EXTRA_CA_CERTS); `
        : `Every wgmesh process here, and \`info\`, runs with the lab host's environment plus the benchmark's NODE_EXTRA_CA_CERTS (BENCH_STARTUP_NODE_ENV=shell${process.env.NODE_EXTRA_CA_CERTS ? '' : '; not set here'}); `) +
      `with the benchmark's own environment${process.env.NODE_EXTRA_CA_CERTS ? `, which sets NODE_EXTRA_CA_CERTS (Node.js parses that CA bundle at every start)` : ''}, \`node -e 0\` takes ${fmt(sum.shellFloorS, 3)} s.`,
    '',
  );

  L.push('### Cold mesh, per round', '');
  L.push(
    `Milliseconds after the first of the ${s.hosts - 1} spawns. "first node ready": from its own spawn (before the others were spawned). wgmesh only, from the joins' logs: "all started" = the last "WireGuard backend detected" (the process has loaded its modules and begun), "all joined" = the last "joined the mesh".`,
    '',
  );
  L.push('| round | system | first node ready | last spawned | all started | all joined | all interfaces up | first pair answered | all pairs answered |', '|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const c of r.cold) {
    L.push(`| ${c.round} | ${c.system} | ${fmt(c.firstReadyMs, 0)} | ${fmt(c.marks.lastSpawn, 0)} | ${fmt(c.marks.allStarted, 0)} | ${fmt(c.marks.allJoined, 0)} | ${fmt(c.marks.allUp, 0)} | ${fmt(c.marks.firstReply, 0)} | ${fmt(c.marks.lastReply, 0)} |`);
  }
  for (const sys of ['wgmesh', 'nebula'] as const) {
    const cs = r.cold.filter((c) => c.system === sys);
    const m = (f: (c: ColdRound) => number | undefined) => fmt(median(cs.map((c) => f(c) ?? Number.NaN)), 0);
    L.push(`| median | ${sys} | ${m((c) => c.firstReadyMs)} | ${m((c) => c.marks.lastSpawn)} | ${m((c) => c.marks.allStarted)} | ${m((c) => c.marks.allJoined)} | ${m((c) => c.marks.allUp)} | ${m((c) => c.marks.firstReply)} | ${m((c) => c.marks.lastReply)} |`);
  }
  for (const c of r.cold.filter((x) => x.error)) L.push('', `Round ${c.round} (${c.system}) failed: ${c.error}`);
  L.push('');

  L.push('### One join, per round', '');
  L.push(
    'Milliseconds after the spawn. wgmesh: "backend" and "joined" from its log (the "WireGuard backend detected" and "joined the mesh" lines), "dials" = a TCP socket to the bootstrap\'s join port appears, ' +
      '"wireguard-go" = its setpriv/wireguard-go child appears (all from /proc, polled every 5 ms). "up" = the interface has its address and route. CPU in ms.',
    '',
  );
  L.push(
    '| round | system | host | backend | dials | joined | wireguard-go | up | first reply | reached all | CPU (node) | CPU (wireguard-go) | VmRSS at reach (MB) |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const j of r.join) {
    const m = j.marks;
    L.push(
      `| ${j.round} | ${j.system} | ${j.host} | ${fmt(m.backend, 0)} | ${fmt(m.dial, 0)} | ${fmt(m.joined, 0)} | ${fmt(m.wgSpawned, 0)} | ${fmt(m.up, 0)} | ${fmt(m.firstReply, 0)} | ${fmt(m.lastReply, 0)} | ${fmt(j.cpuMs, 0)} | ${fmt(j.wgCpuMs, 0)} | ${fmt(j.rssAtReachMb, 1)} |`,
    );
  }
  for (const sys of ['wgmesh', 'nebula'] as const) {
    const js = r.join.filter((j) => j.system === sys);
    const m = (f: (j: JoinRound) => number | undefined, d = 0) => fmt(median(js.map((j) => f(j) ?? Number.NaN)), d);
    L.push(
      `| median | ${sys} | | ${m((j) => j.marks.backend)} | ${m((j) => j.marks.dial)} | ${m((j) => j.marks.joined)} | ${m((j) => j.marks.wgSpawned)} | ${m((j) => j.marks.up)} | ${m((j) => j.marks.firstReply)} | ${m((j) => j.marks.lastReply)} | ${m((j) => j.cpuMs)} | ${m((j) => j.wgCpuMs)} | ${m((j) => j.rssAtReachMb, 1)} |`,
    );
  }
  for (const j of r.join.filter((x) => x.error)) L.push('', `Round ${j.round} (${j.system}, ${j.host}) failed: ${j.error}`);
  L.push('');

  L.push('### `wgmesh info`, per run', '');
  L.push('| run | `wgmesh info` (ms) | `node -e 0` (ms) | `node -e 0`, the benchmark\'s own environment (ms) |', '|---|---:|---:|---:|');
  for (const i of r.info) L.push(`| ${i.round} | ${fmt(i.infoMs, 0)} | ${fmt(i.nodeFloorMs, 0)} | ${fmt(i.shellFloorMs ?? Number.NaN, 0)} |`);
  for (const i of r.info.filter((x) => x.error)) L.push('', `Run ${i.round} failed: ${i.error}`);
  L.push('');

  L.push('### Memory', '');
  L.push(
    'VmRSS counts shared file-backed pages too (the node binary, libraries); RssAnon is the process\'s own memory. "members": the median of the nodes that joined at the start of the join rounds (older).',
    '',
  );
  L.push('| system | node | age (s) | VmRSS (MB) | RssAnon (MB) | RssFile (MB) | PSS (MB) | its wireguard-go VmRSS (MB) |', '|---|---|---:|---:|---:|---:|---:|---:|');
  for (const sys of ['wgmesh', 'nebula'] as const) {
    const firstName = sys === 'wgmesh' ? 'bootstrap' : 'lighthouse';
    for (const role of ['joined', 'first'] as const) {
      const x = r.memory.find((m) => m.system === sys && m.role === role);
      if (!x) continue;
      L.push(`| ${sys} | ${role === 'first' ? firstName : 'joined'} (${x.host}) | ${fmt(x.ageS, 0)} | ${fmt(x.detail.rssMb, 1)} | ${fmt(x.detail.rssAnonMb, 1)} | ${fmt(x.detail.rssFileMb, 1)} | ${fmt(x.detail.pssMb, 1)} | ${fmt(x.wireguardGoMb, 1)} |`);
    }
    const ms = r.memory.filter((m) => m.system === sys && m.role === 'member');
    if (ms.length > 0) {
      const m = (f: (x: MemorySample) => number | undefined) => fmt(median(ms.map((x) => f(x) ?? Number.NaN)), 1);
      L.push(`| ${sys} | members (${ms.length}) | ${fmt(median(ms.map((x) => x.ageS)), 0)} | ${m((x) => x.detail.rssMb)} | ${m((x) => x.detail.rssAnonMb)} | ${m((x) => x.detail.rssFileMb)} | ${m((x) => x.detail.pssMb)} | ${m((x) => x.wireguardGoMb)} |`);
    }
  }
  L.push('', `Start-up run: ${r.durationS.toFixed(0)} s.`, '');
  return L.join('\n');
}

// ---------------------------------------------------------------------------------------------
// CLI

async function run(argv: readonly string[]): Promise<number> {
  const results = await runStartup();
  return reportPart(argv, results, formatStartupSection(results), summarize(results));
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/startup.ts')) {
  runBenchPart({ name: 'startup', progress, cleanupStale, teardown, run }, process.argv.slice(2));
}
