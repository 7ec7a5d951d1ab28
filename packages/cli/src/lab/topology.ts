/**
 * The lab's namespaces: a switch namespace with a bridge, and per host a network namespace
 * wired to it by a veth pair plus a persistent mount namespace. A host behind NAT is wired to
 * its NAT router's namespace instead, and the router to the switch. Links are created directly
 * in the switch (or router) namespace with their peer placed in the other namespace, so nothing
 * ever appears in the root network namespace, not even for a moment.
 */
import { mkdir, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { LAB_DEFAULTS } from './constants.js';
import {
  formatCidr,
  hostAddress,
  hostName,
  isBootstrapIndex,
  mountNamespaceScript,
  natHost,
  ROUTER_LINKS,
  routerIptables,
  routerNatCommands,
  type Ipv4Cidr,
  type LabNames,
  type LabPaths,
  type NatRouterPlan,
} from './plan.js';
import { mountsUnder, parseNetnsList } from './parse.js';
import type { HostRole, LabHost, LabRouter, LabStun } from './state.js';
import { pathExists, readMountinfo, runCapture, runOk } from './sys.js';

export interface Topology {
  readonly names: LabNames;
  readonly paths: LabPaths;
  readonly underlay: Ipv4Cidr;
  /** NAT routers; hosts not behind one of them sit on the switch. */
  readonly routers: readonly NatRouterPlan[];
  /** Hosts h1…hK bootstrap (default 1); the others join. */
  readonly bootstraps?: number;
}

export function netnsPath(netns: string): string {
  return `/var/run/netns/${netns}`;
}

export async function listNetns(): Promise<string[]> {
  const result = await runCapture('ip', ['netns', 'list']);
  return result.code === 0 ? parseNetnsList(result.stdout) : [];
}

async function isMountPoint(dir: string): Promise<boolean> {
  return mountsUnder(await readMountinfo(), dir).includes(dir);
}

/**
 * The directory of mount-namespace files must be a private mount: a bind mount of a namespace
 * file onto a shared mount is refused, and a private one keeps the files out of other mounts.
 */
export async function prepareDirs(paths: LabPaths): Promise<void> {
  await mkdir(paths.nsDir, { recursive: true, mode: 0o755 });
  await mkdir(paths.stateDir, { recursive: true, mode: 0o755 });
  // The bind target inside every host; it stays an empty directory outside the lab.
  await mkdir(LAB_DEFAULTS.hostStateDir, { recursive: true, mode: 0o700 });
  if (!(await isMountPoint(paths.runDir))) await runOk('mount', ['--bind', paths.runDir, paths.runDir]);
  await runOk('mount', ['--make-private', paths.runDir]);
}

export async function createSwitch(topo: Topology): Promise<void> {
  const sw = topo.names.switchNetns;
  await runOk('ip', ['netns', 'add', sw]);
  await runOk('ip', ['-n', sw, 'link', 'set', 'lo', 'up']);
  await runOk('ip', ['-n', sw, 'link', 'add', topo.names.bridge, 'type', 'bridge']);
  await runOk('ip', ['-n', sw, 'link', 'set', topo.names.bridge, 'up']);
}

export function labRouter(names: LabNames, paths: LabPaths, router: NatRouterPlan): LabRouter {
  const files = paths.miniupnpd(router.index);
  return {
    name: router.name,
    index: router.index,
    netns: names.routerNetns(router.index),
    wanIp: router.wanIp,
    lan: formatCidr(router.lan),
    lanIp: router.lanIp,
    hosts: router.hosts.map(hostName),
    style: router.style,
    iptables: routerIptables(router.upnp),
    ...(router.upnp ? { miniupnpd: { configFile: files.configFile, pidFile: files.pidFile, logFile: files.logFile } } : {}),
  };
}

/**
 * NAT router R: a netns with `wan` on the switch (an underlay address), a `lan` bridge holding
 * the private segment's first address (its hosts' veths join it as they are created), forwarding
 * on, MASQUERADE out of `wan`, the style's firewall and, with UPnP, miniupnpd's empty chains (see
 * routerNatCommands; miniupnpd itself is started later, see daemons.ts). Nothing is added to the
 * root namespace.
 */
export async function createRouter(topo: Topology, router: NatRouterPlan): Promise<LabRouter> {
  const { names } = topo;
  const netns = names.routerNetns(router.index);
  const sw = names.switchNetns;
  const port = names.routerPort(router.index);
  await runOk('ip', ['netns', 'add', netns]);
  await runOk('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
  await runOk('ip', ['-n', sw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', ROUTER_LINKS.wan, 'netns', netns]);
  await runOk('ip', ['-n', sw, 'link', 'set', port, 'master', names.bridge, 'up']);
  await runOk('ip', ['-n', netns, 'addr', 'add', `${router.wanIp}/${topo.underlay.prefix}`, 'dev', ROUTER_LINKS.wan]);
  await runOk('ip', ['-n', netns, 'link', 'set', ROUTER_LINKS.wan, 'up']);
  await runOk('ip', ['-n', netns, 'link', 'add', ROUTER_LINKS.lan, 'type', 'bridge']);
  await runOk('ip', ['-n', netns, 'addr', 'add', `${router.lanIp}/${router.lan.prefix}`, 'dev', ROUTER_LINKS.lan]);
  await runOk('ip', ['-n', netns, 'link', 'set', ROUTER_LINKS.lan, 'up']);
  // Only the network namespace is entered: /proc/sys/net and the nf_tables ruleset are per netns.
  for (const [cmd, ...args] of routerNatCommands(router.style, router.upnp, router.lan)) await runOk('nsenter', [`--net=${netnsPath(netns)}`, '--', cmd!, ...args]);
  return labRouter(names, topo.paths, router);
}

/**
 * The namespace of the lab's public STUN server: eth0 on the switch with two underlay addresses
 * (see stunAddresses). Its own namespace, not h1's: extra addresses on the bootstrap's host would
 * show up among its endpoints, and the server must outlive any node restart.
 */
export async function createStunHost(topo: Topology, ips: readonly string[], port: number): Promise<LabStun> {
  const { names, paths } = topo;
  const netns = names.stunNetns;
  await runOk('ip', ['netns', 'add', netns]);
  await runOk('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
  await runOk('ip', ['-n', names.switchNetns, 'link', 'add', names.stunPort, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
  await runOk('ip', ['-n', names.switchNetns, 'link', 'set', names.stunPort, 'master', names.bridge, 'up']);
  for (const ip of ips) await runOk('ip', ['-n', netns, 'addr', 'add', `${ip}/${topo.underlay.prefix}`, 'dev', 'eth0']);
  await runOk('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
  return { netns, ips: [...ips], port, pidFile: paths.stun.pidFile, logFile: paths.stun.logFile };
}

/**
 * Host K: netns with lo and eth0, and its own mount namespace. On the switch eth0 has the
 * underlay address .K; behind a NAT router it has an address on the router's private segment
 * and a default route through the router.
 */
export async function createHost(topo: Topology, k: number): Promise<LabHost> {
  const { names, paths } = topo;
  const netns = names.netns(k);
  const nat = natHost(topo.routers, k);
  const underlayIp = nat ? nat.ip : hostAddress(topo.underlay, k);
  const prefix = nat ? nat.router.lan.prefix : topo.underlay.prefix;

  const stateDir = paths.hostStateDir(k);
  const mountFile = paths.mountFile(k);
  await runOk('ip', ['netns', 'add', netns]);
  // A host half made (a step below failed) is taken down again: it is in no lab.json yet, so the
  // next `lab add` would collide with its namespace.
  try {
    await runOk('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    if (nat) {
      const router = names.routerNetns(nat.router.index);
      const port = hostName(k);
      await runOk('ip', ['-n', router, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
      await runOk('ip', ['-n', router, 'link', 'set', port, 'master', ROUTER_LINKS.lan, 'up']);
    } else {
      const port = names.switchPort(k);
      await runOk('ip', ['-n', names.switchNetns, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
      await runOk('ip', ['-n', names.switchNetns, 'link', 'set', port, 'master', names.bridge, 'up']);
    }
    await runOk('ip', ['-n', netns, 'addr', 'add', `${underlayIp}/${prefix}`, 'dev', 'eth0']);
    await runOk('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
    if (nat) await runOk('ip', ['-n', netns, 'route', 'add', 'default', 'via', nat.router.lanIp, 'dev', 'eth0']);

    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    await writeFile(mountFile, '');
    // Run from inside the host's netns (only the network namespace is entered) for its sysfs.
    await runOk('nsenter', [`--net=${netnsPath(netns)}`, '--', 'unshare', `--mount=${mountFile}`, '--propagation', 'private', '--', 'sh', '-c', mountNamespaceScript(stateDir)]);
  } catch (err) {
    await removeHalfMadeHost(netns, mountFile);
    throw err;
  }

  const role: HostRole = isBootstrapIndex(k, topo.bootstraps) ? 'bootstrap' : 'join';
  return {
    name: hostName(k),
    index: k,
    netns,
    underlayIp,
    ...(nat ? { nat: { router: nat.router.name, publicIp: nat.router.wanIp, gateway: nat.router.lanIp } } : {}),
    mountFile,
    stateDir,
    logFile: paths.logFile(k),
    role,
  };
}

/** Best effort, after a failed createHost: its mount namespace file and its netns (with its veth, and so the switch's end). */
async function removeHalfMadeHost(netns: string, mountFile: string): Promise<void> {
  if ((await runCapture('umount', [mountFile])).code !== 0) await runCapture('umount', ['-l', mountFile]);
  await rm(mountFile, { force: true }).catch(() => undefined);
  await runCapture('ip', ['netns', 'delete', netns]);
}

export interface TeardownReport {
  readonly netns: string[];
  readonly mounts: string[];
  readonly dirs: string[];
}

/**
 * Removes every namespace, mount and directory of the lab that exists, whether or not lab.json
 * knows about it (a crash may have left a partial lab). Deleting a host netns deletes its veth
 * end, and with it the switch (or router) end; a router's NAT rules and forwarding setting live
 * in its netns and go with it; the wg interfaces lived in the namespaces too.
 */
export async function destroyTopology(names: LabNames, paths: LabPaths): Promise<TeardownReport> {
  const report: TeardownReport = { netns: [], mounts: [], dirs: [] };
  const errors: string[] = [];
  for (const netns of (await listNetns()).filter((n) => names.owns(n))) {
    const result = await runCapture('ip', ['netns', 'delete', netns]);
    if (result.code === 0) report.netns.push(netns);
    else errors.push(`ip netns delete ${netns}: ${result.stderr.trim()}`);
  }
  // Stacked mounts (e.g. the private bind mount made twice) are peeled one at a time.
  for (let round = 0; round < 10; round++) {
    const mounts = mountsUnder(await readMountinfo(), paths.runDir);
    if (mounts.length === 0) break;
    for (const mount of mounts) {
      let result = await runCapture('umount', [mount]);
      if (result.code !== 0) result = await runCapture('umount', ['-l', mount]);
      if (result.code === 0) report.mounts.push(mount);
      else if (round === 9) errors.push(`umount ${mount}: ${result.stderr.trim()}`);
    }
  }
  for (const dir of [paths.runDir, paths.stateDir]) {
    if (!(await pathExists(dir))) continue;
    await rm(dir, { recursive: true, force: true });
    report.dirs.push(dir);
  }
  // The roots are ours too; leave them only while another lab uses them.
  for (const root of [dirname(paths.runDir), dirname(paths.stateDir)]) {
    try {
      if ((await readdir(root)).length === 0) await rmdir(root);
    } catch {
      // Missing or in use by another lab: nothing to do.
    }
  }
  if (errors.length > 0) throw new Error(`lab teardown left something behind: ${errors.join('; ')}`);
  return report;
}
