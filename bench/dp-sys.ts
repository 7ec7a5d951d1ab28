/**
 * Process bookkeeping for the data-plane benchmark: every child it starts is tracked, so a
 * failure or a signal stops exactly those (never anything found by name). Long-lived ones are
 * also recorded in a file with their start time, so a later run can stop what a crashed run left.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { captureCommand } from '@wgmesh/agent/exec';
import { isRunning, readProcStat, type ProcessIdentity } from '@wgmesh/cli/lab';

export const BENCH_RUN_DIR = '/run/wgmesh-bench';
const PID_FILE = `${BENCH_RUN_DIR}/daemons.json`;

export interface ExecOutcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Date.now() when the process ended. */
  readonly endMs: number;
}

export interface Daemon extends ProcessIdentity {
  readonly label: string;
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
}

interface RecordedDaemon extends ProcessIdentity {
  readonly label: string;
}

/** Every child of ours that has not ended yet (short commands and daemons). */
const live = new Set<ChildProcess>();
let aborted = false;

export class Aborted extends Error {
  constructor() {
    super('aborted by a signal');
  }
}

/** After this, no new command starts and every running child of ours is killed. */
export function abortAll(): void {
  aborted = true;
  for (const child of live) child.kill('SIGKILL');
}

export function isAborted(): boolean {
  return aborted;
}

export function checkAborted(): void {
  if (aborted) throw new Aborted();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface ExecOptions {
  readonly timeoutMs?: number;
  readonly input?: string;
  /** Default: this process's environment. */
  readonly env?: NodeJS.ProcessEnv;
  /** Teardown work: runs even after abortAll(). */
  readonly cleanup?: boolean;
}

/** Runs argv to completion; a non-zero exit is returned, not thrown. */
export async function exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecOutcome> {
  if (!options.cleanup) checkAborted();
  let child: ChildProcess | undefined;
  const r = await captureCommand(argv[0]!, argv.slice(1), {
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.input !== undefined ? { input: options.input } : {}),
    ...(options.env ? { env: options.env } : {}),
    onSpawn: (c) => {
      child = c;
      live.add(c);
    },
  });
  const endMs = Date.now();
  if (child) live.delete(child);
  if (r.spawnError) return { code: 127, stdout: '', stderr: `${argv[0]}: ${r.spawnError.message}`, endMs };
  return { code: r.exitCode ?? (r.signal ? 128 + 9 : 1), stdout: r.stdout, stderr: r.stderr, endMs };
}

/** Like exec, but a non-zero exit throws with the command line and its stderr. */
export async function execOk(argv: readonly string[], options: ExecOptions = {}): Promise<string> {
  const r = await exec(argv, { timeoutMs: 30_000, ...options });
  if (r.code !== 0) throw new Error(`${argv.join(' ')}: exit ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

// ---------------------------------------------------------------------------------------------
// Daemons

let fileQueue: Promise<unknown> = Promise.resolve();

async function readRecorded(): Promise<RecordedDaemon[]> {
  try {
    const parsed: unknown = JSON.parse(await readFile(PID_FILE, 'utf8'));
    return Array.isArray(parsed) ? (parsed as RecordedDaemon[]).filter((d) => Number.isInteger(d.pid) && Number.isFinite(d.startTicks)) : [];
  } catch {
    return [];
  }
}

function updateRecorded(change: (list: RecordedDaemon[]) => RecordedDaemon[]): Promise<void> {
  const next = fileQueue.then(async () => {
    await mkdir(BENCH_RUN_DIR, { recursive: true, mode: 0o755 });
    const list = change(await readRecorded());
    await writeFile(`${PID_FILE}.tmp`, JSON.stringify(list, null, 1) + '\n');
    await rename(`${PID_FILE}.tmp`, PID_FILE);
  });
  fileQueue = next.catch(() => {});
  return next;
}

export interface DaemonOptions {
  /** Its stdout and stderr are appended to this file (default: discarded). */
  readonly logFile?: string;
  /** Its environment (default: ours). */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Starts a long-lived process, recorded on disk until it is stopped. The process is spawned
 * before the first await, so several calls in a row spawn back to back.
 */
export async function startDaemon(argv: readonly string[], label: string, options: DaemonOptions = {}): Promise<Daemon> {
  checkAborted();
  const log = options.logFile !== undefined ? openSync(options.logFile, 'a', 0o644) : undefined;
  let child: ChildProcess;
  try {
    child = spawn(argv[0]!, argv.slice(1), { stdio: log === undefined ? 'ignore' : ['ignore', log, log], ...(options.env ? { env: options.env } : {}) });
  } finally {
    if (log !== undefined) closeSync(log);
  }
  live.add(child);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      live.delete(child);
      resolve();
    });
    child.once('error', () => {
      live.delete(child);
      resolve();
    });
  });
  const pid = await new Promise<number>((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid!));
    child.once('error', reject);
  });
  const stat = await readProcStat(pid);
  if (!stat) throw new Error(`${label} (${argv.join(' ')}) exited at once`);
  const daemon: Daemon = { pid, startTicks: stat.startTicks, label, child, exited };
  await updateRecorded((list) => [...list.filter((d) => d.pid !== pid), { pid, startTicks: stat.startTicks, label }]);
  void exited.then(() => updateRecorded((list) => list.filter((d) => !(d.pid === pid && d.startTicks === stat.startTicks))).catch(() => {}));
  return daemon;
}

/** SIGTERM, then SIGKILL after the deadline; only while it is still the same process. */
export async function stopProcess(proc: ProcessIdentity, timeoutMs = 5_000): Promise<'stopped' | 'killed' | 'gone'> {
  if (!(await isRunning(proc))) return 'gone';
  try {
    process.kill(proc.pid, 'SIGTERM');
  } catch {
    return 'gone';
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!(await isRunning(proc))) return 'stopped';
    await sleep(20);
  }
  try {
    process.kill(proc.pid, 'SIGKILL');
  } catch {
    return 'stopped';
  }
  for (let i = 0; i < 100 && (await isRunning(proc)); i++) await sleep(20);
  return 'killed';
}

export async function stopDaemon(daemon: Daemon, timeoutMs = 5_000): Promise<void> {
  await stopProcess(daemon, timeoutMs);
  await Promise.race([daemon.exited, sleep(2_000)]);
}

/** Stops daemons a crashed earlier run recorded (still the same processes: PID and start time). */
export async function stopRecordedDaemons(onStop: (d: RecordedDaemon, how: string) => void = () => {}): Promise<void> {
  for (const d of await readRecorded()) {
    const how = await stopProcess(d, 3_000);
    if (how !== 'gone') onStop(d, how);
  }
  await updateRecorded(() => []);
}

/** Removes the record (and its directory) once nothing is recorded in it. */
export async function removeEmptyRecord(): Promise<void> {
  await fileQueue;
  if ((await readRecorded()).length > 0) return;
  await rm(PID_FILE, { force: true });
  await rmdir(BENCH_RUN_DIR).catch(() => {});
}

// ---------------------------------------------------------------------------------------------
// /proc

export async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** VmRSS in MiB, or undefined when the process is gone. */
export async function rssMb(pid: number): Promise<number | undefined> {
  const status = await readText(`/proc/${pid}/status`);
  const kb = status ? /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1] : undefined;
  return kb === undefined ? undefined : Number(kb) / 1024;
}

export interface MemoryDetail {
  /** VmRSS: resident pages, shared file pages (the node binary, libraries) included. */
  readonly rssMb: number;
  readonly rssAnonMb: number;
  readonly rssFileMb: number;
  /** Proportional set size: shared pages divided among the processes that map them. */
  readonly pssMb?: number;
}

export async function memoryDetail(pid: number): Promise<MemoryDetail | undefined> {
  const status = await readText(`/proc/${pid}/status`);
  if (!status) return undefined;
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)\\s+kB`).exec(status)?.[1] ?? Number.NaN) / 1024;
  const rollup = await readText(`/proc/${pid}/smaps_rollup`);
  const pss = rollup ? /^Pss:\s+(\d+)\s+kB/m.exec(rollup)?.[1] : undefined;
  return { rssMb: kb('VmRSS'), rssAnonMb: kb('RssAnon'), rssFileMb: kb('RssFile'), ...(pss !== undefined ? { pssMb: Number(pss) / 1024 } : {}) };
}

/** Direct children of a process (from /proc/PID/task/*\/children of its main thread). */
export async function childrenOf(pid: number): Promise<number[]> {
  const text = await readText(`/proc/${pid}/task/${pid}/children`);
  return text ? text.trim().split(/\s+/).filter(Boolean).map(Number) : [];
}

/** Every descendant with its identity, found now. */
export async function descendants(pid: number): Promise<(ProcessIdentity & { comm: string })[]> {
  const found: (ProcessIdentity & { comm: string })[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of await childrenOf(queue.shift()!)) {
      const stat = await readProcStat(child);
      if (!stat) continue;
      found.push({ pid: child, startTicks: stat.startTicks, comm: stat.comm });
      queue.push(child);
    }
  }
  return found;
}

/** "192.0.2.1:5000" as /proc/net/tcp writes it: little-endian hex address, big-endian hex port. */
export function procNetTcpAddress(ip: string, port: number): string {
  const hex = ip
    .split('.')
    .map((o) => Number(o).toString(16).padStart(2, '0').toUpperCase())
    .reverse()
    .join('');
  return `${hex}:${port.toString(16).padStart(4, '0').toUpperCase()}`;
}

/** Whether /proc/PID/net/tcp (the process's network namespace) has a socket with this remote address. */
export async function hasTcpTo(pid: number, remote: string): Promise<boolean> {
  const text = await readText(`/proc/${pid}/net/tcp`);
  return text !== undefined && text.split('\n').some((line) => line.trim().split(/\s+/)[2] === remote);
}

/** Whether a TCP socket listens on this port in the process's network namespace. */
export async function listensOn(pid: number, port: number): Promise<boolean> {
  const suffix = `:${port.toString(16).padStart(4, '0').toUpperCase()}`;
  const text = await readText(`/proc/${pid}/net/tcp`);
  return text !== undefined && text.split('\n').some((line) => {
    const f = line.trim().split(/\s+/);
    return f[1]?.endsWith(suffix) === true && f[3] === '0A';
  });
}

/** Whether the process's network namespace has a route through this interface. */
export async function hasRouteVia(pid: number, iface: string): Promise<boolean> {
  const text = await readText(`/proc/${pid}/net/route`);
  return text !== undefined && text.split('\n').some((line) => line.split('\t')[0] === iface);
}

// ---------------------------------------------------------------------------------------------
// Statistics

export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** What a data-plane bench part (data-plane.ts, relay.ts) hands runBenchPart. */
export interface BenchPart {
  /** As in messages: "data-plane", "relay". */
  readonly name: string;
  readonly progress: (event: Record<string, unknown>) => void;
  /** Removes what an earlier, killed run left (`--cleanup`). */
  readonly cleanupStale: () => Promise<void>;
  /** Idempotent: tears down what this run made. */
  readonly teardown: () => Promise<void>;
  /** The measurement; its exit status. */
  readonly run: (argv: readonly string[]) => Promise<number>;
}

/**
 * The command line of a part: root check, `--cleanup`, signals (stop starting things and kill
 * our children, let the run's finally tear down; tear down from here if it is stuck or a second
 * signal comes), and the exit status. Sets process.exitCode.
 */
export function runBenchPart(part: BenchPart, argv: readonly string[]): void {
  const main = async (): Promise<number> => {
    if (typeof process.getuid === 'function' && process.getuid() !== 0) {
      process.stderr.write(`${part.name}: needs root (network namespaces, WireGuard)\n`);
      return 1;
    }
    if (argv.includes('--cleanup')) {
      await part.cleanupStale();
      return 0;
    }
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      signals += 1;
      part.progress({ signal: sig });
      abortAll();
      const code = sig === 'SIGINT' ? 130 : sig === 'SIGHUP' ? 129 : 143;
      const force = () => void part.teardown().finally(() => process.exit(code));
      if (signals > 1) force();
      else setTimeout(force, 15_000).unref();
    };
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);
    return part.run(argv);
  };
  main().then(
    (code) => {
      process.exitCode = code;
    },
    async (err: unknown) => {
      part.progress({ error: err instanceof Error ? err.message : String(err) });
      await part.teardown().catch(() => {});
      process.exitCode = err instanceof Aborted ? 143 : 1;
    },
  );
}

/** A positive whole number from the environment, or the fallback. */
export function envInt(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : fallback;
}

/**
 * A part's command line after its run: prints its markdown section, and writes it to `--out FILE`
 * and the results with their summary to `--json FILE`. Returns the exit status (143 when stopped early).
 */
export async function reportPart<R>(argv: readonly string[], results: R, section: string, summary: unknown): Promise<number> {
  const opt = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const out = opt('--out');
  const jsonOut = opt('--json');
  process.stdout.write(section);
  if (out) await writeFile(out, section);
  if (jsonOut) await writeFile(jsonOut, JSON.stringify({ ...results, summary }, null, 1) + '\n');
  return isAborted() ? 143 : 0;
}

/**
 * One iperf3 measurement: a one-shot server (`-s -1`) started with `serverArgv` (bound to the
 * address measured), the client run with `clientArgv` for `seconds` (-O 1: slow start left out),
 * the received throughput and the sender's retransmits. Throws with iperf3's own message.
 */
export async function iperf3Once(serverArgv: (args: string[]) => string[], clientArgv: (args: string[]) => string[], serverIp: string, port: number, seconds: number, label: string): Promise<{ mbps: number; retransmits?: number }> {
  const server = await startDaemon(serverArgv(['iperf3', '-s', '-1', '-B', serverIp, '-p', String(port)]), label);
  try {
    const deadline = Date.now() + 5_000;
    while (!(await listensOn(server.pid, port))) {
      if (Date.now() > deadline) throw new Error('iperf3 server did not listen within 5 s');
      await sleep(10);
    }
    const r = await exec(clientArgv(['iperf3', '-c', serverIp, '-p', String(port), '-t', String(seconds), '-O', '1', '-J']), { timeoutMs: (seconds + 30) * 1000 });
    let parsed: { end?: { sum_received?: { bits_per_second?: number }; sum_sent?: { retransmits?: number } }; error?: string };
    try {
      parsed = JSON.parse(r.stdout) as typeof parsed;
    } catch {
      throw new Error(`iperf3 client: exit ${r.code}: ${r.stderr.trim() || r.stdout.slice(0, 200)}`);
    }
    const bps = parsed.end?.sum_received?.bits_per_second;
    if (parsed.error || bps === undefined) throw new Error(`iperf3 client: exit ${r.code}: ${parsed.error ?? 'no result'}`);
    const retransmits = parsed.end?.sum_sent?.retransmits;
    return { mbps: bps / 1e6, ...(retransmits !== undefined ? { retransmits } : {}) };
  } finally {
    await stopDaemon(server, 2_000);
  }
}
