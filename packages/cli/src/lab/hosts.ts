/**
 * Reading a lab: its lab.json, its hosts, commands run inside them, and whether all of it is
 * there (namespaces, mounts, running nodes). Changes nothing.
 */
import { LAB_DEFAULTS } from './constants.js';
import { LabError, LabNotFound, UnknownHost } from './errors.js';
import { hostEnterArgs, labNames, labPaths, validateLabName } from './plan.js';
import { mountsUnder } from './parse.js';
import { readLabState, type LabHost, type LabState } from './state.js';
import { isRunning, pathExists, readMountinfo, runCapture, type ExecResult } from './sys.js';
import { labEnv, REPO_ROOT } from './supervisor.js';
import { listNetns, netnsPath } from './topology.js';
import type { HostExecOptions, HostStatus, LabInspection, LabRef } from './types.js';

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

/** A lab given by name (read from lab.json) or as read already. */
export async function resolveLab(ref: LabRef): Promise<LabState> {
  return typeof ref === 'string' ? loadLab(ref) : ref;
}

/** For changes: always the lab.json on disk, so a caller's older copy cannot undo another change. */
export async function freshLab(ref: LabRef): Promise<LabState> {
  return loadLab(typeof ref === 'string' ? ref : ref.name);
}

export function labHost(lab: LabState, host: string): LabHost {
  const found = lab.hosts.find((h) => h.name === host);
  if (!found) throw new UnknownHost(lab.name, host, lab.hosts.map((h) => h.name));
  return found;
}

/** The hosts that run `wgmesh bootstrap` (h1, or h1…hK with -bootstraps K), in host order. */
export function bootstrapHosts(lab: LabState): LabHost[] {
  return lab.hosts.filter((h) => h.role === 'bootstrap');
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

/** What of the lab exists, and what is missing or not running (a node stopped by `lab kill` is not a problem). */
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
    if (router.miniupnpd && !(router.miniupnpd.process && (await isRunning(router.miniupnpd.process)))) problems.push(`NAT router ${router.name}: miniupnpd is not running`);
  }
  for (const member of state.etcd ?? []) {
    if (!(member.process && (await isRunning(member.process)))) problems.push(`${member.name}: etcd is not running`);
  }
  if (state.stun) {
    if (!netns.includes(state.stun.netns)) problems.push(`STUN server: network namespace ${state.stun.netns} is missing`);
    if (!(state.stun.process && (await isRunning(state.stun.process)))) problems.push('STUN server (coturn) is not running');
  }
  for (const host of state.hosts) {
    if (!netns.includes(host.netns)) problems.push(`${host.name}: network namespace ${host.netns} is missing`);
    if (!mounts.includes(host.mountFile)) problems.push(`${host.name}: mount namespace ${host.mountFile} is missing`);
    // A node the lab stopped on purpose (`lab kill`) is not damage: `lab start` brings it back.
    if (!state.hostsOnly && !host.stopped && !(host.process && (await isRunning(host.process)))) problems.push(`${host.name}: wgmesh is not running`);
  }
  return { state, exists, healthy: problems.length === 0, problems };
}

/** Each host's addresses, its node's PID and whether it runs (as `wgmesh lab status` shows them). */
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

