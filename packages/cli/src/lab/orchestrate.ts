/**
 * `wgmesh lab`: N hosts on this machine, each a network namespace plus a mount namespace, on one
 * bridge (or behind a masquerading NAT router that is on it); h1 runs `wgmesh bootstrap -dev`
 * (or h1…hK, sharing an etcd cluster with a member in each: etcd.ts), the others `wgmesh join
 * -dev`. The end-to-end tests build their topologies with the same functions.
 *
 * This module orchestrates: `up`, `add`, `down`, and stopping, starting and restarting one
 * host's node. Processes are started by a supervisor (supervisor.ts), readiness is read through
 * the nodes' local API (readiness.ts), and the lab is read from its lab.json (hosts.ts).
 */
import { LAB_DEFAULTS, nameHint } from './constants.js';
import { InvalidLabOptions, LabConflict, LabError, NodeNotRunning, NodeStillRunning, LabNotRoot } from './errors.js';
import { findLab, freshLab, inspectLab, labHost, loadLab } from './hosts.js';
import {
  formatCidr,
  hostIndex,
  labNames,
  labPaths,
  parseCidr,
  parseNatGroups,
  planEtcd,
  planEtcdMembers,
  planNat,
  reservedAddresses,
  validateBootstrapCount,
  validateHostCount,
  validateLabName,
  validateMeshName,
  type NatRouterPlan,
} from './plan.js';
import { startUpnp, stopDaemons } from './daemons.js';
import { labEtcdMembers, requireEtcd, startEtcd, stopEtcd, type StartEtcdOptions } from './etcd.js';
import { descendantsOf } from './parse.js';
import { waitForMesh, waitForNodes } from './readiness.js';
import { replaceHost, updateLabState, writeLabState, type LabHost, type LabRouter, type LabState, type LabStop } from './state.js';
import { builtWgmeshCommand, createNodeSupervisor, processesInside, restartNodeArgv, signalAndWait, stopAll, stopLeftovers } from './supervisor.js';
import { commandOnPath, formatCommandLine, isRoot, isRunning, processTable, type ProcessIdentity } from './sys.js';
import { createHost, createRouter, createSwitch, destroyTopology, labRouter, listNetns, prepareDirs, type Topology } from './topology.js';
import type {
  ChildExit,
  LabAddOptions,
  LabAddResult,
  LabDownOptions,
  LabDownReport,
  LabKillOptions,
  LabKillResult,
  LabRef,
  LabRestartOptions,
  LabRestartResult,
  LabStartOptions,
  LabStartResult,
  LabUpOptions,
  LabUpResult,
  Progress,
} from './types.js';

function requireRoot(): void {
  if (!isRoot()) throw new LabNotRoot();
}

function report(onProgress: Progress | undefined, message: string): void {
  onProgress?.(message);
}

function topologyOf(name: string, underlay: string, routers: readonly NatRouterPlan[] = [], bootstraps = 1): Topology {
  return { names: labNames(name), paths: labPaths(name), underlay: parseCidr(underlay), routers, bootstraps };
}

/** The NAT routers recorded in lab.json, as plans (to place new hosts around them). */
function routerPlans(lab: LabState): NatRouterPlan[] {
  return (lab.routers ?? []).map((r) => {
    const lan = parseCidr(r.lan);
    return { index: r.index, name: r.name, hosts: r.hosts.map((h) => hostIndex(h) ?? 0), wanIp: r.wanIp, lan, lanIp: r.lanIp, style: r.style, upnp: r.miniupnpd !== undefined };
  });
}

/** The routers' host groups, for comparing a request with a running lab: "r1 (…, home): h2; r2 (…, home, upnp): h4+h5". */
function natLayout(routers: readonly LabRouter[]): string {
  return routers.map((r) => `${r.name} (${r.lan}, ${r.style}${r.miniupnpd ? ', upnp' : ''}): ${r.hosts.join('+')}`).join('; ') || 'no NAT';
}

/** What NAT routers need besides what every lab needs (ip, nsenter, …); with UPnP also miniupnpd, coturn and ss. */
async function requireNatTools(upnp: boolean): Promise<void> {
  const missing: string[] = [];
  for (const command of ['iptables', 'sysctl']) if (!(await commandOnPath(command))) missing.push(command);
  if (missing.length > 0) {
    throw new LabError(`NAT routers need ${missing.join(' and ')} (apt-get install iptables procps)`);
  }
  if (!upnp) return;
  for (const command of ['iptables-legacy', 'miniupnpd', 'turnserver', 'ss']) if (!(await commandOnPath(command))) missing.push(command);
  if (missing.length > 0) {
    throw new LabError(`-upnp needs ${missing.join(', ')} (scripts/install-deps.sh installs them: iptables, miniupnpd-iptables, coturn, iproute2)`);
  }
}

function sameArgs(a: readonly string[] | undefined, b: readonly string[]): boolean {
  const left = a ?? [];
  return left.length === b.length && left.every((x, i) => x === b[i]);
}

// ---------------------------------------------------------------------------------------------
// up / add / down

export async function labUp(options: LabUpOptions): Promise<LabUpResult> {
  requireRoot();
  const name = validateLabName(options.name ?? LAB_DEFAULTS.name);
  const underlay = options.underlay ?? LAB_DEFAULTS.underlay;
  const groups = parseNatGroups(options.nat ?? []);
  const hosts = validateHostCount(options.hosts, parseCidr(underlay), groups.length);
  const bootstraps = validateBootstrapCount(options.bootstraps ?? 1, hosts);
  const meshCidr = parseCidr(options.cidr ?? LAB_DEFAULTS.cidr);
  // Each bootstrap takes the mesh address of its host's number (h1 .1, h2 .2, …).
  validateHostCount(bootstraps, meshCidr);
  const upnp = options.upnp ?? false;
  if (upnp && groups.length === 0) throw new InvalidLabOptions('-upnp runs miniupnpd on the NAT routers: give some with -nat');
  const routers = planNat(groups, { hosts, underlay: parseCidr(underlay), natLan: parseCidr(options.natLan ?? LAB_DEFAULTS.natLan), cidr: meshCidr, style: options.natStyle ?? 'home', upnp, bootstraps });
  const topo = topologyOf(name, underlay, routers, bootstraps);
  const mesh = validateMeshName(options.mesh ?? LAB_DEFAULTS.mesh);
  const cidr = formatCidr(meshCidr);
  const labRouters = routers.map((r) => labRouter(topo.names, topo.paths, r));
  const hostsOnly = options.hostsOnly ?? false;
  if (bootstraps > 1 && hostsOnly) throw new InvalidLabOptions(`-bootstraps ${bootstraps} starts bootstraps and etcd, and -hosts-only starts nothing: give one of them`);
  if (routers.length > 0) await requireNatTools(upnp);
  if (bootstraps > 1) await requireEtcd(bootstraps, (options.env ?? process.env).PATH ?? '');
  const bootstrapArgs = [...(options.bootstrapArgs ?? [])];
  const joinArgs = [...(options.joinArgs ?? [])];
  const onProgress = options.onProgress;
  const supervisor = options.supervisor ?? createNodeSupervisor();

  const found = await inspectLab(name);
  if (found.healthy && found.state) {
    const have = found.state.hosts.length;
    const downFirst = `run \`wgmesh lab down${nameHint(name)}\` first`;
    if (found.state.hostsOnly !== hostsOnly) {
      throw new LabConflict(`lab "${name}" is already up ${found.state.hostsOnly ? 'without' : 'with'} wgmesh; ${downFirst}`);
    }
    if ((found.state.bootstraps ?? 1) !== bootstraps) {
      throw new LabConflict(`lab "${name}" is already up with ${found.state.bootstraps ?? 1} bootstrap${(found.state.bootstraps ?? 1) === 1 ? '' : 's'}; ${downFirst}`);
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
    let lab = (await labAdd({ name, count: hosts - have, wait: false, supervisor, ...(options.env ? { env: options.env } : {}), ...(onProgress ? { onProgress } : {}) })).lab;
    if (!hostsOnly && options.wait !== false) lab = await waitForMesh(lab, { timeoutMs: options.readyTimeoutMs ?? LAB_DEFAULTS.readyTimeoutMs, supervisor, ...(onProgress ? { onProgress } : {}) });
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
    // Recorded only with several, like the extra flags: a one-bootstrap lab.json is unchanged.
    ...(bootstraps > 1 ? { bootstraps, etcd: labEtcdMembers(planEtcd(topo.underlay, bootstraps), topo.paths) } : {}),
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
      const made = labRouter(topo.names, topo.paths, router);
      report(onProgress, `NAT router ${made.name} (${made.netns}): WAN ${made.wanIp}, LAN ${made.lan} with ${made.hosts.join(', ')}, ${made.style} NAT (${made.iptables})`);
      await createRouter(topo, router);
    }
    for (let k = 1; k <= hosts; k++) {
      lab = replaceHost(lab, await createHost(topo, k));
      await writeLabState(stateFile, lab);
    }
    if (upnp) lab = await startUpnp(lab, topo, stateFile, onProgress);
  } catch (err) {
    await labDown({ name }).catch(() => undefined);
    throw err;
  }
  if (hostsOnly) return { status: 'created', lab, replacedStale };

  const timeoutMs = options.readyTimeoutMs ?? LAB_DEFAULTS.readyTimeoutMs;
  // The bootstraps keep their member table in etcd: it must answer before they start. A cluster
  // that does not is left up (recorded in lab.json) so its logs can be read.
  if (bootstraps > 1) lab = await startEtcd(lab, stateFile, { ...(options.env ? { env: options.env } : {}), ...(onProgress ? { onProgress } : {}) });
  const firsts = lab.hosts.filter((h) => h.role === 'bootstrap');
  const rest = lab.hosts.filter((h) => h.role !== 'bootstrap');
  if (options.wait === false) {
    for (const host of [...firsts, ...rest]) lab = replaceHost(lab, await supervisor.start(lab, host, options.env));
    await writeLabState(stateFile, lab);
    return { status: 'created', lab, replacedStale };
  }
  // One at a time, each once the previous answers: h1 creates the mesh (in etcd too) that the
  // others open. Joins retry, but starting them once the bootstraps answer keeps their backoff short.
  for (const host of firsts) {
    report(onProgress, `starting the bootstrap in ${host.name} (${host.underlayIp}:${lab.bootstrapPort})`);
    lab = replaceHost(lab, await supervisor.start(lab, host, options.env));
    await writeLabState(stateFile, lab);
    const [bootstrap] = await waitForNodes(lab, [labHost(lab, host.name)], () => [], { timeoutMs, onProgress, supervisor });
    lab = replaceHost(lab, bootstrap!);
  }
  if (rest.length > 0) report(onProgress, `starting join in ${rest.map((h) => h.name).join(', ')}`);
  for (const host of rest) lab = replaceHost(lab, await supervisor.start(lab, host, options.env));
  await writeLabState(stateFile, lab);
  lab = await waitForMesh(lab, { timeoutMs, supervisor, ...(onProgress ? { onProgress } : {}) });
  return { status: 'created', lab, replacedStale };
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
  const supervisor = options.supervisor ?? createNodeSupervisor();
  let lab = await loadLab(name);
  // New hosts go on the switch; the routers' WAN addresses are kept free of them.
  const topo = topologyOf(name, lab.underlay, routerPlans(lab), lab.bootstraps ?? 1);
  const first = Math.max(0, ...lab.hosts.map((h) => h.index)) + 1;
  validateHostCount(first + count - 1, topo.underlay, reservedAddresses(topo.routers.length, lab.stun !== undefined));
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
    const started = await Promise.allSettled(added.map((host) => supervisor.start(current, host, options.env)));
    for (const result of started) if (result.status === 'fulfilled') lab = replaceHost(lab, result.value);
    await writeLabState(topo.paths.stateFile, lab);
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    added = added.map((h) => labHost(lab, h.name));
    if (options.wait !== false) {
      lab = await waitForMesh(lab, { timeoutMs: options.readyTimeoutMs ?? LAB_DEFAULTS.readyTimeoutMs, supervisor, ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
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
  lab = await updateLabState(labPaths(lab.name).stateFile, (current) => replaceHost(current, { ...labHost(current, host.name), stopped: stop }));
  report(options.onProgress, `${host.name}: sending ${sig} to wgmesh (PID ${proc.pid})`);
  const signalledMs = Date.now();
  const { escalated, gone } = await signalAndWait(proc, sig, options.timeoutMs ?? LAB_DEFAULTS.stopTimeoutMs, () =>
    report(options.onProgress, `${host.name}: wgmesh (PID ${proc.pid}) did not exit on ${sig}; sending SIGKILL`),
  );
  if (!gone) throw new LabError(`${host.name}: wgmesh (PID ${proc.pid}) is still running after SIGKILL (stuck in the kernel?)`);
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
 * with the same command line as before (plus `options.args`, if given) and the same state
 * directory (the host's /var/lib/wgmesh persists): a restart, as a machine would see one.
 */
export async function labStartNode(ref: LabRef, hostName: string, options: LabStartOptions = {}): Promise<LabStartResult> {
  requireRoot();
  let lab = await freshLab(ref);
  if (lab.hostsOnly) throw new LabError(`lab "${lab.name}" was made with -hosts-only and runs no wgmesh`);
  let host = labHost(lab, hostName);
  if (host.process && (await isRunning(host.process))) throw new NodeStillRunning(lab.name, host.name, host.process.pid);
  const extra = options.args ?? [];
  report(options.onProgress, `${host.name}: starting wgmesh ${host.role}${extra.length > 0 ? ` with ${formatCommandLine(extra)} added` : ''}`);
  const supervisor = options.supervisor ?? createNodeSupervisor();
  host = await supervisor.start(lab, host, options.env, restartNodeArgv(lab, host, extra));
  const started = host;
  lab = await updateLabState(labPaths(lab.name).stateFile, (current) => replaceHost(current, started));
  if (options.wait !== false) {
    lab = await waitForMesh(lab, { timeoutMs: options.readyTimeoutMs ?? LAB_DEFAULTS.readyTimeoutMs, supervisor, ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
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

/**
 * Starts an etcd cluster in a running lab that has none, a member in each of the named hosts on
 * its underlay address (e.g. ['h1']: the store a one-bootstrap mesh on the file store moves into
 * with `wgmesh store migrate`), and waits until it is healthy. It is recorded in lab.json like the
 * cluster of a lab with several bootstraps: labEtcdctl reaches it, `lab status` lists it, `lab
 * down` stops it and removes its data. No node is touched: they run on the store they started with.
 */
export async function labStartEtcd(ref: LabRef, hosts: readonly string[], options: StartEtcdOptions = {}): Promise<LabState> {
  requireRoot();
  let lab = await freshLab(ref);
  if (lab.etcd?.length) throw new LabConflict(`lab "${lab.name}" runs an etcd cluster already (in ${lab.etcd.map((m) => m.name).join(', ')}); labEtcdEndpoints gives its URLs`);
  const members = hosts.map((name) => {
    const host = labHost(lab, name);
    if (host.nat) throw new InvalidLabOptions(`${host.name} is behind NAT router ${host.nat.router}: an etcd member there would not be reachable from the other hosts; pick a host on the switch`);
    return { name: host.name, index: host.index, ip: host.underlayIp };
  });
  const plans = planEtcdMembers(members);
  await requireEtcd(`an etcd in ${hosts.join(', ')}`);
  lab = { ...lab, etcd: labEtcdMembers(plans, labPaths(lab.name)) };
  const stateFile = labPaths(lab.name).stateFile;
  await writeLabState(stateFile, lab);
  return startEtcd(lab, stateFile, options);
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
  // The bootstraps' etcd cluster, once no bootstrap uses it (its data goes with the hosts' directories).
  const etcd = await stopEtcd(state, options.stopTimeoutMs ?? LAB_DEFAULTS.stopTimeoutMs);
  if (etcd.stopped.length + etcd.killed.length > 0) report(onProgress, `stopped etcd (PIDs ${[...etcd.stopped, ...etcd.killed].join(', ')})`);
  stopped.push(...etcd.stopped);
  killed.push(...etcd.killed);
  // Then the routers' miniupnpd and the STUN server, once no node uses them.
  const daemons = await stopDaemons(state, options.stopTimeoutMs ?? LAB_DEFAULTS.stopTimeoutMs);
  if (daemons.stopped.length + daemons.killed.length > 0) report(onProgress, `stopped miniupnpd and the STUN server (PIDs ${[...daemons.stopped, ...daemons.killed].join(', ')})`);
  stopped.push(...daemons.stopped);
  killed.push(...daemons.killed);

  const netnsBefore = await listNetns();
  const strays = await processesInside(names, paths, netnsBefore);
  const teardown = await destroyTopology(names, paths);
  const existed = state !== undefined || recorded.length > 0 || etcd.stopped.length > 0 || daemons.stopped.length > 0 || teardown.netns.length > 0 || teardown.mounts.length > 0 || teardown.dirs.length > 0;
  if (existed) report(onProgress, `removed ${teardown.netns.length} namespace${teardown.netns.length === 1 ? '' : 's'} and ${teardown.mounts.length} mount${teardown.mounts.length === 1 ? '' : 's'}`);
  return { existed, stopped, killed, netns: teardown.netns, mounts: teardown.mounts, strays };
}
