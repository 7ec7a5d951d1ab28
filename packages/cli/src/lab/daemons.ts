/**
 * The daemons a lab runs besides its nodes, for labs with UPnP routers: a public STUN server
 * (coturn, in its own namespace on the switch) and miniupnpd in each NAT router's namespace.
 * Each is started detached in its network namespace only (neither needs a private mount
 * namespace: their pidfiles, configs, leases and logs are files of the lab's state directory),
 * recorded in lab.json by PID and start time, and stopped by `lab down` (stopDaemons).
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { DAEMON_READY_TIMEOUT_MS, LAB_DEFAULTS, STUN_PORT } from './constants.js';
import { DaemonFailed } from './errors.js';
import { hostEnterArgs, miniupnpdArgs, miniupnpdConfig, parseCidr, routerUuid, stunAddresses, stunServerArgs } from './plan.js';
import { writeLabState, type LabProcess, type LabRouter, type LabState, type LabStun } from './state.js';
import { labEnv, stopAll } from './supervisor.js';
import { formatCommandLine, isRunning, readProcStat, runCapture, waitUntil, type ProcessIdentity } from './sys.js';
import { createStunHost, netnsPath, type Topology } from './topology.js';
import type { Progress } from './types.js';

export interface StartDaemonOptions {
  /** Enter this mount namespace too (a lab host's), not only the network namespace. */
  readonly mountFile?: string;
  /** Default: this process's environment (labEnv). */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Starts `argv` detached inside a network namespace (and a host's mount namespace if given),
 * stdout and stderr appended to `logFile` (after a line naming the command). nsenter execs the
 * command, so the PID is the daemon's own.
 */
export async function startDaemon(netns: string, argv: readonly string[], logFile: string, options: StartDaemonOptions = {}): Promise<LabProcess> {
  const log = openSync(logFile, 'a', 0o644);
  const startedMs = Date.now();
  let pid: number;
  try {
    writeSync(log, `--- ${new Date(startedMs).toISOString()} ${formatCommandLine(argv)}\n`);
    const enter = options.mountFile ? hostEnterArgs(netnsPath(netns), options.mountFile) : [`--net=${netnsPath(netns)}`, '--'];
    const child = spawn('nsenter', [...enter, ...argv], { detached: true, stdio: ['ignore', log, log], cwd: '/', env: options.env ?? labEnv() });
    pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid!));
      child.once('error', reject);
    });
    child.unref();
  } finally {
    closeSync(log);
  }
  const proc = await readProcStat(pid);
  return { pid, startTicks: proc?.startTicks ?? 0, startedMs, argv: [...argv] };
}

export async function logSince(file: string, offset: number): Promise<string> {
  return (await readFile(file, 'utf8').catch(() => '')).slice(offset);
}

export function tail(text: string, lines = 15): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

export async function sizeOf(file: string): Promise<number> {
  return (await stat(file).catch(() => undefined))?.size ?? 0;
}

/**
 * Waits until `ready` holds for the daemon's log since `offset` (or its namespace); throws
 * DaemonFailed when it exits first, when `failed` finds a reason in the log, or at the deadline.
 */
async function waitReady(
  what: string, proc: ProcessIdentity, logFile: string, offset: number,
  ready: (log: string) => boolean | Promise<boolean>, failed: (log: string) => string | undefined = () => undefined,
): Promise<void> {
  let reason: string | undefined;
  const ok = await waitUntil(async () => {
    const log = await logSince(logFile, offset);
    reason = failed(log);
    if (reason) return true;
    if (await ready(log)) return true;
    if (!(await isRunning(proc))) {
      reason = 'exited';
      return true;
    }
    return false;
  }, DAEMON_READY_TIMEOUT_MS, LAB_DEFAULTS.pollIntervalMs);
  if (reason || !ok) {
    throw new DaemonFailed(what, reason ?? `was not ready within ${DAEMON_READY_TIMEOUT_MS / 1000} s`, logFile, tail(await logSince(logFile, offset)));
  }
}

/** Every address:port the STUN server must listen on (each address, PORT and PORT+1), per `ss -Hnlu` in its namespace. */
async function stunListening(stun: LabStun): Promise<boolean> {
  const result = await runCapture('nsenter', [`--net=${netnsPath(stun.netns)}`, '--', 'ss', '-Hnlu'], { timeoutMs: 5_000 });
  if (result.code !== 0) return false;
  const local = new Set(result.stdout.split('\n').map((l) => l.trim().split(/\s+/)[3] ?? ''));
  return stun.ips.every((ip) => local.has(`${ip}:${stun.port}`) && local.has(`${ip}:${stun.port + 1}`));
}

/** What miniupnpd logs when it starts serving (after its STUN test). */
const MINIUPNPD_READY = /Listening for NAT-PMP\/PCP traffic on port 5351/;
const MINIUPNPD_FORWARDING_OFF = /Port forwarding is now disabled/;

/**
 * For a lab whose routers run miniupnpd: creates the STUN server's namespace, starts coturn in
 * it, then each router's miniupnpd (config written first), each waited for before the next and
 * recorded in lab.json as soon as it runs, so `lab down` stops whatever did start.
 */
export async function startUpnp(lab: LabState, topo: Topology, stateFile: string, onProgress?: Progress): Promise<LabState> {
  const routers = lab.routers ?? [];
  const ips = stunAddresses(topo.underlay, routers.length);
  onProgress?.(`STUN server for the routers' miniupnpd (${topo.names.stunNetns}): coturn on ${ips.join(' and ')}, port ${STUN_PORT}`);
  let stun = await createStunHost(topo, ips, STUN_PORT);
  lab = { ...lab, stun };
  await writeLabState(stateFile, lab);
  const offset = await sizeOf(stun.logFile);
  stun = { ...stun, process: await startDaemon(stun.netns, stunServerArgs(stun.ips, stun.port, stun.pidFile), stun.logFile) };
  lab = { ...lab, stun };
  await writeLabState(stateFile, lab);
  const stunProc = stun.process!;
  const stunNow = stun;
  await waitReady('the STUN server (coturn)', stunProc, stun.logFile, offset, () => stunListening(stunNow));

  for (const router of routers) {
    if (!router.miniupnpd) continue;
    const files = topo.paths.miniupnpd(router.index);
    await writeFile(files.configFile, miniupnpdConfig({ lan: parseCidr(router.lan), stunHost: ips[0], stunPort: STUN_PORT, leaseFile: files.leaseFile, uuid: routerUuid(lab.name, router.index) }), { mode: 0o644 });
    onProgress?.(`${router.name}: miniupnpd (UPnP IGD, NAT-PMP, PCP on ${router.lanIp})`);
    const logOffset = await sizeOf(files.logFile);
    const proc = await startDaemon(router.netns, miniupnpdArgs(files.configFile, files.pidFile), files.logFile);
    const updated: LabRouter = { ...router, miniupnpd: { ...router.miniupnpd, process: proc } };
    lab = { ...lab, routers: (lab.routers ?? []).map((r) => (r.name === router.name ? updated : r)) };
    await writeLabState(stateFile, lab);
    await waitReady(`${router.name}'s miniupnpd`, proc, files.logFile, logOffset, (log) => MINIUPNPD_READY.test(log), (log) =>
      MINIUPNPD_FORWARDING_OFF.test(log) ? 'disabled port forwarding (its STUN test found a NAT or firewall above it)' : undefined,
    );
  }
  return lab;
}

/** The lab's daemons that still run (recorded and the same process), miniupnpd first, then the STUN server. */
export async function runningDaemons(lab: LabState | undefined): Promise<{ miniupnpd: ProcessIdentity[]; stun: ProcessIdentity[] }> {
  const miniupnpd: ProcessIdentity[] = [];
  for (const r of lab?.routers ?? []) if (r.miniupnpd?.process && (await isRunning(r.miniupnpd.process))) miniupnpd.push(r.miniupnpd.process);
  const stun = lab?.stun?.process && (await isRunning(lab.stun.process)) ? [lab.stun.process] : [];
  return { miniupnpd, stun };
}

/**
 * Stops the lab's miniupnpds (SIGTERM: each removes its rules, lease file entries and pidfile),
 * then its STUN server; SIGKILL after the deadline.
 */
export async function stopDaemons(lab: LabState | undefined, timeoutMs: number): Promise<{ stopped: number[]; killed: number[] }> {
  const { miniupnpd, stun } = await runningDaemons(lab);
  const stopped: number[] = [];
  const killed: number[] = [];
  for (const group of [miniupnpd, stun]) {
    if (group.length === 0) continue;
    const result = await stopAll(group, timeoutMs);
    stopped.push(...result.stopped);
    killed.push(...result.killed);
  }
  return { stopped, killed };
}
