/**
 * The etcd cluster of a lab with several bootstraps: one member in each bootstrap host (h1…hK),
 * or one a running lab gets later (labStartEtcd: e.g. the store a file-store mesh migrates into),
 * run inside the host's network and mount namespaces like its node and listening on the host's
 * underlay address (Debian's `etcd`, see etcdArgs). Members are started together, waited for
 * until every one answers healthy (checked with `etcdctl` from inside h1: the underlay is
 * reachable only inside the lab), recorded in lab.json by PID and start time as soon as they run,
 * and stopped by `lab down` after the bootstraps; their data lives in the hosts' state
 * directories and goes with them.
 */
import { ETCD_READY_TIMEOUT_MS, LAB_DEFAULTS } from './constants.js';
import { EtcdNotHealthy, LabError } from './errors.js';
import { etcdArgs, etcdctlArgs, type EtcdMemberPlan, type LabPaths } from './plan.js';
import { etcdLeaderEndpoint, parseEtcdStatus } from './parse.js';
import { logSince, sizeOf, startDaemon, tail } from './daemons.js';
import { replaceEtcdMember, writeLabState, type LabEtcdMember, type LabState } from './state.js';
import { labEnv, stopAll } from './supervisor.js';
import { commandOnPath, isRunning, runCapture, waitUntil, type ExecResult, type ProcessIdentity } from './sys.js';
import { netnsPath } from './topology.js';
import type { Progress } from './types.js';

/** What a lab's etcd cluster needs on PATH: the server, and etcdctl for the health checks. */
export const ETCD_COMMANDS = ['etcd', 'etcdctl'] as const;

/**
 * Throws, naming the package to install, unless etcd and etcdctl are on `path`. `purpose`: the
 * number of bootstraps of a lab being made, or what else wants etcd ("lab etcd h1").
 */
export async function requireEtcd(purpose: number | string, path: string = process.env.PATH ?? ''): Promise<void> {
  const missing: string[] = [];
  for (const command of ETCD_COMMANDS) if (!(await commandOnPath(command, path))) missing.push(command);
  if (missing.length > 0) {
    const what = typeof purpose === 'number' ? `-bootstraps ${purpose} runs an etcd cluster in the bootstrap hosts` : `${purpose} runs an etcd cluster`;
    throw new LabError(
      `${what}, but ${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} not on PATH: ` +
        'install etcd-server and etcd-client (scripts/install-deps.sh installs them)',
    );
  }
}

/** The environment of etcd and etcdctl: the lab's, without ETCD_* / ETCDCTL_* settings that would override the flags. */
function etcdEnv(base?: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = labEnv(base);
  for (const key of Object.keys(env)) if (key.startsWith('ETCD_') || key.startsWith('ETCDCTL_')) delete env[key];
  return env;
}

/** The lab's record of its members before they start: names, URLs, data directories and logs. */
export function labEtcdMembers(plans: readonly EtcdMemberPlan[], paths: LabPaths): LabEtcdMember[] {
  return plans.map((m) => ({ name: m.name, clientUrl: m.clientUrl, peerUrl: m.peerUrl, ...paths.etcd(m.index) }));
}

/** The lab's etcd client URLs in host order (empty for a lab with one bootstrap): each bootstrap's -etcd-endpoints. */
export function labEtcdEndpoints(lab: LabState): string[] {
  return (lab.etcd ?? []).map((m) => m.clientUrl);
}

/** Runs etcdctl against the lab's members from inside h1's network namespace; a non-zero exit is returned. */
export async function labEtcdctl(lab: LabState, command: readonly string[], timeoutMs = 5_000): Promise<ExecResult> {
  const host = lab.hosts.find((h) => h.name === lab.etcd?.[0]?.name) ?? lab.hosts[0];
  if (!host || !lab.etcd?.length) throw new LabError(`lab "${lab.name}" runs no etcd (it has one bootstrap)`);
  return runCapture('nsenter', [`--net=${netnsPath(host.netns)}`, '--', ...etcdctlArgs(labEtcdEndpoints(lab), command)], { timeoutMs, env: etcdEnv() });
}

/** The member the answering members agree is the leader, or undefined while there is none (or none answers). */
export async function etcdLeader(lab: LabState): Promise<LabEtcdMember | undefined> {
  const result = await labEtcdctl(lab, ['endpoint', 'status', '-w', 'json']);
  const endpoint = etcdLeaderEndpoint(parseEtcdStatus(result.stdout));
  return lab.etcd?.find((m) => m.clientUrl === endpoint);
}

export interface EtcdMemberStatus {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** The PID the lab started it with (undefined before it started). */
  readonly pid: number | undefined;
  readonly running: boolean;
}

/** Each etcd member of the lab, its PID and whether that process still runs (`lab status` shows them). */
export async function labEtcdStatus(lab: LabState): Promise<EtcdMemberStatus[]> {
  return Promise.all(
    (lab.etcd ?? []).map(async (m) => ({
      name: m.name, clientUrl: m.clientUrl, peerUrl: m.peerUrl, dataDir: m.dataDir, logFile: m.logFile,
      pid: m.process?.pid, running: m.process ? await isRunning(m.process) : false,
    })),
  );
}

/** The lab's etcd processes that still run (recorded and the same process). */
export async function runningEtcd(lab: LabState | undefined): Promise<ProcessIdentity[]> {
  const running: ProcessIdentity[] = [];
  for (const m of lab?.etcd ?? []) if (m.process && (await isRunning(m.process))) running.push(m.process);
  return running;
}

/**
 * Stops the members: SIGTERM, SIGKILL after the deadline (etcd's WAL makes that safe). The
 * followers go first, then the leader: a leader stopped together with its followers spends
 * seconds trying to hand its leadership to one of them, while one with no follower left
 * stops at once.
 */
export async function stopEtcd(lab: LabState | undefined, timeoutMs: number): Promise<{ stopped: number[]; killed: number[] }> {
  const running = await runningEtcd(lab);
  if (!lab || running.length === 0) return { stopped: [], killed: [] };
  const leader = running.length > 1 ? (await etcdLeader(lab).catch(() => undefined))?.process : undefined;
  const followers = running.filter((p) => p.pid !== leader?.pid);
  const stopped: number[] = [];
  const killed: number[] = [];
  for (const group of [followers, running.filter((p) => p.pid === leader?.pid)]) {
    if (group.length === 0) continue;
    const result = await stopAll(group, timeoutMs);
    stopped.push(...result.stopped);
    killed.push(...result.killed);
  }
  return { stopped, killed };
}

export interface StartEtcdOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
  readonly onProgress?: Progress;
}

/**
 * Starts every member of the lab's etcd cluster (recorded in lab.etcd, in its hosts' namespaces)
 * and waits until all answer healthy. Each is recorded in lab.json as soon as it runs, so `lab
 * down` stops whatever did start. Throws EtcdNotHealthy, naming the logs, when a member exits or
 * the cluster is not healthy by the deadline.
 */
export async function startEtcd(lab: LabState, stateFile: string, options: StartEtcdOptions = {}): Promise<LabState> {
  const members = lab.etcd ?? [];
  const timeoutMs = options.timeoutMs ?? ETCD_READY_TIMEOUT_MS;
  const cluster = members.map((m, i): EtcdMemberPlan => ({ name: m.name, index: i + 1, ip: new URL(m.clientUrl).hostname, clientUrl: m.clientUrl, peerUrl: m.peerUrl }));
  options.onProgress?.(`etcd cluster of ${members.length} in ${members.map((m) => m.name).join(', ')} (${labEtcdEndpoints(lab).join(',')})`);
  const offsets = new Map<string, number>();
  for (const [i, member] of members.entries()) {
    const host = lab.hosts.find((h) => h.name === member.name);
    if (!host) throw new LabError(`lab "${lab.name}": etcd member ${member.name} has no host of that name`);
    offsets.set(member.name, await sizeOf(member.logFile));
    const proc = await startDaemon(host.netns, etcdArgs(cluster[i]!, cluster, member.dataDir, lab.name), member.logFile, {
      mountFile: host.mountFile,
      env: etcdEnv(options.env),
    });
    lab = replaceEtcdMember(lab, { ...member, process: proc });
    await writeLabState(stateFile, lab);
  }

  const started = lab.etcd ?? [];
  let exited: LabEtcdMember | undefined;
  let last = '';
  const healthy = await waitUntil(async () => {
    for (const m of started) {
      if (m.process && !(await isRunning(m.process))) {
        exited = m;
        return true;
      }
    }
    const result = await labEtcdctl(lab, ['endpoint', 'health']);
    last = (result.stderr.trim().split('\n').filter((l) => !l.startsWith('{')).pop() ?? '') || result.stdout.trim();
    return result.code === 0;
  }, timeoutMs, LAB_DEFAULTS.pollIntervalMs);
  const logs = started.map((m) => m.logFile);
  if (exited) {
    const log = tail(await logSince(exited.logFile, offsets.get(exited.name) ?? 0));
    throw new EtcdNotHealthy(`etcd in ${exited.name} exited; last lines of ${exited.logFile}:\n${log || '(empty)'}`, logs);
  }
  if (!healthy) {
    throw new EtcdNotHealthy(`the lab's etcd cluster (${started.map((m) => m.name).join(', ')}) was not healthy within ${timeoutMs / 1000} s${last ? ` (${last})` : ''}; its logs: ${logs.join(', ')}`, logs);
  }
  options.onProgress?.('etcd cluster healthy');
  return lab;
}
