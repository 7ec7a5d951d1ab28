// A process of simulated agents for the control-plane benchmark (control-plane.ts spawns one or
// more). Each agent is a real gRPC client of the bootstrap over loopback, on its own connection:
// a full Agent with the in-memory WireGuard driver, or a light agent (light-agent.ts).
//
// Talks JSON lines: commands on stdin, answers on stdout (progress and errors on stderr). Exits
// when stdin closes, so it never outlives the benchmark.
//
//   {"op":"agents","port":P,"heartbeatMs":H,"callTimeoutMs":T,"fullReconcileMs":F,"agents":[{"index","name","privateKey","full"}]}
//        -> {"op":"ready","count":N}
//   {"op":"start","from":I,"to":J}   starts the agents with from <= index < to
//        -> {"op":"joined","at":MS,"answeredAt":MS2,"count":K,"failed":F,"error":"..."}   once every one was answered
//           and started (a full Agent: device up, every peer configured); MS2: the last Join answer in hand
//   {"op":"await","revision":R}   -> {"op":"reached","revision":R,"at":MS}
//        once every started agent has revision >= R: a light agent has received (and decoded) it,
//        a full agent has applied it (a WireGuard pass ended after its netmap reached R). MS is
//        when the last of them got there (for agents already there: their latest change); with
//        "loopMaxMs", the longest this process's event loop was held up since its last such answer;
//        "fullPasses", the full WireGuard passes its full Agents made so far.
//   {"op":"newcomer","name":N,"members":M}   a fresh full Agent joins
//        -> {"op":"newcomer","joinedMs":A,"membershipMs":B,"peersMs":C}
//           (from its start: join answered, netmap holds all M members, WireGuard has M-1 peers)
//   {"op":"counters"}  -> {"op":"counters", ...summed light-agent counters}
//   {"op":"status","revision":R} -> {"op":"status","below":K,"of":N,"examples":[...]}   agents still below R
//   {"op":"stop"}      -> stops the agents (no Leave), exits
//
// All times MS are wall-clock milliseconds (performance.timeOrigin + performance.now()), so that
// they compare across processes.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import { Agent, AGENT_DEFAULTS, createGrpcControlClient, MemoryWgDriver, type Endpoint } from '@wgmesh/agent';
import { LightAgent, randomPrivateKey } from './light-agent.js';

interface AgentSpec {
  readonly index: number;
  readonly name: string;
  readonly privateKey: string;
  readonly full: boolean;
}

/** One simulated node, full or light, behind what the benchmark asks of it. */
interface Sim {
  readonly spec: AgentSpec;
  started: boolean;
  /** Revision applied (full) or received (light). */
  revision: number;
  /** When the revision last moved. */
  changedAt: number;
  /** When its Join answer was in hand (0: not yet): a full Agent goes on to bring its device up and configure every peer. */
  answeredAt: number;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** What it is doing, for a phase that timed out. */
  describe(): string;
}

const MESH = 'bench';
const nowMs = () => performance.timeOrigin + performance.now();
const send = (msg: object) => process.stdout.write(`${JSON.stringify(msg)}\n`);
const endpointsOf = (i: number): Endpoint[] => [{ ip: `192.0.2.${(i % 250) + 1}`, port: AGENT_DEFAULTS.listenPort, kind: 'ENDPOINT_KIND_LAN' }];

let address = '';
let heartbeatMs: number = AGENT_DEFAULTS.heartbeatMs;
/** Full Agents' periodic full reconcile (undefined: the agents' default). */
let fullReconcileMs: number | undefined;
let callTimeoutMs = 60_000;
/** How long this process's event loop was held up: when it is, the harness (not the bootstrap) sets the figures. */
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
/** The longest event-loop delay (ms) since the last answer that reported it. */
function loopMaxMs(): number {
  const max = loopDelay.max / 1e6;
  loopDelay.reset();
  return max;
}
const sims: Sim[] = [];
const fullAgents: Agent[] = [];
/** Full WireGuard passes (device read back, every peer diffed) the full Agents made so far: the harness reads the reconciler's own count. */
function fullPasses(): number {
  let sum = 0;
  for (const agent of fullAgents) sum += (agent as unknown as { reconciler: { stats: { fullPasses: number } } }).reconciler.stats.fullPasses;
  return sum;
}
const lights: LightAgent[] = [];
/** Pending awaits: revision -> agents still below it and the latest time one got there. */
const awaits = new Map<number, { below: Set<Sim>; at: number }>();

function moved(sim: Sim, revision: number): void {
  if (revision <= sim.revision) return;
  sim.revision = revision;
  sim.changedAt = nowMs();
  for (const [r, w] of awaits) {
    if (revision >= r && w.below.delete(sim)) {
      w.at = Math.max(w.at, sim.changedAt);
      if (w.below.size === 0) {
        awaits.delete(r);
        send({ op: 'reached', revision: r, at: w.at, loopMaxMs: loopMaxMs(), fullPasses: fullPasses() });
      }
    }
  }
}

function fullAgent(spec: AgentSpec): { agent: Agent; driver: MemoryWgDriver } {
  const driver = new MemoryWgDriver(`wg${spec.index}`, { record: false });
  const control = createGrpcControlClient({
    address, credentials: grpc.credentials.createInsecure(), callTimeoutMs,
    // Its own TCP connection, as a real node has (grpc-js shares one per target and process otherwise).
    channelOptions: { 'grpc.use_local_subchannel_pool': 1 },
  });
  const agent = new Agent({ control, driver }, { meshName: MESH, nodeName: spec.name, privateKey: spec.privateKey, heartbeatMs, ...(fullReconcileMs ? { fullReconcileMs } : {}), endpoints: () => endpointsOf(spec.index) });
  fullAgents.push(agent);
  return { agent, driver };
}

function makeSim(spec: AgentSpec): Sim {
  if (spec.full) {
    const { agent } = fullAgent(spec);
    const sim: Sim = {
      spec, started: false, revision: 0, changedAt: 0, answeredAt: 0,
      start: () => agent.start(),
      stop: () => agent.stop({ leave: false }),
      describe: () => `${spec.name} (full): revision ${sim.revision}, netmap at ${agent.netmap.revision}, ${agent.netmap.nodes.size} nodes, ${agent.connected ? 'watching' : 'not watching'}, joins ${agent.stats.joins}, watch connects ${agent.stats.watchConnects}${agent.controlError ? `, error ${agent.controlError}` : ''}`,
    };
    // Applied: a WireGuard pass ended with the netmap at this revision.
    agent.on('reconciled', () => moved(sim, agent.netmap.revision));
    agent.on('step', (step: { name: string }) => {
      if (step.name === 'joined' && !sim.answeredAt) sim.answeredAt = nowMs();
    });
    return sim;
  }
  const light = new LightAgent({ address, meshName: MESH, nodeName: spec.name, privateKey: spec.privateKey, endpoints: endpointsOf(spec.index), heartbeatMs, callTimeoutMs });
  lights.push(light);
  const sim: Sim = {
    spec, started: false, revision: 0, changedAt: 0, answeredAt: 0,
    // A light agent's start ends with its Join answer decoded.
    start: async () => {
      await light.start();
      sim.answeredAt = nowMs();
    },
    stop: async () => light.stop(),
    describe: () => `${spec.name} (light): revision ${sim.revision}, ${JSON.stringify(light.counters)}`,
  };
  light.onRevision = (r) => moved(sim, r);
  return sim;
}

async function start(from: number, to: number): Promise<void> {
  const wave = sims.filter((s) => s.spec.index >= from && s.spec.index < to);
  let failed = 0;
  let error = '';
  let answered = 0;
  const progress = setInterval(() => process.stderr.write(`agent-child ${process.pid}: ${answered} of ${wave.length} joins answered\n`), 30_000);
  await Promise.all(wave.map(async (s) => {
    s.started = true;
    try {
      await s.start();
    } catch (err) {
      failed++;
      error ||= err instanceof Error ? err.message : String(err);
    }
    answered++;
  }));
  clearInterval(progress);
  send({ op: 'joined', at: nowMs(), answeredAt: Math.max(0, ...wave.map((s) => s.answeredAt)), count: wave.length, failed, error });
}

function awaitRevision(revision: number): void {
  const started = sims.filter((s) => s.started);
  const below = new Set(started.filter((s) => s.revision < revision));
  const at = Math.max(0, ...started.filter((s) => s.revision >= revision).map((s) => s.changedAt));
  if (below.size === 0) send({ op: 'reached', revision, at, loopMaxMs: loopMaxMs(), fullPasses: fullPasses() });
  else awaits.set(revision, { below, at });
}

async function newcomer(name: string, members: number): Promise<void> {
  const spec: AgentSpec = { index: 1_000_000, name, privateKey: randomPrivateKey(), full: true };
  const { agent, driver } = fullAgent(spec);
  const t0 = nowMs();
  let joinedMs = 0;
  let membershipMs = 0;
  let peersMs = 0;
  const done = new Promise<void>((resolve) => {
    const check = () => {
      if (!membershipMs && agent.netmap.nodes.size >= members) membershipMs = nowMs() - t0;
      if (!peersMs && driver.operationCount > 0) {
        void driver.read().then((c) => {
          if (!peersMs && c.peers.length >= members - 1) {
            peersMs = nowMs() - t0;
            resolve();
          }
        });
      }
    };
    agent.on('reconciled', check);
    agent.on('change', check);
  });
  await agent.start();
  joinedMs = nowMs() - t0;
  await done;
  send({ op: 'newcomer', joinedMs, membershipMs, peersMs });
  await agent.stop({ leave: false });
}

async function stopAll(): Promise<void> {
  await Promise.all(sims.filter((s) => s.started).map((s) => s.stop().catch(() => {})));
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (!line.trim()) return;
  const msg = JSON.parse(line) as Record<string, unknown>;
  switch (msg.op) {
    case 'agents': {
      address = `127.0.0.1:${msg.port as number}`;
      heartbeatMs = (msg.heartbeatMs as number | undefined) ?? heartbeatMs;
      fullReconcileMs = (msg.fullReconcileMs as number | undefined) ?? fullReconcileMs;
      callTimeoutMs = (msg.callTimeoutMs as number | undefined) ?? callTimeoutMs;
      for (const spec of msg.agents as AgentSpec[]) sims.push(makeSim(spec));
      send({ op: 'ready', count: sims.length });
      break;
    }
    case 'start':
      void start(msg.from as number, msg.to as number);
      break;
    case 'await':
      awaitRevision(msg.revision as number);
      break;
    case 'newcomer':
      newcomer(msg.name as string, msg.members as number).catch((err: unknown) => send({ op: 'newcomer', error: err instanceof Error ? err.message : String(err) }));
      break;
    case 'counters': {
      const sum: Record<string, number> = {};
      for (const l of lights) for (const [k, v] of Object.entries(l.counters)) sum[k] = (sum[k] ?? 0) + v;
      send({ op: 'counters', ...sum, loopMaxMs: loopMaxMs() });
      break;
    }
    case 'status': {
      // The started agents below a revision, a few of them described.
      const below = sims.filter((x) => x.started && x.revision < (msg.revision as number));
      send({ op: 'status', below: below.length, of: sims.filter((x) => x.started).length, examples: below.slice(0, 3).map((x) => x.describe()), loopMaxMs: loopMaxMs() });
      break;
    }
    case 'stop':
      void stopAll().then(() => process.exit(0));
      break;
  }
});
// The benchmark is gone (or done): so are we, at once (the bootstrap sees the connections close).
lines.on('close', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
