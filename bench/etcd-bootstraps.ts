/**
 * Control-plane benchmark, one bootstrap against three: N agents (this process; in-memory
 * WireGuard, real gRPC over loopback, each agent with its own channels) join
 *   (a) one bootstrap on a state file, as in control-plane.ts, and
 *   (b) three bootstraps sharing a 3-member etcd cluster, every bootstrap its own process (its own
 *       core and event loop, as real ones), the agents spread evenly: agent i tries bootstrap
 *       i mod 3 first (the others after it, as `-bootstrap a,b,c` does).
 * Both use the same agents and the same control client (FailoverControlClient, 60 s per call,
 * as control-plane.ts; with one target it is that target's client). Not a test: prints figures.
 *
 *   node --conditions=source --import tsx etcd-bootstraps.ts            # markdown section on stdout
 *   node --conditions=source --import tsx etcd-bootstraps.ts --cleanup  # remove what a killed run left
 *
 *   BENCH_ETCD_SIZE=1000     agents in each setup
 *   BENCH_ETCD_CHANGES=25    changes measured in each setup
 *
 * stdout: the markdown section for bench/results.md; stderr: progress as JSON lines.
 * Needs root and Debian's etcd-server and etcd-client (scripts/install-deps.sh): the cluster runs
 * in network namespaces (test/helpers/etcd.ts) on 198.51.100.208/28, a block the etcd tests do not
 * use, so the part can run beside them.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import { Agent, createGrpcControlClient, FailoverControlClient, generateKeyPair, MemoryWgDriver } from '@wgmesh/agent';
import { etcdSkipReason, removeEtcdLeftovers, startEtcdCluster, type EtcdCluster } from '@wgmesh/test/helpers/etcd';
import { envInt, runBenchPart } from './dp-sys.js';
import { percentile, procStats, type ProcStats } from './proc-stats.js';

const here = path.dirname(new URL(import.meta.url).pathname);


export const ETCD_BENCH = {
  agents: envInt('BENCH_ETCD_SIZE', 1000),
  changes: envInt('BENCH_ETCD_CHANGES', 25),
  bootstraps: 3,
  etcd: { prefix: 'wgbetcd', size: 3, segment: '198.51.100', block: 13 } as const,
  /** Key prefix of the mesh in etcd (a fresh cluster each run). */
  keyPrefix: '/wgmesh-bench/',
  /** As control-plane.ts: a join may wait long behind a thousand others, and must not fail over for that. */
  callTimeoutMs: 60_000,
  /** All N joined, and then every agent knowing every member, each within this. */
  joinTimeoutMs: 300_000,
  convergeTimeoutMs: 120_000,
  changeTimeoutMs: 30_000,
};

function progress(event: Record<string, unknown>): void {
  process.stderr.write(`${JSON.stringify({ part: 'etcd-bootstraps', ...event })}\n`);
}

// ---------------------------------------------------------------------------------------------
// Bootstraps, each in a process of its own (bootstrap-child.ts).

interface BootstrapChild {
  readonly name: string;
  readonly child: ChildProcess;
  readonly address: string;
  /** What its member table holds now. */
  table(): Promise<{ members: number; revision: number }>;
}

/** Every bootstrap process of ours still running: teardown ends exactly these. */
const children = new Set<ChildProcess>();

async function startBootstrap(name: string, args: readonly string[]): Promise<BootstrapChild> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', path.join(here, 'bootstrap-child.ts'), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(child);
  const waiting: { resolve: (line: string) => void; reject: (err: Error) => void }[] = [];
  let exited: Error | undefined;
  child.once('exit', (code, signal) => {
    children.delete(child);
    exited = new Error(`bootstrap ${name} exited (${code ?? signal})`);
    for (const w of waiting.splice(0)) w.reject(exited);
  });
  createInterface({ input: child.stdout! }).on('line', (line) => waiting.shift()?.resolve(line));
  const nextLine = () => new Promise<string>((resolve, reject) => (exited ? reject(exited) : waiting.push({ resolve, reject })));
  const port = Number(await nextLine());
  return {
    name, child, address: `127.0.0.1:${port}`,
    async table() {
      const answer = nextLine();
      child.stdin!.write('table\n');
      return JSON.parse(await answer) as { members: number; revision: number };
    },
  };
}

async function stopBootstrap(b: BootstrapChild): Promise<void> {
  if (b.child.exitCode !== null || b.child.signalCode !== null) return;
  const exited = new Promise((resolve) => b.child.once('exit', resolve));
  b.child.kill('SIGTERM');
  const timer = setTimeout(() => b.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

// ---------------------------------------------------------------------------------------------
// etcd's own counters (its /metrics on each member's client URL).

/** Requests each member served, by gRPC method (Range, Txn, Put, …), and its WAL fsyncs, summed over the members. */
async function etcdCounters(cluster: EtcdCluster): Promise<Map<string, number>> {
  const totals = new Map<string, number>();
  const add = (key: string, value: number) => totals.set(key, (totals.get(key) ?? 0) + value);
  for (const m of cluster.members) {
    // Generous: this process's event loop is busy with a thousand agents while it waits.
    const text = await (await fetch(`${m.clientUrl}/metrics`, { signal: AbortSignal.timeout(30_000) })).text();
    for (const line of text.split('\n')) {
      const handled = /^grpc_server_handled_total\{([^}]*)\} (\S+)$/.exec(line);
      if (handled) {
        const method = /grpc_method="(\w+)"/.exec(handled[1]!)?.[1];
        if (method) add(method, Number(handled[2]));
      }
      const fsync = /^etcd_disk_wal_fsync_duration_seconds_(sum|count) (\S+)$/.exec(line);
      if (fsync) add(`walFsync.${fsync[1]}`, Number(fsync[2]));
    }
  }
  return totals;
}

/** The counters, or undefined (said on stderr) when etcd did not answer: the other figures still count. */
async function tryCounters(setup: string, cluster: EtcdCluster | undefined): Promise<Map<string, number> | undefined> {
  if (!cluster) return undefined;
  try {
    return await etcdCounters(cluster);
  } catch (err) {
    progress({ setup, warning: `etcd's counters not read: ${err instanceof Error ? err.message : String(err)}` });
    return undefined;
  }
}

function diffCounters(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  return new Map([...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)]));
}

// ---------------------------------------------------------------------------------------------
// One setup measured.

interface BenchAgent {
  readonly name: string;
  readonly agent: Agent;
  /** Index of the bootstrap it tries first. */
  readonly first: number;
  readonly control: FailoverControlClient<{ name: string; address: string }>;
}

interface Figures {
  readonly agents: number;
  readonly perBootstrap: number[];
  readonly joinedMs: number;
  readonly convergedMs: number;
  /** Per change: the Update call answered; every agent on the bootstrap that took it has it; every agent has it. */
  readonly answeredMs: number[];
  readonly sameBootstrapMs: number[];
  readonly allMs: number[];
  readonly bootstraps: { start: ProcStats; end: ProcStats }[];
  readonly etcd: { start: ProcStats; end: ProcStats }[];
  /** etcd counters over the joins (from the first join until every agent knew every member). */
  readonly etcdDuringJoins: Map<string, number> | undefined;
  readonly etcdDuringChanges: Map<string, number> | undefined;
  readonly agentsCpuSeconds: number;
  /** Agents whose calls went to another bootstrap than their first (the failover client moved). */
  readonly moved: number;
}

function makeAgents(n: number, bootstraps: readonly BootstrapChild[]): BenchAgent[] {
  const agents: BenchAgent[] = [];
  for (let i = 0; i < n; i++) {
    const first = i % bootstraps.length;
    const ordered = [...bootstraps.slice(first), ...bootstraps.slice(0, first)];
    const control = new FailoverControlClient<{ name: string; address: string }>(
      { connect: (t) => createGrpcControlClient({ address: t.address, credentials: grpc.credentials.createInsecure(), callTimeoutMs: ETCD_BENCH.callTimeoutMs }) },
      { targets: ordered.map((b) => ({ name: b.name, address: b.address })) },
    );
    const agent = new Agent({ control, driver: new MemoryWgDriver(`wg${i}`, { record: false }) }, {
      meshName: 'bench', nodeName: `n${i}`, privateKey: generateKeyPair().privateKey, heartbeatMs: 3_600_000,
      endpoints: () => [{ ip: `192.0.2.${(i % 250) + 1}`, port: 54540, kind: 'ENDPOINT_KIND_LAN' }],
    });
    agents.push({ name: `n${i}`, agent, first, control });
  }
  return agents;
}

/** Resolves when `done()` holds, polled every turn of the event loop; rejects with `what` after `timeoutMs`. */
function until(what: () => string, done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (done()) resolve();
      else if (Date.now() >= deadline) reject(new Error(what()));
      else setImmediate(check);
    };
    check();
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(what())), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function measure(setup: string, bootstraps: readonly BootstrapChild[], cluster: EtcdCluster | undefined): Promise<Figures> {
  const n = ETCD_BENCH.agents;
  const members = n + bootstraps.length;
  // Every bootstrap knows every bootstrap before the first agent comes.
  for (const deadline = Date.now() + 30_000; ;) {
    const tables = await Promise.all(bootstraps.map((b) => b.table()));
    if (tables.every((t) => t.members === bootstraps.length)) break;
    if (Date.now() > deadline) throw new Error(`${setup}: after 30 s the bootstraps' tables hold ${tables.map((t) => t.members).join(' / ')} members, not ${bootstraps.length} each`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const agents = makeAgents(n, bootstraps);
  const bootStart = await Promise.all(bootstraps.map((b) => procStats(b.child.pid!)));
  const etcdStart = cluster ? await Promise.all(cluster.members.map((m) => procStats(m.pid!))) : [];
  const countersStart = await tryCounters(setup, cluster);
  const cpuStart = process.cpuUsage();

  try {
    progress({ setup, step: 'joining', agents: n });
    const joinStart = performance.now();
    let started = 0;
    await withTimeout(Promise.all(agents.map((a) => a.agent.start().then(() => { started += 1; }))), ETCD_BENCH.joinTimeoutMs,
      () => `${setup}: ${started} of ${n} agents joined within ${ETCD_BENCH.joinTimeoutMs / 1000} s`);
    const joinedMs = performance.now() - joinStart;
    progress({ setup, step: 'joined', ms: Math.round(joinedMs) });
    const knowsAll = (a: BenchAgent) => a.agent.netmap.nodes.size === members;
    await until(() => `${setup}: the mesh of ${n} agents did not converge within ${ETCD_BENCH.convergeTimeoutMs / 1000} s of the joins: ${agents.filter(knowsAll).length} of ${n} agents know all ${members} members`,
      () => agents.every(knowsAll), ETCD_BENCH.convergeTimeoutMs);
    const convergedMs = performance.now() - joinStart;
    const countersJoined = await tryCounters(setup, cluster);
    progress({ setup, step: 'converged', ms: Math.round(convergedMs) });

    // Changes: agent c (round the bootstraps) sets a tag through its bootstrap, the normal Update call.
    const answeredMs: number[] = [];
    const sameBootstrapMs: number[] = [];
    const allMs: number[] = [];
    for (let c = 0; c < ETCD_BENCH.changes; c++) {
      const who = agents[c % n]!;
      const value = `c${c}`;
      const has = (a: BenchAgent) => a.agent.netmap.nodes.get(who.name)?.tags?.bench === value;
      const t0 = performance.now();
      let answered: number | undefined;
      const call = who.agent.setTag('bench', value).then(() => { answered = performance.now() - t0; });
      let same: number | undefined;
      await until(() => `${setup}: change ${c + 1} of ${ETCD_BENCH.changes} (${who.name} sets a tag through ${bootstraps[who.first]!.name}) was not applied within ${ETCD_BENCH.changeTimeoutMs / 1000} s: ${agents.filter(has).length} of ${n} agents have it`,
        () => {
          let missing = 0;
          let missingSame = 0;
          for (const a of agents) {
            if (has(a)) continue;
            missing += 1;
            if (a.first === who.first) missingSame += 1;
          }
          if (missingSame === 0 && same === undefined) same = performance.now() - t0;
          return missing === 0;
        }, ETCD_BENCH.changeTimeoutMs);
      allMs.push(performance.now() - t0);
      sameBootstrapMs.push(same!);
      await call;
      answeredMs.push(answered!);
    }
    const countersEnd = await tryCounters(setup, cluster);
    const agentsCpu = process.cpuUsage(cpuStart);
    const bootEnd = await Promise.all(bootstraps.map((b) => procStats(b.child.pid!)));
    const etcdEnd = cluster ? await Promise.all(cluster.members.map((m) => procStats(m.pid!))) : [];
    progress({ setup, step: 'changes', p50: Math.round(percentile(allMs, 50)), p99: Math.round(percentile(allMs, 99)) });
    return {
      agents: n,
      perBootstrap: bootstraps.map((_, k) => agents.filter((a) => a.first === k).length),
      joinedMs, convergedMs, answeredMs, sameBootstrapMs, allMs,
      bootstraps: bootStart.map((start, k) => ({ start, end: bootEnd[k]! })),
      etcd: etcdStart.map((start, k) => ({ start, end: etcdEnd[k]! })),
      etcdDuringJoins: countersStart && countersJoined ? diffCounters(countersStart, countersJoined) : undefined,
      etcdDuringChanges: countersJoined && countersEnd ? diffCounters(countersJoined, countersEnd) : undefined,
      agentsCpuSeconds: (agentsCpu.user + agentsCpu.system) / 1e6,
      moved: agents.filter((a) => a.control.current.name !== bootstraps[a.first]!.name).length,
    };
  } finally {
    await Promise.allSettled(agents.map((a) => a.agent.stop({ leave: false })));
  }
}

// ---------------------------------------------------------------------------------------------
// The two setups.

let cluster: EtcdCluster | undefined;
const tempDirs: string[] = [];

async function oneBootstrap(): Promise<Figures> {
  const dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-bench-etcd-'));
  tempDirs.push(dir);
  progress({ setup: 'a', step: 'bootstrap', store: 'file' });
  const boot = await startBootstrap('bootstrap', [path.join(dir, 'state.json')]);
  try {
    return await measure('a', [boot], undefined);
  } finally {
    await stopBootstrap(boot);
  }
}

async function threeBootstraps(): Promise<Figures> {
  progress({ setup: 'b', step: 'etcd', members: ETCD_BENCH.etcd.size, segment: `${ETCD_BENCH.etcd.segment}.${ETCD_BENCH.etcd.block * 16}/28` });
  cluster = await startEtcdCluster(ETCD_BENCH.etcd);
  progress({ setup: 'b', step: 'etcd healthy', ms: cluster.startMs });
  const started: BootstrapChild[] = [];
  try {
    // One after the other: the first creates the mesh record, the others find it.
    for (let k = 1; k <= ETCD_BENCH.bootstraps; k++) {
      started.push(await startBootstrap(`boot${k}`, ['--etcd', cluster.endpoints.join(','), '--prefix', ETCD_BENCH.keyPrefix, '--name', `boot${k}`, '--ip', `198.18.0.${k}`]));
    }
    progress({ setup: 'b', step: 'bootstraps', addresses: started.map((b) => b.address) });
    return await measure('b', started, cluster);
  } finally {
    await Promise.all(started.map(stopBootstrap));
  }
}

export async function teardown(): Promise<void> {
  for (const child of children) child.kill('SIGKILL');
  await cluster?.cleanup();
  for (const dir of tempDirs.splice(0)) await rm(dir, { recursive: true, force: true });
}

export async function cleanupStale(): Promise<void> {
  await removeEtcdLeftovers(ETCD_BENCH.etcd.prefix);
}

// ---------------------------------------------------------------------------------------------
// The section.

const ms = (v: number) => v.toFixed(1);
const s = (v: number) => (v / 1000).toFixed(2);
const each = (values: readonly number[], digits: number) => values.map((v) => v.toFixed(digits)).join(' / ');

function row(label: string, a: string, b: string): string {
  return `| ${label} | ${a} | ${b} |`;
}

function requestsPerJoin(counters: Map<string, number> | undefined, joins: number): string {
  if (!counters) return 'not read (see stderr)';
  return ['Range', 'Txn', 'Put'].map((m) => `${m} ${((counters.get(m) ?? 0) / joins).toFixed(2)}`).join(', ');
}

function fsyncs(counters: Map<string, number> | undefined): string {
  if (!counters) return 'not read (see stderr)';
  return `${counters.get('walFsync.count') ?? 0} fsyncs, ${(counters.get('walFsync.sum') ?? 0).toFixed(2)} s`;
}

export function section(a: Figures, b: Figures, etcdVersion: string): string {
  const N = ETCD_BENCH.changes;
  const cpu = (f: Figures) => each(f.bootstraps.map((x) => x.end.cpuSeconds - x.start.cpuSeconds), 2);
  const lines = [
    `## Control plane: 1 bootstrap vs 3 on etcd (${a.agents} agents, all started at once)`,
    '',
    `(a) one bootstrap on a state file; (b) three bootstraps, each its own process, sharing a 3-member etcd cluster ` +
    `(etcd ${etcdVersion} in network namespaces), the agents spread over them (agent i tries bootstrap i mod 3 first). ` +
    `The agents run in one process (in-memory WireGuard, real gRPC on loopback, their own channels each); ` +
    `this machine has ${cpus().length} CPUs for all of it. Every figure is measured in the run; "each" lists one value per bootstrap or etcd member.`,
    '',
    '| measured | (a) 1 bootstrap, file store | (b) 3 bootstraps, 3-member etcd |',
    '|---|---|---|',
    row('agents (per bootstrap, by first choice)', `${a.agents}`, `${b.agents} (${b.perBootstrap.join(' / ')})`),
    row('all joined (s): from starting all agents until every join answered', s(a.joinedMs), s(b.joinedMs)),
    row('full mesh (s): from the same start until every agent knows every member', s(a.convergedMs), s(b.convergedMs)),
    row(`Update answered, p50 / p99 (ms, ${N} tag changes)`, `${ms(percentile(a.answeredMs, 50))} / ${ms(percentile(a.answeredMs, 99))}`, `${ms(percentile(b.answeredMs, 50))} / ${ms(percentile(b.answeredMs, 99))}`),
    row('change applied by every agent on the bootstrap that took it, p50 / p99 (ms)', `${ms(percentile(a.sameBootstrapMs, 50))} / ${ms(percentile(a.sameBootstrapMs, 99))}`, `${ms(percentile(b.sameBootstrapMs, 50))} / ${ms(percentile(b.sameBootstrapMs, 99))}`),
    row('**change applied by all agents, p50 (ms)**', ms(percentile(a.allMs, 50)), ms(percentile(b.allMs, 50))),
    row('**change applied by all agents, p99 (ms)**', ms(percentile(a.allMs, 99)), ms(percentile(b.allMs, 99))),
    row('bootstrap RSS at the end (MB), each', each(a.bootstraps.map((x) => x.end.rssMb), 0), each(b.bootstraps.map((x) => x.end.rssMb), 0)),
    row('bootstrap peak RSS (MB, VmHWM), each', each(a.bootstraps.map((x) => x.end.peakRssMb), 0), each(b.bootstraps.map((x) => x.end.peakRssMb), 0)),
    row('bootstrap CPU (s), each, joins to the last change', cpu(a), cpu(b)),
    row('etcd RSS at the end (MB), each member', '—', each(b.etcd.map((x) => x.end.rssMb), 0)),
    row('etcd CPU (s), each member, joins to the last change', '—', each(b.etcd.map((x) => x.end.cpuSeconds - x.start.cpuSeconds), 2)),
    row('etcd requests per join (all members, during the joins)', '—', requestsPerJoin(b.etcdDuringJoins, b.agents)),
    row('etcd WAL fsyncs during the joins (all members: count, total time)', '—', fsyncs(b.etcdDuringJoins)),
    row(`etcd requests per change (all members, ${N} changes)`, '—', requestsPerJoin(b.etcdDuringChanges, N)),
    row('agents\' process CPU (s), joins to the last change', a.agentsCpuSeconds.toFixed(2), b.agentsCpuSeconds.toFixed(2)),
    row('agents that moved to another bootstrap', String(a.moved), String(b.moved)),
  ];
  // Where (b)'s time goes, computed from the measured figures above (the label says so).
  const joins = b.etcdDuringJoins;
  if (joins) {
    const perJoinMs = (f: Figures) => f.joinedMs / Math.max(...f.perBootstrap);
    const fsyncCount = joins.get('walFsync.count') ?? 0;
    lines.push('',
      `Computed from the figures above, not measured separately: a bootstrap handles its joins one at a time ` +
      `(its member table serializes them), so the join wave took ${ms(perJoinMs(a))} ms per join in (a) and ` +
      `${ms(perJoinMs(b))} ms per join on the busiest bootstrap in (b). With etcd one join is a transaction per ` +
      `address tried (${((joins.get('Txn') ?? 0) / b.agents).toFixed(2)} per join: each join starts at a free address ` +
      `picked from the node's name, so concurrent joins on different bootstraps rarely collide; the loser tries the next), and a wait ` +
      `until the write comes back through the bootstrap's etcd watch; every transaction is a raft commit, ` +
      `${(fsyncCount / b.agents).toFixed(1)} WAL fsyncs per join over the three members, ` +
      `${fsyncCount > 0 ? ms(((joins.get('walFsync.sum') ?? 0) / fsyncCount) * 1000) : '—'} ms each on average (etcd's own histogram).`);
  }
  return lines.join('\n') + '\n';
}

async function run(): Promise<number> {
  const skip = await etcdSkipReason();
  if (skip) {
    progress({ error: `cannot run: ${skip}` });
    return 1;
  }
  try {
    await cleanupStale();
    const a = await oneBootstrap();
    const b = await threeBootstraps();
    const version = /etcd Version: (\S+)/.exec(execFileSync('etcd', ['--version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
    process.stdout.write(section(a, b, version));
    return 0;
  } catch (err) {
    progress({ error: err instanceof Error ? err.message : String(err) });
    return 1;
  } finally {
    await teardown();
    progress({ teardown: 'done' });
  }
}

runBenchPart({ name: 'etcd-bootstraps', progress, cleanupStale, teardown, run }, process.argv.slice(2));
