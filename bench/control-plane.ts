// Control-plane benchmark (issue 19, "Scale to 10,000 nodes, measured honestly"). The bootstrap
// runs in a process of its own (bootstrap-child.ts); the simulated agents are spread over child
// processes (agent-child.ts), each agent a real gRPC client on its own loopback connection. Bytes
// are what the kernel counted on the bootstrap's sockets (ss, wire-bytes.ts); CPU and memory are
// read from /proc for every process. Prints a markdown section; not a test.
//
//   BENCH_SIZES=100,1000,5000,10000   agents per run
//   BENCH_AGENT_PROCS=<cores>         processes the agents are spread over
//   BENCH_FULL_MAX=1000               largest size run with full Agents only; above it light agents
//                                     (light-agent.ts) and BENCH_FULL_SAMPLE full Agents in a process of their own
//   BENCH_FULL_SAMPLE=10
//   BENCH_RESUME_FROM=5000            sizes from here start the bootstrap from a state file of all
//                                     agents, which then re-join (as agents with saved state do); smaller ones join fresh
//   BENCH_WAVE=<n fresh, 1000 resumed> agents started together; the next wave once all were answered
//   BENCH_CHANGES=25 BENCH_IDLE_S=25  changes timed; seconds of idle (heartbeats only) sampled
//   BENCH_ESTABLISH_TIMEOUT_S=1800 BENCH_CHANGE_TIMEOUT_S=30 BENCH_NEWCOMER_TIMEOUT_S=120
//   BENCH_CHILD_PROF=DIR              a V8 CPU profile of the bootstrap child per size, into DIR
//   BENCH_AGENT_PROF=DIR              the same of every agent process (is the harness the limit?)
//   BENCH_CHILD_HEAP_PROF=DIR         the bootstrap's sampled heap profile at each new heap peak (bootstrap-child.ts)
//   BENCH_CHILD_MEM_LOG=S             the bootstrap's process.memoryUsage() on stderr every S seconds
//   BENCH_HEAP_GROWTH=P               the bootstrap's heapGrowthPercent (0: V8's own growth), to compare
//   BENCH_AGENT_NODE_FLAGS='--max-semi-space-size=64'   V8 flags of the agent processes (default: none)
//   BENCH_AGENT_FULL_RECONCILE_S=0    full Agents' periodic full reconcile (0: their own, 30 s ± 20 %)
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { AGENT_DEFAULTS, loadProtos, nodeSecretFromPrivate, publicKeyFromPrivate, type MeshClient } from '@wgmesh/agent';
import { BenchChild, stopChildren } from './bench-child.js';
import { envInt } from './dp-sys.js';
import { percentile, procStats, type ProcStats } from './proc-stats.js';
import { sampleWire, WireMeter } from './wire-bytes.js';
import { randomPrivateKey } from './light-agent.js';

const sizes = (process.env.BENCH_SIZES ?? '100,1000,5000,10000').split(',').map(Number);
const PROCS = envInt('BENCH_AGENT_PROCS', cpus().length);
const FULL_MAX = envInt('BENCH_FULL_MAX', 1000);
const FULL_SAMPLE = envInt('BENCH_FULL_SAMPLE', 10);
const RESUME_FROM = envInt('BENCH_RESUME_FROM', 5000);
const CHANGES = envInt('BENCH_CHANGES', 25);
/** Full Agents' periodic full reconcile (s); 0: the agents' own (every 30 s ± 20 %). */
const FULL_RECONCILE_S = envInt('BENCH_AGENT_FULL_RECONCILE_S', 0);
/**
 * V8 flags of the agent processes, a harness setting; none by default, as a node runs. 64-MB
 * semi-spaces (for the young generation that hundreds of agents share in one process) once made
 * the 1,000 wave faster; since the agents allocate less they made it slower: six alternated pairs
 * on 2026-12-03 (15:03-15:12 UTC), all joined 10.65-12.95 s with them, 9.24-12.57 s without,
 * without faster in every pair, the agent processes' CPU 0.5-1.6 s lower each.
 */
const AGENT_NODE_FLAGS = (process.env.BENCH_AGENT_NODE_FLAGS ?? '').split(' ').filter(Boolean);
const IDLE_S = envInt('BENCH_IDLE_S', 25);
const ESTABLISH_TIMEOUT_S = envInt('BENCH_ESTABLISH_TIMEOUT_S', 1800);
const CHANGE_TIMEOUT_S = envInt('BENCH_CHANGE_TIMEOUT_S', 30);
const NEWCOMER_TIMEOUT_S = envInt('BENCH_NEWCOMER_TIMEOUT_S', 120);
/** The agents' own heartbeat interval (AGENT_DEFAULTS), not a benchmark setting. */
const HEARTBEAT_MS = AGENT_DEFAULTS.heartbeatMs;
/** Longer than an agent's default 10 s: a join answered late is still an answer, and its time is the figure. */
const CALL_TIMEOUT_MS = 60_000;
const MESH = 'bench';
const CIDR = '198.18.0.0/16';

const nowMs = () => performance.timeOrigin + performance.now();
const log = (text: string) => process.stderr.write(`control-plane: ${text}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The state files of runs in progress: removed also when a signal ends the benchmark. */
const tempDirs = new Set<string>();
process.on('exit', () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

class PhaseTimeout extends Error {
  constructor(readonly seconds: number, readonly state: string) {
    super(`timed out after ${seconds} s: ${state}`);
  }
}

/** `work` within `seconds`, or PhaseTimeout saying what state it was in. */
async function within<T>(seconds: number, state: () => string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new PhaseTimeout(seconds, state())), seconds * 1000);
  });
  try {
    return await Promise.race([work, limit]);
  } finally {
    clearTimeout(timer);
  }
}

interface SizeResult {
  n: number;
  mode: 'fresh' | 'resume';
  wave: number;
  full: number;
  light: number;
  procs: number;
  figures: Record<string, string>;
  /** Numbers the targets are judged on (absent: not measured). */
  joinedS?: number;
  p50Ms?: number;
  p99Ms?: number;
  bytesPerChange?: number;
  bootRssMb?: number;
  bootPeakMb?: number;
  idleCpuPct?: number;
  newcomerMs?: number;
  /** A phase that timed out, and what state it was in. */
  timedOut: { phase: string; note: string }[];
}

/** A bootstrap.json (state format version 1) with all n agents as members, for a bootstrap to start from. */
async function writeState(file: string, names: string[], keys: string[]): Promise<void> {
  const now = Date.now();
  // Field order as MemberTable.join writes a new member: a re-join compares members as JSON, and
  // an agent re-joining with what the file holds is then no change (no write, no event).
  const members = names.map((name, i) => ({
    name,
    publicKey: publicKeyFromPrivate(keys[i]!),
    certFingerprint: '',
    secretHash: createHash('sha256').update(nodeSecretFromPrivate(keys[i]!)).digest('hex'),
    meshIp: `198.18.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`,
    endpoints: [{ ip: `192.0.2.${(i % 250) + 1}`, port: AGENT_DEFAULTS.listenPort, kind: 'ENDPOINT_KIND_LAN' }],
    tags: {},
    status: 'NODE_STATUS_ALIVE',
    joinedAtMs: now,
    lastSeenMs: now,
    statusChangedMs: now,
    isBootstrap: false,
    listenPort: AGENT_DEFAULTS.listenPort,
    relayOffered: false,
    relay: false,
  }));
  await writeFile(file, JSON.stringify({ version: 1, meshName: MESH, cidr: CIDR, createdMs: now, revision: 1, members }));
}

/** What the agent processes say about their agents still below `revision` (for a phase that timed out). */
async function stragglers(children: readonly BenchChild[], revision: number): Promise<string> {
  const parts = await Promise.all(children.map(async (c) => {
    c.send({ op: 'status', revision });
    const m = await c.next((x) => x.op === 'status', 30_000).catch(() => undefined);
    if (!m) return `${c.label}: no answer`;
    if (!m.below) return '';
    return `${c.label}: ${m.below as number} of ${m.of as number} agents below revision ${revision} (e.g. ${(m.examples as string[]).join('; ')}); event loop held up to ${(m.loopMaxMs as number).toFixed(0)} ms`;
  }));
  return parts.filter(Boolean).join(' | ');
}

/** Bytes the process caused to be written to storage so far (/proc/PID/io write_bytes). */
async function diskWrites(pid: number): Promise<number> {
  const io = await readFile(`/proc/${pid}/io`, 'utf8').catch(() => '');
  return Number(/^write_bytes:\s+(\d+)/m.exec(io)?.[1] ?? 0);
}

async function cpuOf(pid: number): Promise<number> {
  return (await procStats(pid)).cpuSeconds;
}

async function run(n: number): Promise<SizeResult> {
  const mode = n >= RESUME_FROM ? 'resume' : 'fresh';
  const fullCount = n <= FULL_MAX ? n : Math.min(FULL_SAMPLE, n);
  const wave = envInt('BENCH_WAVE', mode === 'fresh' ? n : 1000);
  const r: SizeResult = { n, mode, wave: Math.min(wave, n), full: fullCount, light: n - fullCount, procs: 0, figures: {}, timedOut: [] };
  const f = r.figures;
  const dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-bench-'));
  tempDirs.add(dir);
  const keys = Array.from({ length: n }, () => randomPrivateKey());
  const names = keys.map((_, i) => `n${i}`);
  const stateFile = path.join(dir, 'bootstrap.json');
  if (mode === 'resume') await writeState(stateFile, names, keys);

  const prof = process.env.BENCH_CHILD_PROF;
  const boot = new BenchChild('bootstrap-child', 'bootstrap-child.ts', [stateFile], { nodeFlags: prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [] });
  const children: BenchChild[] = [];
  try {
    const bootT0 = nowMs();
    const port = Number((await within(600, () => 'the bootstrap did not print its port', boot.next((m) => /^\d+$/.test(m.line)))).line);
    f['bootstrap start (s)'] = ((nowMs() - bootT0) / 1000).toFixed(2) + (mode === 'resume' ? ` (loading ${n} members)` : '');
    const table = async () => {
      boot.send('table');
      const m = await boot.next((x) => 'members' in x, 600_000);
      return { members: m.members as number, revision: m.revision as number, fanouts: m.fanouts as number, fanoutChanges: m.fanoutChanges as number };
    };

    // Agents: full ones spread over PROCS processes, or light ones there and the full sample in one more.
    const fullChild = n > FULL_MAX;
    const agentProf = process.env.BENCH_AGENT_PROF;
    const agentFlags = { nodeFlags: [...AGENT_NODE_FLAGS, ...(agentProf ? ['--cpu-prof', `--cpu-prof-dir=${agentProf}`] : [])] };
    for (let p = 0; p < PROCS; p++) children.push(new BenchChild(`agent-child ${p}`, 'agent-child.ts', [], agentFlags));
    if (fullChild) children.push(new BenchChild('agent-child full', 'agent-child.ts', [], agentFlags));
    r.procs = children.length;
    const owner = (i: number) => (fullChild ? (i < fullCount ? children[PROCS]! : children[(i - fullCount) % PROCS]!) : children[i % PROCS]!);
    const specs = new Map<BenchChild, object[]>(children.map((c) => [c, []]));
    for (let i = 0; i < n; i++) specs.get(owner(i))!.push({ index: i, name: names[i], privateKey: keys[i], full: i < fullCount });
    for (const c of children) c.send({ op: 'agents', port, heartbeatMs: HEARTBEAT_MS, callTimeoutMs: CALL_TIMEOUT_MS, ...(FULL_RECONCILE_S ? { fullReconcileMs: FULL_RECONCILE_S * 1000 } : {}), agents: specs.get(c) });
    await Promise.all(children.map((c) => c.next((m) => m.op === 'ready', 300_000)));
    log(`${n} agents (${fullCount} full, ${n - fullCount} light) in ${children.length} processes; bootstrap on port ${port}, ${mode === 'resume' ? `started from a state file of ${n} members` : 'empty'}`);

    // Establish: every agent joins (in waves of `wave`), then every one has every member.
    const meter = new WireMeter(port);
    await meter.begin();
    // Resets each process's longest event-loop stall (every answer that reports it does).
    await Promise.all(children.map(async (c) => {
      c.send({ op: 'status', revision: 0 });
      await c.next((x) => x.op === 'status');
    }));
    const loopEst: number[] = [];
    const bootIo0 = await diskWrites(boot.pid);
    const fanouts0 = await table();
    const bootCpu0 = await cpuOf(boot.pid);
    const bootSys0 = (await procStats(boot.pid)).systemSeconds;
    const childCpu0 = await Promise.all(children.map((c) => cpuOf(c.pid)));
    // Fresh joins only (a resumed table holds every member from the start): when the bootstrap had
    // taken in every join, beside when the agents had their answers and had started.
    if (mode === 'fresh') boot.send(`admitted ${n + 1}`);
    const admittedAt = mode === 'fresh' ? boot.next((x) => 'admitted' in x, ESTABLISH_TIMEOUT_S * 1000).then((m) => m.admitted as number, () => undefined) : undefined;
    const t0 = nowMs();
    let joinedCount = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        await sleep(2000);
        if (sampling) await meter.sample().catch(() => {});
      }
    })();
    let established = false;
    try {
      let failed = 0;
      let firstError = '';
      let lastJoinAt = t0;
      let lastAnsweredAt = t0;
      await within(ESTABLISH_TIMEOUT_S, () => `${joinedCount} of ${n} joins answered`, (async () => {
        for (let from = 0; from < n; from += wave) {
          const to = Math.min(n, from + wave);
          const answers = children.map((c) => c.next((m) => m.op === 'joined'));
          for (const c of children) c.send({ op: 'start', from, to });
          for (const a of await Promise.all(answers)) {
            joinedCount += a.count as number;
            failed += a.failed as number;
            firstError ||= a.error as string;
            if ((a.count as number) > 0) {
              lastJoinAt = Math.max(lastJoinAt, a.at as number);
              lastAnsweredAt = Math.max(lastAnsweredAt, a.answeredAt as number);
            }
          }
          if (n > wave) log(`joins answered: ${joinedCount} of ${n} (${((nowMs() - t0) / 1000).toFixed(1)} s)`);
        }
      })());
      r.joinedS = (lastJoinAt - t0) / 1000;
      f['all joined (s)'] = r.joinedS.toFixed(2) + (failed ? ` (${failed} failed: ${firstError})` : '');
      const admitted = await admittedAt;
      if (admitted !== undefined) f['of which: the bootstrap had taken in every join / the agents had every answer in hand (s)'] = `${((admitted - t0) / 1000).toFixed(2)} / ${((lastAnsweredAt - t0) / 1000).toFixed(2)}`;
      const t = await table();
      let reachedAll = 0;
      const reached = await within(ESTABLISH_TIMEOUT_S, () => `${reachedAll} of ${children.length} agent processes have all ${n} agents at revision ${t.revision}`, Promise.all(children.map(async (c) => {
        c.send({ op: 'await', revision: t.revision });
        const m = await c.next((x) => x.op === 'reached' && x.revision === t.revision);
        reachedAll++;
        loopEst.push(m.loopMaxMs as number);
        return m.at as number;
      })));
      const establishedS = (Math.max(...reached) - t0) / 1000;
      f['mesh established: every agent has every member (s)'] = establishedS.toFixed(2);
      f['table after joins: members / revision'] = `${t.members} / ${t.revision}`;
      const fanoutsEst = t.fanouts - fanouts0.fanouts;
      f['fan-outs of live changes to the Watch streams while establishing (changes per fan-out, mean)'] = `${fanoutsEst} (${fanoutsEst ? ((t.fanoutChanges - fanouts0.fanoutChanges) / fanoutsEst).toFixed(1) : '0'})`;
      established = true;
    } catch (err) {
      if (!(err instanceof PhaseTimeout)) throw err;
      r.timedOut.push({ phase: 'establish', note: err.message });
      log(`${n}: establishing the mesh ${err.message}; ${await stragglers(children, (await table()).revision)}`);
    } finally {
      sampling = false;
      await sampler;
    }
    const establishWall = (nowMs() - t0) / 1000;
    // The convergence answers carried each process's longest stall since the status sent before the start.
    if (loopEst.length) f['agent processes: longest event-loop stall while establishing (ms, each)'] = loopEst.map((x) => x.toFixed(0)).join(' / ');
    const establishBytes = await meter.total();
    const bootCpuEst = (await cpuOf(boot.pid)) - bootCpu0;
    const bootSysEst = (await procStats(boot.pid)).systemSeconds - bootSys0;
    const childCpuEst = (await Promise.all(children.map((c) => cpuOf(c.pid)))).map((c, i) => c - childCpu0[i]!);
    f['bytes sent by the bootstrap while establishing (MB, measured)'] = `${(establishBytes.bytes / 1e6).toFixed(1)} over ${establishBytes.connections} connections${meter.closed ? ` (${meter.closed} closed on the way: counted to their last 2-s sample)` : ''}`;
    const bootIo = (await diskWrites(boot.pid)) - bootIo0;
    f['bootstrap\'s writes to storage while establishing (MB, /proc/PID/io write_bytes: its state file)'] = (bootIo / 1e6).toFixed(1);
    f['bootstrap CPU while establishing (% of a core)'] = `${((bootCpuEst / establishWall) * 100).toFixed(0)} (${bootCpuEst.toFixed(1)} s over ${establishWall.toFixed(1)} s; ${bootSysEst.toFixed(1)} s of it in the kernel)`;
    f['agent processes\' CPU while establishing (s, each)'] = childCpuEst.map((c) => c.toFixed(1)).join(' / ');
    if (!established) return r;

    // Changes: a node joins through a client of our own (its answer, the whole membership, is
    // not traffic to the agents: its connection is left out of the byte counts).
    const Mesh = loadProtos().mesh.wgmesh.v1.Mesh;
    const raw: MeshClient = new Mesh(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    const before = await sampleWire(port);
    await new Promise<void>((resolve) => raw.join({ meshName: 'nosuchmesh', nodeName: 'warmup', publicKey: publicKeyFromPrivate(randomPrivateKey()) }, () => resolve()));
    const own = [...(await sampleWire(port)).keys()].filter((k) => !before.has(k));
    for (const k of own) meter.exclude(k);
    if (own.length !== 1) log(`${n}: expected one new connection for the benchmark's own client, found ${own.length} (all left out of byte counts)`);
    const latencies: number[] = [];
    const changeBytes: number[] = [];
    const changeWindows: number[] = [];
    const extraKeys: string[] = [];
    let revisionNote = '';
    let loopMax = 0;
    try {
      for (let c = 0; c < CHANGES; c++) {
        const { revision } = await table();
        const target = revision + 1;
        let reachedProcs = 0;
        const answers = children.map((ch) => ch.next((m) => m.op === 'reached' && m.revision === target).then((m) => {
          reachedProcs++;
          return m;
        }));
        for (const ch of children) ch.send({ op: 'await', revision: target });
        await meter.begin();
        const key = randomPrivateKey();
        extraKeys.push(key);
        const tc = nowMs();
        const res = await new Promise<{ revision: number }>((resolve, reject) =>
          raw.join({ meshName: MESH, nodeName: `extra${c}`, publicKey: publicKeyFromPrivate(key), nodeSecret: nodeSecretFromPrivate(key), listenPort: AGENT_DEFAULTS.listenPort, endpoints: [{ ip: '192.0.2.254', port: AGENT_DEFAULTS.listenPort, kind: 'ENDPOINT_KIND_LAN' }] },
            { deadline: Date.now() + CALL_TIMEOUT_MS }, (err, x) => (err ? reject(err) : resolve(x as never))));
        const answeredMs = nowMs() - tc;
        if (Number(res.revision) !== target) revisionNote = `change ${c + 1} had revision ${res.revision}, not ${target}: something else changed the table meanwhile`;
        const reached = await within(CHANGE_TIMEOUT_S, () => `change ${c + 1} of ${CHANGES} (node extra${c} joins): ${reachedProcs} of ${children.length} agent processes had all their agents at its revision`, Promise.all(answers));
        const done = Math.max(...reached.map((m) => m.at as number));
        latencies.push(done - tc);
        for (const m of reached) loopMax = Math.max(loopMax, m.loopMaxMs as number);
        log(`${n}: change ${c + 1} (its join answered in ${answeredMs.toFixed(0)} ms): ${reached.map((m) => `${((m.at as number) - tc).toFixed(0)} ms (loop held up to ${(m.loopMaxMs as number).toFixed(0)} ms; full passes so far ${m.fullPasses as number})`).join(', ')}`);
        const { bytes } = await meter.total();
        changeBytes.push(bytes / n);
        changeWindows.push((nowMs() - tc) / 1000);
      }
    } catch (err) {
      if (!(err instanceof PhaseTimeout)) throw err;
      r.timedOut.push({ phase: 'change', note: err.message });
      log(`${n}: ${err.message}; ${await stragglers(children, (await table()).revision)}`);
    }
    if (latencies.length) {
      r.p50Ms = percentile(latencies, 50);
      r.p99Ms = percentile(latencies, 99);
      r.bytesPerChange = percentile(changeBytes, 50);
      f[`change applied by all, p50 / p99 (ms, ${latencies.length} changes)`] = `${r.p50Ms.toFixed(1)} / ${r.p99Ms.toFixed(1)}`;
      f['bytes per change per agent (measured at the bootstrap\'s sockets; median, min–max)'] =
        `${r.bytesPerChange.toFixed(1)} (${Math.min(...changeBytes).toFixed(1)}–${Math.max(...changeBytes).toFixed(1)}; windows ${percentile(changeWindows, 50).toFixed(2)} s median, heartbeat answers in them included)`;
      f['agent processes: longest event-loop stall during the changes (ms)'] = loopMax.toFixed(0);
    }
    if (revisionNote) f['note'] = revisionNote;

    // The encoded size of one membership record: a Watch snapshot as the bootstrap sent it (bytes
    // of the message, undecoded), divided by the nodes in it.
    if (extraKeys.length) {
      const generic = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
      const watch = Mesh.service.Watch as unknown as { requestSerialize: (v: unknown) => Buffer; responseDeserialize: (b: Buffer) => { snapshot?: { nodes: unknown[] } } };
      const k = extraKeys[0]!;
      const snapshot = await within(120, () => 'no snapshot', new Promise<Buffer>((resolve, reject) => {
        const call = generic.makeServerStreamRequest('/wgmesh.v1.Mesh/Watch', watch.requestSerialize, (b: Buffer) => b,
          { meshName: MESH, nodeName: 'extra0', publicKey: publicKeyFromPrivate(k), nodeSecret: nodeSecretFromPrivate(k), sinceRevision: 0 });
        call.once('data', (b: Buffer) => {
          resolve(b);
          call.cancel();
        });
        call.once('error', (e: grpc.ServiceError) => {
          if (e.code !== grpc.status.CANCELLED) reject(e);
        });
      })).catch(() => undefined);
      generic.close();
      if (snapshot) {
        const nodes = watch.responseDeserialize(snapshot).snapshot?.nodes.length ?? 0;
        const recordBytes = snapshot.length / nodes;
        const floor = n * (n - 1) * recordBytes;
        f['encoded membership record (bytes: a Watch snapshot\'s message size ÷ its nodes)'] = `${recordBytes.toFixed(1)} (${snapshot.length} bytes, ${nodes} nodes)`;
        f['establishing: bytes measured vs floor n·(n−1)·record (MB)'] = `${(establishBytes.bytes / 1e6).toFixed(1)} vs ${(floor / 1e6).toFixed(1)} (×${(establishBytes.bytes / floor).toFixed(2)})`;
      }
    }
    raw.close();

    // Idle: heartbeats only, at the agents' own interval.
    const counters = async () => {
      const all = await Promise.all(children.map(async (c) => {
        c.send({ op: 'counters' });
        return c.next((m) => m.op === 'counters');
      }));
      return all.reduce<Record<string, number>>((sum, m) => {
        for (const [key, v] of Object.entries(m)) if (typeof v === 'number') sum[key] = key === 'loopMaxMs' ? Math.max(sum[key] ?? 0, v) : (sum[key] ?? 0) + v;
        return sum;
      }, {});
    };
    const c0 = await counters();
    await meter.begin();
    const idleBoot0 = await cpuOf(boot.pid);
    const idleChild0 = await Promise.all(children.map((c) => cpuOf(c.pid)));
    const ti = nowMs();
    await sleep(IDLE_S * 1000);
    const idleS = (nowMs() - ti) / 1000;
    const idleBoot = (await cpuOf(boot.pid)) - idleBoot0;
    const idleChild = (await Promise.all(children.map((c) => cpuOf(c.pid)))).map((c, i) => c - idleChild0[i]!);
    const idleBytes = await meter.total();
    const c1 = await counters();
    f['agent processes: longest event-loop stall while idle (ms, longest in any)'] = (c1.loopMaxMs ?? 0).toFixed(0);
    r.idleCpuPct = (idleBoot / idleS) * 100;
    f[`bootstrap CPU idle, heartbeats every ${HEARTBEAT_MS / 1000} s (% of a core, over ${idleS.toFixed(0)} s)`] = r.idleCpuPct.toFixed(1);
    f['agent processes\' CPU idle (% of a core, each)'] = idleChild.map((c) => ((c / idleS) * 100).toFixed(1)).join(' / ');
    f['bytes sent by the bootstrap idle (per agent per second, measured)'] = (idleBytes.bytes / n / idleS).toFixed(1);
    if (r.light) f['light agents\' heartbeats answered while idle (per second)'] = `${(((c1.heartbeats ?? 0) - (c0.heartbeats ?? 0)) / idleS).toFixed(0)} (expected ${(r.light / (HEARTBEAT_MS / 1000)).toFixed(0)}); sent as unary Updates instead of on the Heartbeat stream: ${(c1.heartbeatsUnary ?? 0) - (c0.heartbeatsUnary ?? 0)}; watch ends so far: ${c1.watchEnds ?? 0}, join retries: ${c1.joinRetries ?? 0}`;

    // A new node joins the idle mesh: a full Agent, timed until it knows every member.
    try {
      const t = await table();
      const host = fullChild ? children[PROCS]! : children[0]!;
      host.send({ op: 'newcomer', name: 'newcomer', members: t.members + 1 });
      const m = await within(NEWCOMER_TIMEOUT_S, () => `the new node (a full Agent) did not reach ${t.members + 1} members`, host.next((x) => x.op === 'newcomer'));
      if (m.error) throw new Error(`newcomer: ${m.error as string}`);
      r.newcomerMs = m.membershipMs as number;
      f['new node: join answered / has the full membership / WireGuard has every peer (ms)'] = `${(m.joinedMs as number).toFixed(0)} / ${(m.membershipMs as number).toFixed(0)} / ${(m.peersMs as number).toFixed(0)}`;
    } catch (err) {
      if (!(err instanceof PhaseTimeout)) throw err;
      r.timedOut.push({ phase: 'newcomer', note: err.message });
    }

    const bs: ProcStats = await procStats(boot.pid);
    r.bootRssMb = bs.rssMb;
    r.bootPeakMb = bs.peakRssMb;
    f['bootstrap RSS now / peak (MB)'] = `${bs.rssMb.toFixed(0)} / ${bs.peakRssMb.toFixed(0)}`;
    boot.send('memory');
    const mem = await boot.next((x) => 'memory' in x, 10_000);
    const mb = (v: unknown) => ((v as number) / 1048576).toFixed(0);
    const parts = (m: Record<string, number>) => `heap ${mb(m.heapUsed)} of ${mb(m.heapTotal)}, external ${mb(m.external)} (array buffers ${mb(m.arrayBuffers)}), rss ${mb(m.rss)}`;
    f['bootstrap memory now; each part\'s peak (MB, process.memoryUsage sampled every 0.5 s)'] = `${parts(mem.memory as Record<string, number>)}; peaks: ${parts(mem.memoryPeak as Record<string, number>)}`;
    const cs = await Promise.all(children.map((c) => procStats(c.pid)));
    f['agent processes\' RSS now / peak (MB, each)'] = cs.map((s) => `${s.rssMb.toFixed(0)} / ${s.peakRssMb.toFixed(0)}`).join(', ');
    if (fullChild) f[`full Agents' process (${fullCount} full Agents and the new node): RSS (MB)`] = `${cs[PROCS]!.rssMb.toFixed(0)}`;
    return r;
  } finally {
    await Promise.all(children.map((c) => {
      c.send({ op: 'stop' });
      return c.stop(process.env.BENCH_AGENT_PROF ? 60_000 : 10_000);
    }));
    await boot.stop(prof ? 60_000 : 10_000);
    await rm(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
  }
}

function describe(r: SizeResult): string {
  const kind = r.light ? `${r.light} light + ${r.full} full` : `${r.full} full`;
  const start = r.mode === 'resume' ? `bootstrap started from a state file of all ${r.n}; agents re-join in waves of ${r.wave}` : r.wave >= r.n ? 'all join at once' : `join in waves of ${r.wave}`;
  return `${kind}; ${start}`;
}

const results: SizeResult[] = [];
for (const n of sizes) {
  log(`size ${n}`);
  const t = nowMs();
  try {
    results.push(await run(n));
  } catch (err) {
    // A size that failed outright is reported as such; the other sizes still run.
    log(`${n}: failed: ${err instanceof Error ? err.stack : String(err)}`);
    results.push({ n, mode: n >= RESUME_FROM ? 'resume' : 'fresh', wave: 0, full: 0, light: 0, procs: 0, figures: { error: err instanceof Error ? err.message : String(err) }, timedOut: [{ phase: 'run', note: `failed: ${err instanceof Error ? err.message : String(err)}` }] });
  }
  log(`size ${n} done in ${((nowMs() - t) / 1000).toFixed(0)} s: ${JSON.stringify(results.at(-1)!)}`);
}
await stopChildren();

// One table: a row per figure, a column per size.
const rowNames: string[] = ['agents (kind; how they start)', 'agent processes'];
for (const r of results) for (const k of Object.keys(r.figures)) if (!rowNames.includes(k)) rowNames.push(k);
const cell = (r: SizeResult, k: string) => {
  if (k === 'agents (kind; how they start)') return `${r.n} (${describe(r)})`;
  if (k === 'agent processes') return `${r.procs}`;
  return r.figures[k] ?? (r.timedOut.length ? `— (${r.timedOut.map((t) => `${t.phase} ${t.note}`).join('; ')})` : '—');
};
const out: string[] = [];
out.push(`| figure | ${results.map((r) => `${r.n} agents`).join(' | ')} |`, `|---|${results.map(() => '---').join('|')}|`);
for (const k of rowNames) out.push(`| ${k} | ${results.map((r) => cell(r, k)).join(' | ')} |`);

// Targets.
const at = (n: number) => results.find((r) => r.n === n);
const verdict = (r: SizeResult | undefined, phase: string[], value: number | undefined, ok: (v: number) => boolean, show: (v: number) => string) => {
  if (!r) return ['not run', '—'];
  if (value === undefined) {
    const t = r.timedOut.find((x) => phase.includes(x.phase)) ?? r.timedOut[0];
    return ['—', t ? `**not met** (${t.note})` : '**not measured**'];
  }
  return [show(value), ok(value) ? '**met**' : '**not met**'];
};
const r1k = at(1000);
const r10k = at(10000);
const bytesRuns = results.filter((r) => r.bytesPerChange !== undefined);
const bytesVals = bytesRuns.map((r) => r.bytesPerChange!);
const spread = bytesVals.length ? (Math.max(...bytesVals) - Math.min(...bytesVals)) / Math.min(...bytesVals) : undefined;
const targets: string[][] = [
  ['1,000 agents joining at once: all joined', ...(r1k && r1k.mode === 'fresh' && r1k.wave >= 1000 ? verdict(r1k, ['establish'], r1k.joinedS, (v) => v <= 10, (v) => `${v.toFixed(2)} s`) : ['not run', '—']), '≤ 10 s'],
  ['1,000 agents: one change applied by all, p99', ...verdict(r1k, ['change', 'establish'], r1k?.p99Ms, (v) => v <= 100, (v) => `${v.toFixed(1)} ms`), '≤ 100 ms'],
  ['10,000 agents: one change applied by all, p99', ...verdict(r10k, ['change', 'establish'], r10k?.p99Ms, (v) => v <= 1000, (v) => `${v.toFixed(1)} ms`), '≤ 1 s'],
  ['10,000 agents: a new node\'s join until it has the full membership (one full Agent)', ...verdict(r10k, ['newcomer', 'change', 'establish'], r10k?.newcomerMs, (v) => v <= 2000, (v) => `${v.toFixed(0)} ms`), '≤ 2 s'],
  ['10,000 agents: bootstrap RSS (peak)', ...verdict(r10k, ['establish'], r10k?.bootPeakMb, (v) => v <= 1024, (v) => `${v.toFixed(0)} MB`), '≤ 1 GB'],
  [`10,000 idle agents (heartbeats every ${HEARTBEAT_MS / 1000} s): bootstrap CPU`, ...verdict(r10k, ['establish', 'change'], r10k?.idleCpuPct, (v) => v <= 30, (v) => `${v.toFixed(1)} % of a core`), '≤ 30 % of a core'],
  ['bytes per change per agent, measured on the wire', ...(bytesRuns.length >= 2 && spread !== undefined
    ? [`${bytesRuns.map((r) => r.bytesPerChange!.toFixed(1)).join(' / ')} (N = ${bytesRuns.map((r) => r.n).join(' / ')}; spread ${(spread * 100).toFixed(0)} %)`, spread <= 0.1 ? '**met**' : '**not met**']
    : ['not enough sizes measured', '—']), 'flat from 100 to 10,000 (spread ≤ 10 %)'],
];
out.push('', '| target | result | status | goal |', '|---|---|---|---|', ...targets.map((t) => `| ${t.join(' | ')} |`));
out.push('',
  `How it runs: the bootstrap (bench/bootstrap-child.ts) in a process of its own; the agents spread over ${PROCS} processes (BENCH_AGENT_PROCS; bench/agent-child.ts; V8 flags \`${AGENT_NODE_FLAGS.join(' ') || 'none'}\`, BENCH_AGENT_NODE_FLAGS), each agent a real gRPC client on its own loopback TCP connection (grpc-js otherwise shares one connection between all clients of a process), heartbeating every ${HEARTBEAT_MS / 1000} s (the agents' default). Up to ${FULL_MAX} agents (BENCH_FULL_MAX) every agent is a full \`Agent\` with the in-memory WireGuard driver. Above that they are light agents — real gRPC clients of the Mesh service (Join, the Watch stream decoded with the same proto definitions, heartbeats at the agents' interval with the node secret, sent as agents send them: messages on a Mesh.Heartbeat stream) that decode every event but keep only the revision and counters — plus ${FULL_SAMPLE} full Agents (BENCH_FULL_SAMPLE) in a process of their own: a full Agent keeps every member (netmap and WireGuard peers), and 10,000 of them would hold 10^8 records. "Applied by all" is, for a full Agent, a WireGuard pass ended with its netmap at the change's revision; for a light agent, the change's event received and decoded. The new node is always one full Agent. Sizes from ${RESUME_FROM} (BENCH_RESUME_FROM) start the bootstrap from a state file of all their agents, which then re-join as agents with saved state do (each Join answer carries the whole membership), in waves; smaller sizes join an empty bootstrap.`,
  '',
  'Measured, not computed: bytes are the bootstrap\'s TCP bytes_sent per connection as the kernel counts them (`ss -tin`, its port; gRPC and HTTP/2 framing included, IP/TCP headers not), summed over the agents\' connections before and after each phase; the benchmark\'s own client connection is left out. A change\'s bytes are counted from just before it until every agent has it, so heartbeat answers falling in that window are included (the idle row gives their rate). Times are wall clock across processes. CPU and RSS are from /proc. The floor for establishing is computed: n·(n−1) records × the measured encoded record size.',
);
process.stdout.write(out.join('\n') + '\n');
