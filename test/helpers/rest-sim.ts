/**
 * One node with many peers at rest, in this process: an agent (in-memory WireGuard, real timers,
 * gRPC on loopback to a bootstrap in a child process, rest-sim-bootstrap.ts) whose RTT prober runs
 * in the node's rest mode, its probes answered at once by a loopback stand-in; the bootstrap's
 * other members are entries in its table. Once the peers' warm-up is over, this process's CPU time
 * is measured over a window (process.cpuUsage: the node's own work, its heartbeats' client side
 * included; the bootstrap answering them and its liveness passes run in the child and are not
 * counted) and every timer callback of the agent and its prober is counted, by the part that set
 * it. Used by test/sim/rest.test.ts and the bench's rest part.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import {
  Agent, MemoryWgDriver, RTT_REST_DEFAULTS, RttProber, createGrpcControlClient, decodeProbe, encodeProbe, generateKeyPair,
  type PacketAddress, type PacketSocket, type SocketFactory, type Timers,
} from '@wgmesh/agent';
import { MESH } from './inprocess.js';
import { waitFor } from './wait.js';

export interface RestingNodeFigures {
  readonly peers: number;
  readonly seconds: number;
  /**
   * CPU time as a fraction of one core: the median of `windows` equal parts of the window (one
   * major garbage collection, on V8's own threads, can double a 10-s part on a busy machine).
   */
  readonly cpuFraction: number;
  /** Each part's. */
  readonly cpuFractions: readonly number[];
  /** Timer callbacks of the agent and its prober over the window, by part (the source folder and file that set them). */
  readonly timerCallbacks: ReadonlyMap<string, number>;
  readonly proberWakeups: number;
}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BOOTSTRAP_CHILD = fileURLToPath(new URL('./rest-sim-bootstrap.ts', import.meta.url));

/** The bootstrap child with `members` members (this node not yet among them), once it listens. */
async function startBootstrapChild(members: number): Promise<{ child: ChildProcess; port: number }> {
  // From the repository's root, where tsx resolves, whatever the caller's directory (bench/).
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', BOOTSTRAP_CHILD, String(members)], {
    cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'], env: process.env,
  });
  try {
    const lines = createInterface({ input: child.stdout! });
    const first = await Promise.race([
      once(lines, 'line').then(([line]) => line as string),
      once(child, 'exit').then(([code]) => {
        throw new Error(`the simulation's bootstrap (${BOOTSTRAP_CHILD}) exited with ${code} before it listened`);
      }),
      delay(60_000).then(() => {
        throw new Error(`the simulation's bootstrap did not listen within 60 s`);
      }),
    ]);
    return { child, port: (JSON.parse(first) as { port: number }).port };
  } catch (err) {
    await stopBootstrapChild(child);
    throw err;
  }
}

/** Closing its stdin stops it; a child that does not exit within 10 s is killed. */
async function stopBootstrapChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.stdin?.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/**
 * The part of the agent a timer belongs to: the first agent source file on the stack that set it.
 * Read from V8's call sites, not a formatted stack: formatting one (through the source maps) costs
 * more than the timer, and would be measured with the node.
 */
function partOf(): string {
  const original = Error.prepareStackTrace;
  Error.prepareStackTrace = (_err, frames) => frames;
  const holder: { stack?: NodeJS.CallSite[] } = {};
  Error.captureStackTrace(holder, partOf);
  const frames = holder.stack ?? [];
  Error.prepareStackTrace = original;
  for (const frame of frames) {
    const m = /packages\/agent\/src\/([\w/-]+)\.ts/.exec(frame.getFileName() ?? '');
    if (m) return m[1]!;
  }
  return 'other';
}

/** Real timers (unref'd, as the agent's own) that count the callbacks they run, by part, while `counting`. */
function countingTimers(): Timers & { byPart: Map<string, number>; counting: boolean } {
  const timers = {
    byPart: new Map<string, number>(),
    counting: false,
    setTimeout: (fn: () => void, ms: number) => {
      const part = partOf();
      return setTimeout(() => {
        if (timers.counting) timers.byPart.set(part, (timers.byPart.get(part) ?? 0) + 1);
        fn();
      }, ms).unref();
    },
    clearTimeout: (handle: unknown) => clearTimeout(handle as NodeJS.Timeout),
  };
  return timers;
}

/** A socket whose every probe is answered at once, from the echo port of the address it went to. */
const loopbackEcho: SocketFactory = () => {
  let listener: ((packet: Buffer, from: PacketAddress) => void) | undefined;
  const socket: PacketSocket = {
    bind: async () => {},
    address: () => ({ address: '0.0.0.0', port: 40000 }),
    send(packet, port, address, done) {
      const probe = decodeProbe(Buffer.from(packet));
      done?.(null);
      if (probe?.type === 'probe') setImmediate(() => listener?.(encodeProbe({ type: 'reply', seq: probe.seq, timestamp: probe.timestamp }), { address, port }));
    },
    onMessage: (l) => {
      listener = l;
    },
    onError: () => {},
    close: () => {
      listener = undefined;
    },
  };
  return socket;
};

/** Measures a node with `peers` peers at rest over `windowMs` (warm-up shortened to `warmupMs`; `settleMs` at rest before the window). */
export async function measureRestingNode(options: { peers: number; windowMs: number; warmupMs?: number; settleMs?: number; windows?: number }): Promise<RestingNodeFigures> {
  // The bootstrap and the other members besides it (its table holds them), in the child.
  const bootstrap = await startBootstrapChild(options.peers);
  let agent: Agent | undefined;
  let prober: RttProber | undefined;
  try {
    const timers = countingTimers();
    const p = new RttProber({ socketFactory: loopbackEcho, timers }, { restIntervalMs: RTT_REST_DEFAULTS.restIntervalMs, warmupMs: options.warmupMs ?? 3_000 });
    prober = p;
    const a = new Agent(
      { control: createGrpcControlClient({ address: `127.0.0.1:${bootstrap.port}`, credentials: grpc.credentials.createInsecure() }), driver: new MemoryWgDriver('wg-n0', { record: false }), rtt: p, timers },
      { meshName: MESH, nodeName: 'n0', privateKey: generateKeyPair().privateKey, endpoints: () => [{ ip: '192.0.2.10', port: 54540, kind: 'ENDPOINT_KIND_LAN' }] },
    );
    agent = a;
    await a.start();
    await p.start();
    if (a.netmap.nodes.size !== options.peers + 1) throw new Error(`n0 sees ${a.netmap.nodes.size - 1} peers, not ${options.peers}`);
    await waitFor(`n0 probing its ${options.peers} peers at rest`, () => [...a.netmap.nodes.keys()].filter((n) => n !== 'n0').every((n) => p.cadenceOf(n)?.fast === false), 60_000, 100);
    // The last fast round (200 peers: spread over 2 s) over, before the window.
    await waitFor('the last fast round to end', () => p.roundsInProgress === 0, 10_000, 10);
    // At rest a while before the window: V8 optimizes the rest-mode paths once (on its own threads,
    // which process.cpuUsage counts), a one-time cost that is not the steady state measured.
    await delay(options.settleMs ?? 0);

    const [wakeups0, t0] = [p.wakeups, Date.now()];
    const parts = options.windows ?? 1;
    const cpuFractions: number[] = [];
    timers.counting = true;
    for (let i = 0; i < parts; i++) {
      const cpu0 = process.cpuUsage();
      const start = Date.now();
      await delay(options.windowMs / parts);
      const cpu = process.cpuUsage(cpu0);
      cpuFractions.push((cpu.user + cpu.system) / 1000 / (Date.now() - start));
    }
    timers.counting = false;
    const elapsedMs = Date.now() - t0;
    const sorted = [...cpuFractions].sort((a, b) => a - b);
    return {
      peers: options.peers,
      seconds: elapsedMs / 1000,
      cpuFraction: sorted[Math.floor(sorted.length / 2)]!,
      cpuFractions,
      timerCallbacks: timers.byPart,
      proberWakeups: p.wakeups - wakeups0,
    };
  } finally {
    await prober?.stop();
    await agent?.stop({ leave: false });
    await stopBootstrapChild(bootstrap.child);
  }
}
