/**
 * End-to-end helpers on top of the lab library: real namespaces, real wgmesh processes, real
 * WireGuard. Each test file uses its own lab name, so it never touches a user's lab ("wgl").
 */
import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import {
  builtWgmeshCommand,
  hostExec,
  isRunning,
  labNames,
  labPaths,
  listNetns,
  processTable,
  descendantsOf,
  runCapture,
  sourceWgmeshCommand,
  type LabState,
  type ProcStat,
  type ProcessIdentity,
} from '../../packages/cli/src/lab/index.js';
import { waitFor } from './wait.js';

async function onPath(command: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    try {
      await access(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/** Why these tests cannot run here, or undefined when they can. */
export async function labSkipReason(options: { wireguard: boolean }): Promise<string | undefined> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'needs root: the lab creates network and mount namespaces (CI runs as root)';
  const needed = ['ip', 'nsenter', 'unshare', 'mount', 'ping', ...(options.wireguard ? ['wg', 'wireguard-go'] : [])];
  const missing: string[] = [];
  for (const command of needed) if (!(await onPath(command))) missing.push(command);
  if (missing.length > 0) return `needs ${missing.join(', ')} (make deps installs them)`;
  return undefined;
}

/**
 * How the lab starts wgmesh in tests: from source by default (always the code under test, no
 * build step); WGMESH_E2E_CLI=built uses packages/cli/dist (as `make test` builds it first).
 */
export function e2eWgmeshCommand(): string[] {
  return process.env.WGMESH_E2E_CLI === 'built' ? builtWgmeshCommand() : sourceWgmeshCommand();
}

export interface WgPeerDump {
  readonly publicKey: string;
  readonly endpoint: string;
  readonly allowedIps: readonly string[];
  /** Seconds since the epoch; 0 = never. */
  readonly latestHandshake: number;
}

export interface WgDump {
  readonly publicKey: string;
  readonly listenPort: number;
  readonly peers: readonly WgPeerDump[];
}

/** `wg show IFACE dump`: the interface line, then one tab-separated line per peer. */
export function parseWgDump(text: string): WgDump {
  const [head, ...lines] = text.trim().split('\n');
  const iface = (head ?? '').split('\t');
  return {
    publicKey: iface[1] ?? '',
    listenPort: Number(iface[2] ?? 0),
    peers: lines
      .filter((l) => l.trim() !== '')
      .map((line) => {
        const f = line.split('\t');
        return {
          publicKey: f[0] ?? '',
          endpoint: f[2] ?? '',
          allowedIps: (f[3] ?? '').split(',').filter((a) => a !== '' && a !== '(none)'),
          latestHandshake: Number(f[4] ?? 0),
        };
      }),
  };
}

export async function wgDump(lab: LabState, host: string): Promise<WgDump> {
  const iface = `wg${lab.mesh}`;
  const result = await hostExec(lab, host, ['wg', 'show', iface, 'dump'], { timeoutMs: 5_000 });
  if (result.code !== 0) throw new Error(`${host}: wg show ${iface} dump: ${result.stderr.trim() || `exit ${result.code}`}`);
  return parseWgDump(result.stdout);
}

/** One ping; true when answered within a second. */
export async function ping(lab: LabState, from: string, ip: string): Promise<boolean> {
  const result = await hostExec(lab, from, ['ping', '-n', '-q', '-c', '1', '-W', '1', ip], { timeoutMs: 5_000 });
  return result.code === 0;
}

/** Pings until one is answered (the first may be lost to a handshake in progress); returns when it was. */
export async function pingUntil(lab: LabState, from: string, ip: string, timeoutMs: number): Promise<number> {
  await waitFor(`${from} to get an answer from ${ip}`, () => ping(lab, from, ip), timeoutMs, 0);
  return Date.now();
}

/** The mesh IP of every host, from lab.json (filled in when the lab waited for the mesh). */
export function meshIps(lab: LabState): Map<string, string> {
  const ips = new Map<string, string>();
  for (const h of lab.hosts) {
    if (!h.meshIp) throw new Error(`${h.name} has no mesh IP in lab.json; did the lab wait for the mesh?`);
    ips.set(h.name, h.meshIp);
  }
  return ips;
}

/** Every process below the given ones right now (wireguard-go under each agent). */
export async function childrenOf(pids: readonly number[]): Promise<ProcStat[]> {
  const table = await processTable();
  return pids.flatMap((pid) => descendantsOf(pid, table));
}

export async function stillRunning(processes: readonly ProcessIdentity[]): Promise<number[]> {
  const running: number[] = [];
  for (const p of processes) if (await isRunning(p)) running.push(p.pid);
  return running;
}

/** What a torn-down lab must not leave behind; empty when it is clean. */
export async function leftovers(lab: LabState, processes: readonly ProcessIdentity[]): Promise<string[]> {
  const found: string[] = [];
  const names = labNames(lab.name);
  const paths = labPaths(lab.name);
  const netns = (await listNetns()).filter((n) => n.startsWith(`${lab.name}-`) || names.owns(n));
  if (netns.length > 0) found.push(`network namespaces: ${netns.join(', ')}`);
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  const mounts = mountinfo.split('\n').filter((l) => l.includes(paths.runDir));
  if (mounts.length > 0) found.push(`mounts: ${mounts.join(' | ')}`);
  for (const dir of [paths.runDir, paths.stateDir]) {
    try {
      await access(dir);
      found.push(`directory ${dir}`);
    } catch {
      // gone, as it should be
    }
  }
  for (const pid of await stillRunning(processes)) found.push(`process ${pid} still running`);
  // The veths and wg interfaces lived inside the deleted namespaces; none may show up in the root one.
  const links = (await runCapture('ip', ['-o', 'link', 'show'])).stdout;
  const iface = `wg${lab.mesh}`;
  for (const line of links.split('\n')) {
    const name = line.split(':')[1]?.trim().split('@')[0] ?? '';
    if (name.startsWith(`${lab.name}-`) || name === iface) found.push(`link ${name} in the root namespace`);
  }
  return found;
}
