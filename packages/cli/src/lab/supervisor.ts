/**
 * The lab's processes: how wgmesh is run in a host (command, working directory, environment),
 * a supervisor that starts nodes and hears their exits, and stopping processes the lab
 * identified (by PID and start time) with SIGTERM, then SIGKILL. No module-level state: what a
 * supervisor learns stays in the supervisor object.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path, { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NodeExited } from './errors.js';
import { hostEnterArgs, nodeArgs, parseCidr, type LabNames, type LabPaths } from './plan.js';
import { mountsUnder } from './parse.js';
import type { LabHost, LabProcess, LabState } from './state.js';
import { formatCommandLine, isRunning, namespaceInode, processTable, readMountinfo, readProcStat, signal, waitUntil, type ProcessIdentity } from './sys.js';
import { netnsPath } from './topology.js';
import type { NodeExit, NodeSupervisor } from './types.js';

/** The workspace root: the nearest directory above this file (in src/, dist/ or the CLI bundle) that holds packages/cli/bin/wgmesh.js. */
export const REPO_ROOT = findRepoRoot(path.dirname(fileURLToPath(import.meta.url)));

function findRepoRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'packages/cli/bin/wgmesh.js'))) return dir + path.sep;
    if (path.dirname(dir) === dir) throw new Error(`the lab cannot find the wgmesh workspace above ${from}`);
  }
}

/** The built CLI (`pnpm run build` first). */
export function builtWgmeshCommand(): string[] {
  return [process.execPath, join(REPO_ROOT, 'packages/cli/bin/wgmesh.js')];
}

/** The CLI straight from TypeScript source: no build needed, slower to start. */
export function sourceWgmeshCommand(): string[] {
  let tsx = 'tsx';
  try {
    // An absolute URL, so the loader is found whatever the working directory.
    tsx = import.meta.resolve('tsx');
  } catch {
    // Left to node's resolution from the working directory (the repo root for lab processes).
  }
  return [process.execPath, '--conditions=source', '--import', tsx, join(REPO_ROOT, 'packages/cli/src/lab/wgmesh-entry.ts')];
}

/**
 * The environment of lab commands: the caller's, minus what would leak into the node's settings or
 * a test runner's, and minus NODE_EXTRA_CA_CERTS. A lab host stands for a machine of its own (a
 * node there runs as its systemd unit would, without the operator's shell settings); Node.js reads
 * and parses that whole bundle at every start, before any wgmesh code runs (60 ms of CPU per
 * process on the bench machine, whose shell sets it), and nothing in a lab uses it: the mesh's TLS
 * trusts the CA it is given (-ca-cert), and the lab's etcd is its own (only an https:// etcd
 * without -etcd-ca-cert is checked against the system's CAs).
 */
export function labEnv(base: NodeJS.ProcessEnv = process.env, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(base)) {
    if (key.startsWith('WGMESH_') || key === 'NODE_TEST_CONTEXT' || key === 'NODE_EXTRA_CA_CERTS') continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

/** The command line the lab runs in a host: the lab's wgmesh command and the host's role, plus the lab's extra flags. */
export function plannedNodeArgv(lab: LabState, host: LabHost): string[] {
  const plan = {
    mesh: lab.mesh,
    cidr: parseCidr(lab.cidr),
    underlay: parseCidr(lab.underlay),
    bootstrapPort: lab.bootstrapPort,
    ...(lab.bootstraps !== undefined ? { bootstraps: lab.bootstraps } : {}),
    ...(lab.bootstrapArgs ? { bootstrapArgs: lab.bootstrapArgs } : {}),
    ...(lab.joinArgs ? { joinArgs: lab.joinArgs } : {}),
  };
  return [...lab.wgmeshCommand, ...nodeArgs(plan, host.index)];
}

/**
 * The command line a host's node is started with again: the one it last ran with (the planned
 * one if it never ran), plus `extra` flags at the end.
 */
export function restartNodeArgv(lab: LabState, host: LabHost, extra: readonly string[] = []): string[] {
  return [...(host.process?.argv ?? plannedNodeArgv(lab, host)), ...extra];
}

/** The last lines of a node's log, for error messages ('' when it cannot be read). */
export async function logTail(file: string, lines = 15): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** A supervisor of the nodes this process starts; see NodeSupervisor. */
export function createNodeSupervisor(): NodeSupervisor {
  /** Exits of the nodes this supervisor started, by PID (a node is our child until we exit). */
  const exits = new Map<number, NodeExit>();
  return {
    async start(lab, host, baseEnv, argv = plannedNodeArgv(lab, host)) {
      const enter = ['nsenter', ...hostEnterArgs(netnsPath(host.netns), host.mountFile)];
      const log = openSync(host.logFile, 'a', 0o644);
      let pid: number;
      const startedMs = Date.now();
      try {
        writeSync(log, `--- ${new Date(startedMs).toISOString()} ${formatCommandLine(argv)}\n`);
        // nsenter execs the command without forking (no PID namespace), so this PID is wgmesh's own.
        const child = spawn(enter[0]!, [...enter.slice(1), ...argv], {
          detached: true,
          stdio: ['ignore', log, log],
          cwd: REPO_ROOT,
          env: labEnv(baseEnv, { WGMESH_LOG_LEVEL: lab.logLevel }),
        });
        pid = await new Promise<number>((resolve, reject) => {
          child.once('spawn', () => resolve(child.pid!));
          child.once('error', reject);
        });
        child.once('exit', (code, sig) => exits.set(pid, { code, signal: sig, atMs: Date.now() }));
        child.unref();
      } finally {
        closeSync(log);
      }
      const stat = await readProcStat(pid);
      if (!stat) throw new NodeExited(host.name, host.logFile, await logTail(host.logFile));
      const proc: LabProcess = { pid, startTicks: stat.startTicks, startedMs, argv: [...argv] };
      const { stopped: _cleared, ...rest } = host;
      return { ...rest, process: proc };
    },

    exitOf(proc) {
      const exit = exits.get(proc.pid);
      return exit && exit.atMs >= proc.startedMs ? exit : undefined;
    },
  };
}

export async function allGone(procs: readonly ProcessIdentity[]): Promise<boolean> {
  return (await Promise.all(procs.map(isRunning))).every((running) => !running);
}

/**
 * Signals one process and waits up to `timeoutMs` for it to exit; if it does not, SIGKILL
 * (`onEscalate` hears of it first) and 2 s more. `escalated`: SIGKILL was needed; `gone`
 * false: even that did not end it (stuck in the kernel).
 */
export async function signalAndWait(proc: ProcessIdentity, sig: NodeJS.Signals, timeoutMs: number, onEscalate?: () => void): Promise<{ escalated: boolean; gone: boolean }> {
  signal(proc, sig);
  if (await waitUntil(async () => !(await isRunning(proc)), timeoutMs, 10)) return { escalated: false, gone: true };
  onEscalate?.();
  signal(proc, 'SIGKILL');
  return { escalated: true, gone: await waitUntil(async () => !(await isRunning(proc)), 2_000, 10) };
}

/** SIGTERM to every process, SIGKILL to those still running after `timeoutMs`. */
export async function stopAll(procs: readonly ProcessIdentity[], timeoutMs: number): Promise<{ stopped: number[]; killed: number[] }> {
  for (const p of procs) signal(p, 'SIGTERM');
  await waitUntil(() => allGone(procs), timeoutMs);
  const killed: number[] = [];
  for (const p of procs) {
    if (await isRunning(p)) {
      signal(p, 'SIGKILL');
      killed.push(p.pid);
    }
  }
  if (killed.length > 0) await waitUntil(() => allGone(procs), 2_000);
  return { stopped: procs.map((p) => p.pid).filter((pid) => !killed.includes(pid)), killed };
}

/**
 * Children a stopped node leaves behind: those still running get `waitMs` to exit on their own,
 * then what is left is stopped (stopAll; `beforeStop` first hears which). Returns what was left.
 */
export async function stopLeftovers<T extends ProcessIdentity>(
  children: readonly T[],
  waitMs: number,
  intervalMs: number | undefined,
  beforeStop?: (leftover: readonly T[]) => void,
): Promise<{ leftover: T[]; killed: number[] }> {
  const live: T[] = [];
  for (const c of children) if (await isRunning(c)) live.push(c);
  if (live.length === 0) return { leftover: [], killed: [] };
  await waitUntil(() => allGone(live), waitMs, intervalMs);
  const leftover: T[] = [];
  for (const c of live) if (await isRunning(c)) leftover.push(c);
  if (leftover.length === 0) return { leftover, killed: [] };
  beforeStop?.(leftover);
  return { leftover, killed: (await stopAll(leftover, 2_000)).killed };
}

/** PIDs whose network or mount namespace is one of the lab's. */
export async function processesInside(names: LabNames, paths: LabPaths, netns: readonly string[]): Promise<number[]> {
  const inodes = new Set<number>();
  for (const n of netns.filter((x) => names.owns(x))) {
    const ino = await namespaceInode(netnsPath(n));
    if (ino !== undefined) inodes.add(ino);
  }
  for (const mount of mountsUnder(await readMountinfo(), paths.nsDir)) {
    const ino = await namespaceInode(mount);
    if (ino !== undefined) inodes.add(ino);
  }
  if (inodes.size === 0) return [];
  const inside: number[] = [];
  for (const p of await processTable()) {
    if (p.state === 'Z') continue;
    const net = await namespaceInode(`/proc/${p.pid}/ns/net`);
    const mnt = await namespaceInode(`/proc/${p.pid}/ns/mnt`);
    if ((net !== undefined && inodes.has(net)) || (mnt !== undefined && inodes.has(mnt))) inside.push(p.pid);
  }
  return inside;
}
