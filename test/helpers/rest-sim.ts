/**
 * One node with many peers at rest, measured alone: the node (rest-sim-node.mjs: the built agent
 * under plain node, in-memory WireGuard, real timers, its RTT prober in rest mode answered by a
 * loopback stand-in) and its bootstrap (rest-sim-bootstrap.ts, its other members entries in its
 * table) each in a child process. Once the peers' warm-up is over the node measures its own CPU
 * time over a window (process.cpuUsage: its own work, its heartbeats' client side included; not the
 * bootstrap answering them, nor this test process, nor tsx's loader thread) and counts every timer
 * callback of the agent and its prober, by the part that set it. Used by test/sim/rest.test.ts and
 * the bench's rest part.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';

export interface RestingNodeFigures {
  readonly peers: number;
  readonly seconds: number;
  /**
   * CPU time as a fraction of one core in the node's steady state: the lowest of `windows` equal,
   * consecutive parts of the window. What else happens to a part only adds to it: this VM's host
   * (the same code read medians of 0.56 to 1.06 % in ten runs of one evening, an idle node process
   * waking once a second 0.1 to 0.7 %) and V8's occasional major collection.
   */
  readonly cpuFraction: number;
  /** The median part: the steady state plus what usually comes with it. */
  readonly medianCpuFraction: number;
  /** Each part's. */
  readonly cpuFractions: readonly number[];
  /** Timer callbacks of the agent and its prober over the window, by part (the source folder and file that set them). */
  readonly timerCallbacks: ReadonlyMap<string, number>;
  readonly proberWakeups: number;
}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BOOTSTRAP_CHILD = fileURLToPath(new URL('./rest-sim-bootstrap.ts', import.meta.url));
const NODE_CHILD = fileURLToPath(new URL('./rest-sim-node.mjs', import.meta.url));

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

/** What the node child prints: its figures, the parts not yet split into a median. */
interface NodeChildFigures {
  readonly seconds: number;
  readonly cpuFractions: number[];
  readonly timerCallbacks: [string, number][];
  readonly proberWakeups: number;
}

/** Runs the node child against the bootstrap on `port` to its end; its figures, or why it failed. */
async function runNodeChild(settings: { port: number; peers: number; windowMs: number; windows: number; settleMs: number; warmupMs: number }): Promise<NodeChildFigures> {
  // Plain node, no source condition: the built agent, as a node runs it.
  const child = spawn(process.execPath, [NODE_CHILD, JSON.stringify(settings)], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  // Warm-up and settling take well under 2 minutes even on a loaded machine; a child that outlives
  // its window by that much is stuck.
  const timer = setTimeout(() => child.kill('SIGKILL'), settings.settleMs + settings.windowMs + 120_000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  if (code !== 0) throw new Error(`the simulated node (${NODE_CHILD}) ended with ${signal ?? `exit code ${code}`}: ${stderr.trim() || 'nothing on stderr'}`);
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as NodeChildFigures;
}

/** Measures a node with `peers` peers at rest over `windowMs` (warm-up shortened to `warmupMs`; `settleMs` at rest before the window). */
export async function measureRestingNode(options: { peers: number; windowMs: number; warmupMs?: number; settleMs?: number; windows?: number }): Promise<RestingNodeFigures> {
  // The bootstrap and the other members besides it (its table holds them), in the child.
  const bootstrap = await startBootstrapChild(options.peers);
  try {
    const parts = options.windows ?? 1;
    const r = await runNodeChild({
      port: bootstrap.port, peers: options.peers, windowMs: options.windowMs, windows: parts, settleMs: options.settleMs ?? 0, warmupMs: options.warmupMs ?? 3_000,
    });
    const sorted = [...r.cpuFractions].sort((a, b) => a - b);
    return {
      peers: options.peers,
      seconds: r.seconds,
      cpuFraction: sorted[0]!,
      medianCpuFraction: sorted[Math.floor(sorted.length / 2)]!,
      cpuFractions: r.cpuFractions,
      timerCallbacks: new Map(r.timerCallbacks),
      proberWakeups: r.proberWakeups,
    };
  } finally {
    await stopBootstrapChild(bootstrap.child);
  }
}
