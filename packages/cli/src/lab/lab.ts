/**
 * `wgmesh lab`: N hosts on this machine, each a network namespace plus a mount namespace, on one
 * bridge (or behind a masquerading NAT router that is on it); h1 runs `wgmesh bootstrap -dev`,
 * the others `wgmesh join -dev`. The end-to-end tests build their topologies with the same functions.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InfoResponse__Output } from '@wgmesh/agent';
import { LAB_DEFAULTS, nameHint } from './constants.js';
import { InvalidLabOptions, LabConflict, LabError, LabNotFound, LabNotReady, NodeExited, NodeNotRunning, NodeStillRunning, NotRoot, UnknownHost } from './errors.js';
import {
  formatCidr,
  hostEnterArgs,
  hostIndex,
  labNames,
  labPaths,
  nodeArgs,
  parseCidr,
  parseNatGroups,
  planNat,
  validateHostCount,
  validateLabName,
  validateMeshName,
  type LabNames,
  type LabPaths,
  type NatGroupInput,
  type NatRouterPlan,
} from './plan.js';
import { descendantsOf, mountsUnder, nodeInfoOf, type NodeInfo } from './parse.js';
import { readLabState, replaceHost, writeLabState, type LabHost, type LabHostNat, type LabProcess, type LabState, type LabStop } from './state.js';
import {
  commandOnPath,
  formatCommandLine,
  isRoot,
  isRunning,
  namespaceInode,
  pathExists,
  processTable,
  readMountinfo,
  readProcStat,
  runCapture,
  signal,
  sleep,
  waitUntil,
  type ExecResult,
  type ProcessIdentity,
} from './sys.js';
import { createHost, createRouter, createSwitch, destroyTopology, labRouter, listNetns, netnsPath, prepareDirs, type Topology } from './topology.js';

/** The workspace root: this file is packages/cli/{src,dist}/lab/lab.{ts,js}. */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

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

export type Progress = (message: string) => void;

export interface LabUpOptions {
  /** Prefix of every namespace the lab creates; default "wgl". Tests pass their own. */
  readonly name?: string;
  readonly hosts: number;
  readonly underlay?: string;
  readonly cidr?: string;
  readonly mesh?: string;
  readonly bootstrapPort?: number;
  /**
   * Hosts to put behind masquerading NAT routers, one router per entry: "h2" (a router of its
   * own), "h4+h5" or ["h4", "h5"] (both behind one router). Each router is a namespace LAB-rR with
   * a WAN address at the top of the underlay (.254, .253, …) and a private /28 of `natLan`
   * (router .1, its hosts .2, .3, …). h1 (the bootstrap) is never behind NAT.
   */
  readonly nat?: readonly NatGroupInput[];
  /** Where the routers' private segments are carved from; default 198.51.100.0/24. */
  readonly natLan?: string;
  /**
   * The routers drop unsolicited packets from the WAN, as home routers do (default true);
   * false: bare MASQUERADE, which accepts them (see routerNatCommands for what that breaks).
   */
  readonly natFirewall?: boolean;
  /** Create the namespaces only; start no wgmesh. */
  readonly hostsOnly?: boolean;
  /** argv prefix that runs wgmesh; default: the built CLI. */
  readonly wgmeshCommand?: readonly string[];
  readonly logLevel?: string;
  /** Extra flags for h1's `wgmesh bootstrap`, e.g. ['-reap-after', '5s']; kept in lab.json for restarts. */
  readonly bootstrapArgs?: readonly string[];
  /** Extra flags for every `wgmesh join` (also of hosts added later), e.g. ['-heartbeat', '1s']. */
  readonly joinArgs?: readonly string[];
  /** Wait until every node sees every other one (default true). */
  readonly wait?: boolean;
  readonly readyTimeoutMs?: number;
  /** Base environment of the nodes (WGMESH_* settings in it are dropped); default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  readonly onProgress?: Progress;
}

export interface LabUpResult {
  /** created: new lab; already-up: it was running with this many hosts; grown: hosts were added. */
  readonly status: 'created' | 'already-up' | 'grown';
  readonly lab: LabState;
  /** A partial or dead lab of the same name was torn down first. */
  readonly replacedStale: boolean;
}

export interface LabAddOptions {
  readonly name?: string;
  /** How many hosts to add (default 1): all are created first, then their joins start together. */
  readonly count?: number;
  readonly wait?: boolean;
  readonly readyTimeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly onProgress?: Progress;
}

export interface LabAddResult {
  readonly lab: LabState;
  /** The first host added (the only one unless `count` was given). */
  readonly host: LabHost;
  /** Every host added, in index order. */
  readonly hosts: readonly LabHost[];
}

export interface LabKillOptions {
  /** Default SIGTERM, as kill(1); SIGKILL is a crash: no Leave, no clean-up by the node. */
  readonly signal?: NodeJS.Signals;
  /** How long the node may take to exit before it gets SIGKILL; default 5 s. */
  readonly timeoutMs?: number;
  /**
   * How long the node's children (wireguard-go) may take to exit on their own once it is gone:
   * a SIGKILLed agent's wireguard-go gets SIGTERM from the kernel (setpriv --pdeathsig) and needs
   * about a second to remove its interface. Whatever is left then is stopped by the lab. Default 5 s.
   */
  readonly childTimeoutMs?: number;
  readonly onProgress?: Progress;
}

export interface ChildExit {
  readonly pid: number;
  readonly comm: string;
  /** exited: on its own after the node died; stopped: the lab had to signal it. */
  readonly how: 'exited' | 'stopped';
}

export interface LabKillResult {
  readonly lab: LabState;
  readonly host: LabHost;
  readonly pid: number;
  readonly signal: NodeJS.Signals;
  /** Wall clock just before the signal. */
  readonly signalledMs: number;
  /** When the node was seen gone (polled). */
  readonly exitedMs: number;
  /** It outlived the deadline and was killed with SIGKILL. */
  readonly escalated: boolean;
  /** The node's descendants when it was signalled (wireguard-go), and how each ended. */
  readonly children: readonly ChildExit[];
}

export interface LabStartOptions {
  /** Base environment of the node (WGMESH_* settings in it are dropped); default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Wait until every running node sees every other one (default true). */
  readonly wait?: boolean;
  readonly readyTimeoutMs?: number;
  readonly onProgress?: Progress;
}

export interface LabStartResult {
  readonly lab: LabState;
  readonly host: LabHost;
}

export interface LabRestartOptions extends LabStartOptions {
  /** How a running node is stopped first (default SIGTERM). */
  readonly signal?: NodeJS.Signals;
  readonly timeoutMs?: number;
  readonly childTimeoutMs?: number;
}

export interface LabRestartResult extends LabStartResult {
  /** How the previous process ended; undefined when it was not running. */
  readonly killed: LabKillResult | undefined;
}

export interface LabDownOptions {
  readonly name?: string;
  readonly stopTimeoutMs?: number;
  readonly onProgress?: Progress;
}

export interface LabDownReport {
  /** False when there was nothing to tear down. */
  readonly existed: boolean;
  /** Recorded node PIDs that exited after SIGTERM. */
  readonly stopped: number[];
  /** PIDs (nodes or their children) that needed SIGKILL. */
  readonly killed: number[];
  readonly netns: string[];
  readonly mounts: string[];
  /** Processes inside the lab's namespaces that the lab did not start (e.g. a `lab exec` still running). */
  readonly strays: number[];
}

export interface HostExecOptions {
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly input?: string;
  readonly cwd?: string;
  /** Replace a leading "wgmesh" with the lab's wgmesh command (default true). */
  readonly resolveWgmesh?: boolean;
}

export type LabRef = LabState | string;

function requireRoot(): void {
  if (!isRoot()) throw new NotRoot();
}

function report(onProgress: Progress | undefined, message: string): void {
  onProgress?.(message);
}

function topologyOf(name: string, underlay: string, routers: readonly NatRouterPlan[] = []): Topology {
  return { names: labNames(name), paths: labPaths(name), underlay: parseCidr(underlay), routers };
}

/** The NAT routers recorded in lab.json, as plans (to place new hosts around them). */
function routerPlans(lab: LabState): NatRouterPlan[] {
  return (lab.routers ?? []).map((r) => {
    const lan = parseCidr(r.lan);
    return { index: r.index, name: r.name, hosts: r.hosts.map((h) => hostIndex(h) ?? 0), wanIp: r.wanIp, lan, lanIp: r.lanIp, firewall: r.firewall };
  });
}

/** The routers' host groups, for comparing a request with a running lab: "r1: h2; r2: h4+h5". */
function natLayout(routers: readonly { readonly name: string; readonly hosts: readonly string[]; readonly lan: string; readonly firewall: boolean }[]): string {
  return routers.map((r) => `${r.name} (${r.lan}${r.firewall ? '' : ', no firewall'}): ${r.hosts.join('+')}`).join('; ') || 'no NAT';
}

/** What NAT routers need besides what every lab needs (ip, nsenter, …). */
async function requireNatTools(): Promise<void> {
  const missing: string[] = [];
  for (const command of ['iptables', 'sysctl']) if (!(await commandOnPath(command))) missing.push(command);
  if (missing.length > 0) {
    throw new LabError(`NAT routers need ${missing.join(' and ')} (apt-get install iptables procps; the nf_tables or legacy backend both work)`);
  }
}

/** The environment of lab commands: the caller's, minus what would leak into the node's settings or a test runner's. */
export function labEnv(base: NodeJS.ProcessEnv = process.env, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(base)) {
    if (key.startsWith('WGMESH_') || key === 'NODE_TEST_CONTEXT') continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

/** lab.json of a lab, or undefined when there is none (a damaged file counts as none). */
export async function findLab(name: string = LAB_DEFAULTS.name): Promise<LabState | undefined> {
  validateLabName(name);
  try {
    return await readLabState(labPaths(name).stateFile);
  } catch (err) {
    if (err instanceof LabError) return undefined;
    throw err;
  }
}

export async function loadLab(name: string = LAB_DEFAULTS.name): Promise<LabState> {
  const lab = await findLab(name);
  if (!lab) throw new LabNotFound(name);
  return lab;
}

async function resolveLab(ref: LabRef): Promise<LabState> {
  return typeof ref === 'string' ? loadLab(ref) : ref;
}

/** For changes: always the lab.json on disk, so a caller's older copy cannot undo another change. */
async function freshLab(ref: LabRef): Promise<LabState> {
  return loadLab(typeof ref === 'string' ? ref : ref.name);
}

export function labHost(lab: LabState, host: string): LabHost {
  const found = lab.hosts.find((h) => h.name === host);
  if (!found) throw new UnknownHost(lab.name, host, lab.hosts.map((h) => h.name));
  return found;
}

/** The PID of the host's wgmesh as started by the lab (undefined for a hosts-only lab). */
export function hostPid(lab: LabState, host: string): number | undefined {
  return labHost(lab, host).process?.pid;
}

/** argv that runs `cmd` inside the host's network and mount namespaces. */
export function hostCommand(lab: LabState, host: string, cmd: readonly string[], resolveWgmesh = true): string[] {
  const h = labHost(lab, host);
  const command = resolveWgmesh && cmd[0] === 'wgmesh' ? [...lab.wgmeshCommand, ...cmd.slice(1)] : [...cmd];
  return ['nsenter', ...hostEnterArgs(netnsPath(h.netns), h.mountFile), ...command];
}

/** Runs a command in a host and collects its output; a non-zero exit is returned, not thrown. */
export async function hostExec(ref: LabRef, host: string, cmd: readonly string[], options: HostExecOptions = {}): Promise<ExecResult> {
  const lab = await resolveLab(ref);
  const [file, ...args] = hostCommand(lab, host, cmd, options.resolveWgmesh ?? true);
  return runCapture(file!, args, {
    env: options.env ?? labEnv(),
    cwd: options.cwd ?? REPO_ROOT,
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.input !== undefined ? { input: options.input } : {}),
  });
}

/**
 * A host's node status (the Info call `wgmesh info -json` prints, the same object), straight from
 * its local API socket: reached in the host's mount namespace through /proc/PID/root, it costs a
 * few milliseconds where starting the CLI in the host costs a Node process per poll (which, with
 * ten hosts polled five times a second, kept both cores busy while a lab came up). Undefined
 * while the node does not answer.
 */
export async function localNodeInfo(lab: LabState, host: string, timeoutMs = 2_000): Promise<InfoResponse__Output | undefined> {
  const pid = labHost(lab, host).process?.pid;
  if (pid === undefined) return undefined;
  // Loaded here: the other lab commands do not need gRPC.
  const { connectLocal, deadline, unary } = await import('../commands/local-client.js');
  // Through /proc/PID/root an absolute symlink (/var/run -> /run) would resolve against our own
  // root, so the real directory is used.
  const runDir = await realpath('/var/run').catch(() => '/run');
  let client: ReturnType<typeof connectLocal>;
  try {
    client = connectLocal(`/proc/${pid}/root${runDir}/wgmesh.sock`);
  } catch {
    return undefined;
  }
  try {
    // Through JSON, exactly as `wgmesh info -json` prints it.
    return JSON.parse(JSON.stringify(await unary<InfoResponse__Output>((cb) => client.info({}, deadline(timeoutMs), cb)))) as InfoResponse__Output;
  } catch {
    return undefined;
  } finally {
    client.close();
  }
}

/** The parts of a host's node status the lab reads; undefined while the node does not answer. */
async function nodeInfo(lab: LabState, host: string, timeoutMs: number): Promise<NodeInfo | undefined> {
  const info = await localNodeInfo(lab, host, timeoutMs);
  return info ? nodeInfoOf(info) : undefined;
}

async function logTail(file: string, lines = 15): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------------------------------------
// Health

export interface LabInspection {
  readonly state: LabState | undefined;
  /** Anything of the lab exists: state, namespaces, mounts or directories. */
  readonly exists: boolean;
  /** Every recorded host has its namespaces and (unless hosts-only) a running node. */
  readonly healthy: boolean;
  readonly problems: string[];
}

export async function inspectLab(name: string = LAB_DEFAULTS.name): Promise<LabInspection> {
  const names = labNames(name);
  const paths = labPaths(name);
  const state = await findLab(name);
  const netns = (await listNetns()).filter((n) => names.owns(n));
  const mounts = mountsUnder(await readMountinfo(), paths.runDir);
  const exists = state !== undefined || netns.length > 0 || mounts.length > 0 || (await pathExists(paths.runDir)) || (await pathExists(paths.stateDir));
  const problems: string[] = [];
  if (!state) {
    if (exists) problems.push('no readable lab.json');
    return { state, exists, healthy: false, problems };
  }
  if (!netns.includes(names.switchNetns)) problems.push(`switch namespace ${names.switchNetns} is missing`);
  for (const router of state.routers ?? []) {
    if (!netns.includes(router.netns)) problems.push(`NAT router ${router.name}: network namespace ${router.netns} is missing`);
  }
  for (const host of state.hosts) {
    if (!netns.includes(host.netns)) problems.push(`${host.name}: network namespace ${host.netns} is missing`);
    if (!mounts.includes(host.mountFile)) problems.push(`${host.name}: mount namespace ${host.mountFile} is missing`);
    // A node the lab stopped on purpose (`lab kill`) is not damage: `lab start` brings it back.
    if (!state.hostsOnly && !host.stopped && !(host.process && (await isRunning(host.process)))) problems.push(`${host.name}: wgmesh is not running`);
  }
  return { state, exists, healthy: problems.length === 0, problems };
}

export interface HostStatus {
  readonly name: string;
  readonly role: string;
  /** The host's own address: on the underlay, or private behind its NAT router. */
  readonly underlayIp: string;
  /** Its NAT router, when it has one. */
  readonly nat: LabHostNat | undefined;
  readonly meshIp: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** The signal the lab stopped it with (`lab kill`), while it is not running. */
  readonly stoppedBy: string | undefined;
}

export async function labStatus(ref: LabRef): Promise<HostStatus[]> {
  const lab = await resolveLab(ref);
  return Promise.all(
    lab.hosts.map(async (h) => {
      const running = h.process ? await isRunning(h.process) : false;
      return {
        name: h.name,
        role: lab.hostsOnly ? 'none' : h.role,
        underlayIp: h.underlayIp,
        nat: h.nat,
        meshIp: h.meshIp ?? '',
        pid: h.process?.pid,
        running,
        stoppedBy: !running && h.stopped ? h.stopped.signal : undefined,
      };
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Nodes

/** The command line the lab runs in a host: the lab's wgmesh command and the host's role, plus the lab's extra flags. */
export function plannedNodeArgv(lab: LabState, host: LabHost): string[] {
  const plan = {
    mesh: lab.mesh,
    cidr: parseCidr(lab.cidr),
    underlay: parseCidr(lab.underlay),
    bootstrapPort: lab.bootstrapPort,
    ...(lab.bootstrapArgs ? { bootstrapArgs: lab.bootstrapArgs } : {}),
    ...(lab.joinArgs ? { joinArgs: lab.joinArgs } : {}),
  };
  return [...lab.wgmeshCommand, ...nodeArgs(plan, host.index)];
}

export interface NodeExit {
  /** Exit status, or null when a signal ended it. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Wall clock when this process learned of the exit. */
  readonly atMs: number;
}

/** Exits of the nodes this process started, by PID (a node is our child until we exit). */
const nodeExits = new Map<number, NodeExit>();

/**
 * How a node that this process started has exited (code 13 is node's "unsettled top-level
 * await": the event loop ran empty). Undefined while it runs, or when another process
 * (e.g. an earlier `wgmesh lab up`) started it: only a parent learns the exit status.
 */
export function nodeExit(proc: Pick<LabProcess, 'pid' | 'startedMs'>): NodeExit | undefined {
  const exit = nodeExits.get(proc.pid);
  return exit && exit.atMs >= proc.startedMs ? exit : undefined;
}

/**
 * Starts the host's wgmesh detached (its own session), output appended to the host's log. The
 * command line is the planned one, or `argv` (a restart runs exactly what ran before).
 */
async function startNode(lab: LabState, host: LabHost, baseEnv: NodeJS.ProcessEnv | undefined, argv: readonly string[] = plannedNodeArgv(lab, host)): Promise<LabHost> {
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
    child.once('exit', (code, sig) => nodeExits.set(pid, { code, signal: sig, atMs: Date.now() }));
    child.unref();
  } finally {
    closeSync(log);
  }
  const stat = await readProcStat(pid);
  if (!stat) throw new NodeExited(host.name, host.logFile, await logTail(host.logFile));
  const proc: LabProcess = { pid, startTicks: stat.startTicks, startedMs, argv: [...argv] };
  const { stopped: _cleared, ...rest } = host;
  return { ...rest, process: proc };
}

interface WaitOptions {
  readonly timeoutMs: number;
  readonly onProgress?: Progress | undefined;
}

/**
 * Polls `wgmesh info -json` in the given hosts until each lists `expected(host)` among its
 * peers; fails fast with the log's tail when a node exits. Returns the hosts with mesh IPs.
 */
async function waitForNodes(lab: LabState, hosts: readonly LabHost[], expected: (host: LabHost) => readonly string[], options: WaitOptions): Promise<LabHost[]> {
  const deadline = Date.now() + options.timeoutMs;
  // Once one host fails, the others stop polling (a CLI must not linger until the deadline).
  let failed = false;
  return Promise.all(
    hosts.map(async (host) => {
      const want = expected(host);
      let last = 'no answer yet';
      for (;;) {
        if (failed) return host;
        if (host.process && !(await isRunning(host.process))) {
          failed = true;
          const exit = nodeExit(host.process);
          const how = exit ? `\n(${exit.signal ? `killed by ${exit.signal}` : `exit status ${exit.code}`})` : '';
          throw new NodeExited(host.name, host.logFile, (await logTail(host.logFile)) + how);
        }
        const info = await nodeInfo(lab, host.name, Math.max(1_000, Math.min(2_000, deadline - Date.now())));
        if (info) {
          const seen = new Set(info.peers.map((p) => p.name));
          const missing = want.filter((name) => !seen.has(name));
          if (missing.length === 0 && info.meshIp) {
            report(options.onProgress, `${host.name}: ${info.meshIp}, ${info.peers.length} peer${info.peers.length === 1 ? '' : 's'}`);
            return { ...host, meshIp: info.meshIp };
          }
          last = `sees ${info.peers.length} peer(s), missing ${missing.join(', ') || 'its mesh IP'}`;
        }
        if (Date.now() >= deadline) {
          failed = true;
          throw new LabNotReady(`${host.name} not ready after ${options.timeoutMs} ms (${last}); its log: ${host.logFile}`);
        }
        await sleep(LAB_DEFAULTS.pollIntervalMs);
      }
    }),
  );
}

function withHosts(lab: LabState, hosts: readonly LabHost[]): LabState {
  return hosts.reduce(replaceHost, lab);
}

/** The hosts whose wgmesh (as the lab started it) is running now. */
export async function runningHosts(lab: LabState): Promise<LabHost[]> {
  const running: LabHost[] = [];
  for (const h of lab.hosts) if (h.process && (await isRunning(h.process))) running.push(h);
  return running;
}

/** Waits until every running node sees every other running node; records their mesh IPs. */
export async function waitForMesh(ref: LabRef, options: { timeoutMs?: number; onProgress?: Progress } = {}): Promise<LabState> {
  const lab = await resolveLab(ref);
  const running = await runningHosts(lab);
  const names = running.map((h) => h.name);
  const ready = await waitForNodes(lab, running, (h) => names.filter((n) => n !== h.name), {
    timeoutMs: options.timeoutMs ?? LAB_DEFAULTS.readyTimeoutMs,
    onProgress: options.onProgress,
  });
  const updated = withHosts(lab, ready);
  await writeLabState(labPaths(lab.name).stateFile, updated);
  return updated;
}

// ---------------------------------------------------------------------------------------------
// up / add / down

export async function labUp(options: LabUpOptions): Promise<LabUpResult> {
  requireRoot();
  const name = validateLabName(options.name ?? LAB_DEFAULTS.name);
  const underlay = options.underlay ?? LAB_DEFAULTS.underlay;
  const groups = parseNatGroups(options.nat ?? []);
  const hosts = validateHostCount(options.hosts, parseCidr(underlay), groups.length);
  const meshCidr = parseCidr(options.cidr ?? LAB_DEFAULTS.cidr);
  const routers = planNat(groups, { hosts, underlay: parseCidr(underlay), natLan: parseCidr(options.natLan ?? LAB_DEFAULTS.natLan), cidr: meshCidr, firewall: options.natFirewall ?? true });
  const topo = topologyOf(name, underlay, routers);
  const mesh = validateMeshName(options.mesh ?? LAB_DEFAULTS.mesh);
  const cidr = formatCidr(meshCidr);
  const labRouters = routers.map((r) => labRouter(topo.names, r));
  if (routers.length > 0) await requireNatTools();
  const hostsOnly = options.hostsOnly ?? false;
  const bootstrapArgs = [...(options.bootstrapArgs ?? [])];
  const joinArgs = [...(options.joinArgs ?? [])];
  const onProgress = options.onProgress;

  const found = await inspectLab(name);
  if (found.healthy && found.state) {
    const have = found.state.hosts.length;
    const downFirst = `run \`wgmesh lab down${nameHint(name)}\` first`;
    if (found.state.hostsOnly !== hostsOnly) {
      throw new LabConflict(`lab "${name}" is already up ${found.state.hostsOnly ? 'without' : 'with'} wgmesh; ${downFirst}`);
    }
    if (natLayout(found.state.routers ?? []) !== natLayout(labRouters)) {
      throw new LabConflict(`lab "${name}" is already up with other NAT routers (${natLayout(found.state.routers ?? [])}); ${downFirst}`);
    }
    if (!hostsOnly && (!sameArgs(found.state.bootstrapArgs, bootstrapArgs) || !sameArgs(found.state.joinArgs, joinArgs))) {
      throw new LabConflict(`lab "${name}" is already up with other node flags (bootstrap: ${formatCommandLine(found.state.bootstrapArgs ?? []) || 'none'}; join: ${formatCommandLine(found.state.joinArgs ?? []) || 'none'}); ${downFirst}`);
    }
    if (have === hosts) return { status: 'already-up', lab: found.state, replacedStale: false };
    if (have > hosts) {
      throw new LabConflict(`lab "${name}" is already up with ${have} hosts; ${downFirst}`);
    }
    let lab = (await labAdd({ name, count: hosts - have, wait: false, ...(options.env ? { env: options.env } : {}), ...(onProgress ? { onProgress } : {}) })).lab;
    if (!hostsOnly && options.wait !== false) lab = await waitForMesh(lab, { timeoutMs: options.readyTimeoutMs ?? LAB_DEFAULTS.readyTimeoutMs, ...(onProgress ? { onProgress } : {}) });
    return { status: 'grown', lab, replacedStale: false };
  }
  const replacedStale = found.exists;
  if (replacedStale) {
    report(onProgress, `tearing down the stale lab "${name}" first (${found.problems.join('; ') || 'partial'})`);
    await labDown({ name, ...(onProgress ? { onProgress } : {}) });
  }

  let lab: LabState = {
    version: 1,
    name,
    mesh,
    underlay: formatCidr(topo.underlay),
    cidr,
    bootstrapPort: options.bootstrapPort ?? LAB_DEFAULTS.bootstrapPort,
    wgmeshCommand: [...(options.wgmeshCommand ?? builtWgmeshCommand())],
    logLevel: options.logLevel ?? LAB_DEFAULTS.logLevel,
    // Recorded only when given, so a default lab's lab.json is what it always was.
    ...(bootstrapArgs.length > 0 ? { bootstrapArgs } : {}),
    ...(joinArgs.length > 0 ? { joinArgs } : {}),
    hostsOnly,
    createdMs: Date.now(),
    // Recorded only when there are some, like the extra flags.
    ...(labRouters.length > 0 ? { routers: labRouters } : {}),
    hosts: [],
  };
  const stateFile = topo.paths.stateFile;
  try {
    report(onProgress, `creating ${hosts} host${hosts === 1 ? '' : 's'} on ${lab.underlay} (namespaces ${name}-h1…${name}-h${hosts}, switch ${topo.names.switchNetns})`);
    await prepareDirs(topo.paths);
    // Written first, so even a lab that fails half-way is found and torn down by `lab down`.
    await writeLabState(stateFile, lab);
    await createSwitch(topo);
    for (const router of routers) {
      const made = labRouter(topo.names, router);
      report(onProgress, `NAT router ${made.name} (${made.netns}): WAN ${made.wanIp}, LAN ${made.lan} with ${made.hosts.join(', ')}, masquerading${made.firewall ? '' : ' (no firewall)'}`);
      await createRouter(topo, router);
    }
    for (let k = 1; k <= hosts; k++) {
      lab = replaceHost(lab, await createHost(topo, k));
      await writeLabState(stateFile, lab);
    }
  } catch (err) {
    await labDown({ name }).catch(() => undefined);
    throw err;
  }
  if (hostsOnly) return { status: 'created', lab, replacedStale };

  const timeoutMs = options.readyTimeoutMs ?? LAB_DEFAULTS.readyTimeoutMs;
  const [first, ...rest] = lab.hosts;
  report(onProgress, `starting the bootstrap in h1 (${first!.underlayIp}:${lab.bootstrapPort})`);
  lab = replaceHost(lab, await startNode(lab, first!, options.env));
  await writeLabState(stateFile, lab);
  if (options.wait === false) {
    for (const host of rest) lab = replaceHost(lab, await startNode(lab, host, options.env));
    await writeLabState(stateFile, lab);
    return { status: 'created', lab, replacedStale };
  }
  // Joins retry, but starting them once the bootstrap answers keeps their backoff short.
  const [bootstrap] = await waitForNodes(lab, [labHost(lab, 'h1')], () => [], { timeoutMs, onProgress });
  lab = replaceHost(lab, bootstrap!);
  if (rest.length > 0) report(onProgress, `starting join in ${rest.map((h) => h.name).join(', ')}`);
  for (const host of rest) lab = replaceHost(lab, await startNode(lab, host, options.env));
  await writeLabState(stateFile, lab);
  lab = await waitForMesh(lab, { timeoutMs, ...(onProgress ? { onProgress } : {}) });
  return { status: 'created', lab, replacedStale };
}

function sameArgs(a: readonly string[] | undefined, b: readonly string[]): boolean {
  const left = a ?? [];
  return left.length === b.length && left.every((x, i) => x === b[i]);
}

/**
 * Adds hosts h(K+1)… to a running lab and starts their `join` (the "late joiners"). With a
 * count, every host is created first and then all joins are started together, back to back, so
 * they reach the bootstrap at the same time.
 */
export async function labAdd(options: LabAddOptions = {}): Promise<LabAddResult> {
  requireRoot();
  const name = validateLabName(options.name ?? LAB_DEFAULTS.name);
  const count = options.count ?? 1;
  if (!Number.isInteger(count) || count < 1) throw new InvalidLabOptions(`the number of hosts to add must be a whole number of at least 1, not ${count}`);
  let lab = await loadLab(name);
  // New hosts go on the switch; the routers' WAN addresses are kept free of them.
  const topo = topologyOf(name, lab.underlay, routerPlans(lab));
  const first = Math.max(0, ...lab.hosts.map((h) => h.index)) + 1;
  validateHostCount(first + count - 1, topo.underlay, topo.routers.length);
  const indexes = Array.from({ length: count }, (_, i) => first + i);
  report(options.onProgress, `creating ${indexes.map((k) => `h${k}`).join(', ')} (${indexes.map((k) => topo.names.netns(k)).join(', ')})`);
  let added: LabHost[] = [];
  for (const k of indexes) {
    const host = await createHost(topo, k);
    added.push(host);
    lab = replaceHost(lab, host);
    await writeLabState(topo.paths.stateFile, lab);
  }
  if (!lab.hostsOnly) {
    if (count > 1) report(options.onProgress, `starting join in ${added.map((h) => h.name).join(', ')} together`);
    const current = lab;
    // allSettled: every process that did start is recorded, so `lab down` finds it.
    const started = await Promise.allSettled(added.map((host) => startNode(current, host, options.env)));
    for (const result of started) if (result.status === 'fulfilled') lab = replaceHost(lab, result.value);
    await writeLabState(topo.paths.stateFile, lab);
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    added = added.map((h) => labHost(lab, h.name));
    if (options.wait !== false) {
      lab = await waitForMesh(lab, { timeoutMs: options.readyTimeoutMs ?? LAB_DEFAULTS.readyTimeoutMs, ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
      added = added.map((h) => labHost(lab, h.name));
    }
  }
  return { lab, host: added[0]!, hosts: added };
}

// ---------------------------------------------------------------------------------------------
// Stopping and (re)starting one host's node

interface TrackedChild extends ProcessIdentity {
  readonly comm: string;
}

async function allGone(procs: readonly ProcessIdentity[]): Promise<boolean> {
  return (await Promise.all(procs.map(isRunning))).every((running) => !running);
}

/**
 * Signals a host's node (SIGTERM by default; SIGKILL for a crash) and waits until it and its
 * children are gone. The lab records the stop in lab.json, so `lab status` shows it as stopped,
 * `lab down` does not look for it, and `labStartNode` can bring it back. Children the node
 * leaves behind (a wireguard-go whose parent died) get the time to exit on their own, then are
 * stopped: only processes that were the node's descendants when it was signalled, identified by
 * PID and start time.
 */
export async function labKillNode(ref: LabRef, hostName: string, options: LabKillOptions = {}): Promise<LabKillResult> {
  requireRoot();
  let lab = await freshLab(ref);
  const host = labHost(lab, hostName);
  const proc = host.process;
  if (!proc || !(await isRunning(proc))) throw new NodeNotRunning(lab.name, host.name);
  const sig = options.signal ?? 'SIGTERM';
  const children: TrackedChild[] = descendantsOf(proc.pid, await processTable()).map((c) => ({ pid: c.pid, startTicks: c.startTicks, comm: c.comm }));
  const stop: LabStop = { signal: sig, atMs: Date.now() };
  // Recorded before the signal: whatever happens next, the lab knows this stop was on purpose.
  lab = replaceHost(lab, { ...host, stopped: stop });
  await writeLabState(labPaths(lab.name).stateFile, lab);
  report(options.onProgress, `${host.name}: sending ${sig} to wgmesh (PID ${proc.pid})`);
  const signalledMs = Date.now();
  signal(proc, sig);
  let escalated = false;
  if (!(await waitUntil(async () => !(await isRunning(proc)), options.timeoutMs ?? LAB_DEFAULTS.stopTimeoutMs, 10))) {
    report(options.onProgress, `${host.name}: wgmesh (PID ${proc.pid}) did not exit on ${sig}; sending SIGKILL`);
    signal(proc, 'SIGKILL');
    escalated = true;
    if (!(await waitUntil(async () => !(await isRunning(proc)), 2_000, 10))) {
      throw new LabError(`${host.name}: wgmesh (PID ${proc.pid}) is still running after SIGKILL (stuck in the kernel?)`);
    }
  }
  const exitedMs = Date.now();
  const { leftover } = await stopLeftovers(children, options.childTimeoutMs ?? LAB_DEFAULTS.stopTimeoutMs, 20, (left) =>
    report(options.onProgress, `${host.name}: stopping what wgmesh left running: ${left.map((c) => `${c.comm} (PID ${c.pid})`).join(', ')}`),
  );
  const exits: ChildExit[] = [
    ...children.filter((c) => !leftover.includes(c)).map((c): ChildExit => ({ pid: c.pid, comm: c.comm, how: 'exited' })),
    ...leftover.map((c): ChildExit => ({ pid: c.pid, comm: c.comm, how: 'stopped' })),
  ];
  return { lab, host: labHost(lab, host.name), pid: proc.pid, signal: sig, signalledMs, exitedMs, escalated, children: exits };
}

/**
 * Starts the node of a host whose node is not running (stopped by `labKillNode`, or exited),
 * with the same command line as before and the same state directory (the host's
 * /var/lib/wgmesh persists): a restart, as a machine would see one.
 */
export async function labStartNode(ref: LabRef, hostName: string, options: LabStartOptions = {}): Promise<LabStartResult> {
  requireRoot();
  let lab = await freshLab(ref);
  if (lab.hostsOnly) throw new LabError(`lab "${lab.name}" was made with -hosts-only and runs no wgmesh`);
  let host = labHost(lab, hostName);
  if (host.process && (await isRunning(host.process))) throw new NodeStillRunning(lab.name, host.name, host.process.pid);
  report(options.onProgress, `${host.name}: starting wgmesh ${host.role}`);
  host = await startNode(lab, host, options.env, host.process?.argv ?? plannedNodeArgv(lab, host));
  lab = replaceHost(lab, host);
  await writeLabState(labPaths(lab.name).stateFile, lab);
  if (options.wait !== false) {
    lab = await waitForMesh(lab, { timeoutMs: options.readyTimeoutMs ?? LAB_DEFAULTS.readyTimeoutMs, ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
    host = labHost(lab, host.name);
  }
  return { lab, host };
}

/** Stops a host's node if it runs (SIGTERM unless told otherwise), then starts it again. */
export async function labRestartNode(ref: LabRef, hostName: string, options: LabRestartOptions = {}): Promise<LabRestartResult> {
  requireRoot();
  const lab = await freshLab(ref);
  const proc = labHost(lab, hostName).process;
  let killed: LabKillResult | undefined;
  if (proc && (await isRunning(proc))) {
    killed = await labKillNode(lab, hostName, {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.childTimeoutMs !== undefined ? { childTimeoutMs: options.childTimeoutMs } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
  }
  const started = await labStartNode(lab, hostName, options);
  return { ...started, killed };
}

async function stopAll(procs: readonly ProcessIdentity[], timeoutMs: number): Promise<{ stopped: number[]; killed: number[] }> {
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
async function stopLeftovers<T extends ProcessIdentity>(
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
async function processesInside(names: LabNames, paths: LabPaths, netns: readonly string[]): Promise<number[]> {
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

/**
 * Stops the lab's recorded processes (SIGTERM, SIGKILL after the deadline) and their children,
 * then deletes its namespaces, mounts and directories. Idempotent; works from whatever is left.
 */
export async function labDown(options: LabDownOptions = {}): Promise<LabDownReport> {
  requireRoot();
  const name = validateLabName(options.name ?? LAB_DEFAULTS.name);
  const names = labNames(name);
  const paths = labPaths(name);
  const onProgress = options.onProgress;
  const state = await findLab(name);

  // Only PIDs the lab recorded, and only while they are still the same process (start time).
  const joiners: ProcessIdentity[] = [];
  const bootstraps: ProcessIdentity[] = [];
  for (const h of state?.hosts ?? []) {
    if (h.process && (await isRunning(h.process))) (h.role === 'bootstrap' ? bootstraps : joiners).push(h.process);
  }
  const recorded = [...joiners, ...bootstraps];
  // Their children (wireguard-go) are found before anything is signalled.
  const table = await processTable();
  const children: ProcessIdentity[] = recorded.flatMap((p) => descendantsOf(p.pid, table).map((c) => ({ pid: c.pid, startTicks: c.startTicks })));

  const stopped: number[] = [];
  const killed: number[] = [];
  if (recorded.length > 0) report(onProgress, `stopping wgmesh (PIDs ${recorded.map((p) => p.pid).join(', ')})`);
  // Joiners first, so their Leave reaches a bootstrap that is still there; then the bootstrap.
  for (const group of [joiners, bootstraps]) {
    if (group.length === 0) continue;
    const result = await stopAll(group, options.stopTimeoutMs ?? LAB_DEFAULTS.stopTimeoutMs);
    stopped.push(...result.stopped);
    killed.push(...result.killed);
  }
  // A node stops its own wireguard-go; whatever outlives it is stopped here.
  killed.push(...(await stopLeftovers(children, 2_000, undefined)).killed);

  const netnsBefore = await listNetns();
  const strays = await processesInside(names, paths, netnsBefore);
  const teardown = await destroyTopology(names, paths);
  const existed = state !== undefined || recorded.length > 0 || teardown.netns.length > 0 || teardown.mounts.length > 0 || teardown.dirs.length > 0;
  if (existed) report(onProgress, `removed ${teardown.netns.length} namespace${teardown.netns.length === 1 ? '' : 's'} and ${teardown.mounts.length} mount${teardown.mounts.length === 1 ? '' : 's'}`);
  return { existed, stopped, killed, netns: teardown.netns, mounts: teardown.mounts, strays };
}
