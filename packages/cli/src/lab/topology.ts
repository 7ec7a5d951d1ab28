/**
 * The lab's namespaces: a switch namespace with a bridge, and per host a network namespace
 * wired to it by a veth pair plus a persistent mount namespace. Links are created directly in
 * the switch namespace with their peer placed in the host namespace, so nothing ever appears in
 * the root network namespace, not even for a moment.
 */
import { mkdir, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { LAB_DEFAULTS } from './constants.js';
import { hostAddress, hostName, mountNamespaceScript, type Ipv4Cidr, type LabNames, type LabPaths } from './plan.js';
import { mountsUnder, parseNetnsList } from './parse.js';
import type { HostRole, LabHost } from './state.js';
import { pathExists, readMountinfo, runCapture, runOk } from './sys.js';

export interface Topology {
  readonly names: LabNames;
  readonly paths: LabPaths;
  readonly underlay: Ipv4Cidr;
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

/** Host K: netns with lo and eth0 (192.0.2.K) on the switch, and its own mount namespace. */
export async function createHost(topo: Topology, k: number): Promise<LabHost> {
  const { names, paths } = topo;
  const netns = names.netns(k);
  const sw = names.switchNetns;
  const port = names.switchPort(k);
  const underlayIp = hostAddress(topo.underlay, k);

  await runOk('ip', ['netns', 'add', netns]);
  await runOk('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
  await runOk('ip', ['-n', sw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
  await runOk('ip', ['-n', sw, 'link', 'set', port, 'master', names.bridge, 'up']);
  await runOk('ip', ['-n', netns, 'addr', 'add', `${underlayIp}/${topo.underlay.prefix}`, 'dev', 'eth0']);
  await runOk('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);

  const stateDir = paths.hostStateDir(k);
  const mountFile = paths.mountFile(k);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await writeFile(mountFile, '');
  // Run from inside the host's netns (only the network namespace is entered) for its sysfs.
  await runOk('nsenter', [`--net=${netnsPath(netns)}`, '--', 'unshare', `--mount=${mountFile}`, '--propagation', 'private', '--', 'sh', '-c', mountNamespaceScript(stateDir)]);

  const role: HostRole = k === 1 ? 'bootstrap' : 'join';
  return { name: hostName(k), index: k, netns, underlayIp, mountFile, stateDir, logFile: paths.logFile(k), role };
}

export interface TeardownReport {
  readonly netns: string[];
  readonly mounts: string[];
  readonly dirs: string[];
}

/**
 * Removes every namespace, mount and directory of the lab that exists, whether or not lab.json
 * knows about it (a crash may have left a partial lab). Deleting a host netns deletes its veth
 * end, and with it the switch end; the wg interfaces lived in the namespaces too.
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
