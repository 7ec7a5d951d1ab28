/**
 * A real etcd cluster for tests: 1 or 3 members, each an `etcd` process in a network namespace of
 * its own, on a /28 of a TEST-NET segment joined by a bridge in a switch namespace. One veth end
 * sits in the root namespace with the /28's last host address, so the test process itself (the etcd3
 * client) reaches the members. Everything is named with the test's prefix, and `cleanup()` (also
 * run when the process exits) removes every process, namespace, link and the temp dir.
 *
 *   root ns: <prefix>r 203.0.113.254/28 ──┐
 *                                  <prefix>-sw: bridge br0 ── m1 ─ <prefix>-e1: eth0 203.0.113.241
 *                                                          ├─ m2 ─ <prefix>-e2: eth0 203.0.113.242
 *                                                          └─ m3 ─ <prefix>-e3: eth0 203.0.113.243
 *
 * (the default segment and block; another block of the /24 lets test files run side by side).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandOnPath, isRoot, listNetns, netnsPath, runCapture } from '@wgmesh/cli/lab';
import { waitFor } from './wait.js';

export interface EtcdClusterInit {
  /** Unique per test file, at most 9 characters ([a-z0-9]): names every namespace and link. */
  readonly prefix: string;
  readonly size: 1 | 3;
  /**
   * First three octets of a TEST-NET /24; members get .241, .242, .243 and the root end .254, a
   * /28 (the root namespace gets a route for that /28 only). Default 203.0.113.
   */
  readonly segment?: string;
  /**
   * Which /28 of the segment (0-15), so test files running at the same time can share a /24:
   * block B gives members .16B+1, .16B+2, .16B+3 and the root end .16B+14. Default 15 (.240/28).
   */
  readonly block?: number;
  /** etcd's raft timings (ms); defaults 100 / 1000, etcd's own. */
  readonly heartbeatMs?: number;
  readonly electionMs?: number;
  /** How long to wait for the cluster (or a restarted member) to be healthy; default 20 s. */
  readonly healthTimeoutMs?: number;
}

export interface EtcdMember {
  /** e1, e2, e3: etcd's --name as well. */
  readonly name: string;
  readonly netns: string;
  readonly ip: string;
  /** http://IP:2379 */
  readonly clientUrl: string;
  readonly logFile: string;
  /** The running process's PID, undefined while stopped or killed. */
  readonly pid: number | undefined;
}

export interface EtcdCluster {
  readonly members: readonly EtcdMember[];
  /** Every member's client URL, in member order. */
  readonly endpoints: readonly string[];
  /** Milliseconds from the first `etcd` spawn until every member answered healthy. */
  readonly startMs: number;
  /** The member the cluster currently reports as leader (asked of the running members). */
  leader(timeoutMs?: number): Promise<EtcdMember>;
  /** Sends `signal` to the member's process and waits until it has exited. */
  kill(member: EtcdMember | string, signal?: NodeJS.Signals): Promise<void>;
  /** Stops the member if it runs, starts it again on its data dir, waits until it is healthy. */
  restart(member: EtcdMember | string): Promise<void>;
  /**
   * Stops every member: SIGTERM, then SIGKILL after 1 s (a leader whose peers are stopping too
   * spends ~7 s trying to hand over leadership; etcd's WAL makes SIGKILL safe). Namespaces stay.
   */
  stop(): Promise<void>;
  /** Removes everything (idempotent; safe after a failed start). */
  cleanup(): Promise<void>;
}

const CLIENT_PORT = 2379;
const PEER_PORT = 2380;
/** Host numbers within the /28 block. */
const ROOT_HOST = 14;
const FIRST_HOST = 1;
const DEFAULT_BLOCK = 15;
const STOP_GRACE_MS = 1_000;

/** Why the etcd tests cannot run here, or undefined when they can. */
export async function etcdSkipReason(): Promise<string | undefined> {
  if (!isRoot()) return 'needs root: the etcd cluster runs in network namespaces (CI runs as root)';
  const missing: string[] = [];
  for (const command of ['ip', 'nsenter', 'etcd', 'etcdctl']) if (!(await commandOnPath(command))) missing.push(command);
  if (missing.length > 0) return `needs ${missing.join(', ')} (scripts/install-deps.sh installs etcd-server and etcd-client)`;
  return undefined;
}

interface MemberState {
  name: string;
  netns: string;
  ip: string;
  clientUrl: string;
  logFile: string;
  dataDir: string;
  pid: number | undefined;
  child: ChildProcess | undefined;
  exited: Promise<void> | undefined;
}

/** Names the helper owns for a prefix (also used to sweep leftovers of a crashed earlier run). */
function ownedNames(prefix: string) {
  return {
    switchNetns: `${prefix}-sw`,
    memberNetns: (k: number) => `${prefix}-e${k}`,
    rootLink: `${prefix}r`,
  };
}

async function ok(cmd: string, args: readonly string[]): Promise<string> {
  const r = await runCapture(cmd, args, { timeoutMs: 15_000 });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.code}`}`);
  return r.stdout;
}

/** Removes namespaces and the root link of `prefix`, ending the processes still inside them first. */
async function sweep(prefix: string): Promise<void> {
  const names = ownedNames(prefix);
  for (const netns of (await listNetns()).filter((n) => n === names.switchNetns || n.startsWith(`${prefix}-e`))) {
    // Processes in one of our namespaces were started by this helper (an earlier, crashed run).
    const pids = (await runCapture('ip', ['netns', 'pids', netns])).stdout.split(/\s+/).filter(Boolean).map(Number);
    for (const pid of pids) killQuietly(pid, 'SIGKILL');
    await runCapture('ip', ['netns', 'delete', netns]);
  }
  await runCapture('ip', ['link', 'delete', names.rootLink]);
}

/**
 * Removes what a run with `prefix` left when it was killed before its cleanup: the members'
 * processes, the namespaces, the root link and the temp dirs (for a benchmark's `--cleanup`).
 */
export async function removeEtcdLeftovers(prefix: string): Promise<void> {
  await sweep(prefix);
  for (const entry of readdirSync(tmpdir())) {
    if (entry.startsWith(`wgmesh-etcd-${prefix}-`)) rmSync(join(tmpdir(), entry), { recursive: true, force: true });
  }
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function ipv4Number(ip: string): number {
  return ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

/** Refuses a /28 the root namespace already routes, or one inside a route (a real network, a user's lab on the root, another etcd test). */
async function checkSegmentFree(segment: string, block: number): Promise<void> {
  const start = ipv4Number(`${segment}.${block * 16}`);
  const routes = await ok('ip', ['-4', 'route', 'show']);
  const clash = routes.split('\n').find((line) => {
    const m = /^(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?\s/.exec(line);
    if (!m) return false;
    const length = Number(m[2] ?? 32);
    const size = 2 ** (32 - length);
    const base = Math.floor(ipv4Number(m[1]!) / size) * size;
    return base < start + 16 && start < base + size;
  });
  if (clash) throw new Error(`the root namespace already routes ${segment}.${block * 16}/28 (${clash.trim()}); pass another TEST-NET segment or block to startEtcdCluster`);
}

export async function startEtcdCluster(init: EtcdClusterInit): Promise<EtcdCluster> {
  if (!/^[a-z0-9]{1,9}$/.test(init.prefix)) throw new Error(`etcd cluster prefix "${init.prefix}": 1-9 characters a-z0-9 (interface names are at most 15)`);
  const segment = init.segment ?? '203.0.113';
  const block = init.block ?? DEFAULT_BLOCK;
  if (!Number.isInteger(block) || block < 0 || block > 15) throw new Error(`etcd cluster block ${block}: 0-15 (a /28 of the segment)`);
  const host = (n: number) => `${segment}.${block * 16 + n}`;
  const names = ownedNames(init.prefix);
  const healthTimeoutMs = init.healthTimeoutMs ?? 20_000;
  await sweep(init.prefix);
  await checkSegmentFree(segment, block);

  const tempDir = mkdtempSync(join(tmpdir(), `wgmesh-etcd-${init.prefix}-`));
  const members: MemberState[] = [];
  for (let k = 1; k <= init.size; k++) {
    const ip = host(FIRST_HOST + k - 1);
    members.push({
      name: `e${k}`, netns: names.memberNetns(k), ip, clientUrl: `http://${ip}:${CLIENT_PORT}`,
      logFile: join(tempDir, `e${k}.log`), dataDir: join(tempDir, `e${k}.data`), pid: undefined, child: undefined, exited: undefined,
    });
  }
  const initialCluster = members.map((m) => `${m.name}=http://${m.ip}:${PEER_PORT}`).join(',');
  const endpoints = members.map((m) => m.clientUrl);

  let cleaned = false;
  /** Last resort when the test process exits without cleanup (an uncaught error, a timeout kill). */
  const onExit = () => {
    for (const m of members) if (m.pid !== undefined) killQuietly(m.pid, 'SIGKILL');
    for (const netns of [names.switchNetns, ...members.map((m) => m.netns)]) spawnSync('ip', ['netns', 'delete', netns], { stdio: 'ignore' });
    spawnSync('ip', ['link', 'delete', names.rootLink], { stdio: 'ignore' });
    rmSync(tempDir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  // Killed by a signal (the test runner's timeout, ^C), node would skip 'exit': clean up, then exit as the signal would.
  const onSignal = (signal: NodeJS.Signals) => {
    onExit();
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const startMember = (m: MemberState, state: 'new' | 'existing') => {
    const log = openSync(m.logFile, 'a');
    // nsenter execs etcd in place (no --fork for a network namespace): the PID is etcd's.
    const child = spawn('nsenter', [`--net=${netnsPath(m.netns)}`, '--', 'etcd',
      '--name', m.name, '--data-dir', m.dataDir,
      '--listen-client-urls', m.clientUrl, '--advertise-client-urls', m.clientUrl,
      '--listen-peer-urls', `http://${m.ip}:${PEER_PORT}`, '--initial-advertise-peer-urls', `http://${m.ip}:${PEER_PORT}`,
      '--initial-cluster', initialCluster, '--initial-cluster-state', state, '--initial-cluster-token', `wgmesh-${init.prefix}`,
      '--heartbeat-interval', String(init.heartbeatMs ?? 100), '--election-timeout', String(init.electionMs ?? 1000),
      '--logger', 'zap', '--log-outputs', 'stderr',
    ], { stdio: ['ignore', log, log] });
    closeSync(log);
    m.child = child;
    m.pid = child.pid;
    m.exited = new Promise<void>((resolve) => child.once('exit', () => {
      m.pid = undefined;
      resolve();
    }));
    if (child.pid === undefined) throw new Error(`could not start etcd for ${m.name} (see ${m.logFile})`);
  };

  const memberOf = (member: EtcdMember | string): MemberState => {
    const name = typeof member === 'string' ? member : member.name;
    const m = members.find((x) => x.name === name);
    if (!m) throw new Error(`no etcd member ${name}`);
    return m;
  };

  const healthy = async (urls: readonly string[]): Promise<boolean> => {
    const r = await runCapture('etcdctl', ['--endpoints', urls.join(','), '--dial-timeout', '1s', '--command-timeout', '2s', 'endpoint', 'health'], { timeoutMs: 5_000 });
    return r.code === 0;
  };

  const logTail = (m: MemberState) => {
    try {
      return readFileSync(m.logFile, 'utf8').trim().split('\n').slice(-3).join('\n');
    } catch {
      return '(no log)';
    }
  };

  const waitHealthy = async (subset: readonly MemberState[]) => {
    try {
      await waitFor(`etcd ${subset.map((m) => m.name).join(', ')} healthy`, async () => {
        const dead = subset.find((m) => m.pid === undefined);
        if (dead) throw new Error(`etcd ${dead.name} exited: ${logTail(dead)}`);
        return healthy(subset.map((m) => m.clientUrl));
      }, healthTimeoutMs, 100);
    } catch (err) {
      throw new Error(`${(err as Error).message} (logs in ${tempDir})`);
    }
  };

  const kill = async (member: EtcdMember | string, signal: NodeJS.Signals = 'SIGKILL') => {
    const m = memberOf(member);
    if (m.pid === undefined) return;
    killQuietly(m.pid, signal);
    await m.exited;
  };

  const stopMember = async (m: MemberState) => {
    if (m.pid === undefined) return;
    killQuietly(m.pid, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), STOP_GRACE_MS); });
    if (await Promise.race([m.exited!.then(() => false), timedOut])) await kill(m.name, 'SIGKILL');
    clearTimeout(timer);
  };

  const cluster: EtcdCluster = {
    get members() {
      return members.map((m) => ({ name: m.name, netns: m.netns, ip: m.ip, clientUrl: m.clientUrl, logFile: m.logFile, pid: m.pid }));
    },
    endpoints,
    startMs: 0,
    async leader(timeoutMs = 10_000) {
      const name = await waitFor('an etcd leader', async () => {
        const running = members.filter((m) => m.pid !== undefined);
        const r = await runCapture('etcdctl', ['--endpoints', running.map((m) => m.clientUrl).join(','), '--dial-timeout', '1s', '--command-timeout', '1s', 'endpoint', 'status', '-w', 'json'], { timeoutMs: 5_000 });
        // Members that answer; a leader of 0 means "none yet".
        const statuses = JSON.parse(r.stdout || '[]') as { Endpoint: string; Status: { header: { member_id: number | string }; leader: number | string } }[];
        const leaderId = statuses.map((s) => String(s.Status.leader)).find((id) => id !== '0');
        const holder = statuses.find((s) => String(s.Status.header.member_id) === leaderId);
        return holder ? members.find((m) => m.clientUrl === holder.Endpoint)?.name : undefined;
      }, timeoutMs, 50);
      return cluster.members.find((m) => m.name === name)!;
    },
    kill,
    async restart(member) {
      const m = memberOf(member);
      await stopMember(m);
      startMember(m, 'existing');
      await waitHealthy([m]);
    },
    async stop() {
      await Promise.all(members.map(stopMember));
    },
    async cleanup() {
      if (cleaned) return;
      cleaned = true;
      for (const m of members) await kill(m.name, 'SIGKILL');
      await sweep(init.prefix);
      rmSync(tempDir, { recursive: true, force: true });
      process.removeListener('exit', onExit);
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    },
  };

  try {
    // The segment: a bridge in the switch namespace, a veth to each member, one to the root.
    await ok('ip', ['netns', 'add', names.switchNetns]);
    await ok('ip', ['-n', names.switchNetns, 'link', 'add', 'br0', 'type', 'bridge']);
    await ok('ip', ['-n', names.switchNetns, 'link', 'set', 'br0', 'up']);
    for (const [i, m] of members.entries()) {
      await ok('ip', ['netns', 'add', m.netns]);
      await ok('ip', ['-n', m.netns, 'link', 'set', 'lo', 'up']);
      await ok('ip', ['-n', names.switchNetns, 'link', 'add', `m${i + 1}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', m.netns]);
      await ok('ip', ['-n', names.switchNetns, 'link', 'set', `m${i + 1}`, 'master', 'br0', 'up']);
      await ok('ip', ['-n', m.netns, 'addr', 'add', `${m.ip}/28`, 'dev', 'eth0']);
      await ok('ip', ['-n', m.netns, 'link', 'set', 'eth0', 'up']);
    }
    await ok('ip', ['link', 'add', names.rootLink, 'type', 'veth', 'peer', 'name', 'root', 'netns', names.switchNetns]);
    await ok('ip', ['-n', names.switchNetns, 'link', 'set', 'root', 'master', 'br0', 'up']);
    await ok('ip', ['addr', 'add', `${host(ROOT_HOST)}/28`, 'dev', names.rootLink]);
    await ok('ip', ['link', 'set', names.rootLink, 'up']);

    const t0 = performance.now();
    for (const m of members) startMember(m, 'new');
    await waitHealthy(members);
    (cluster as { startMs: number }).startMs = Math.round(performance.now() - t0);
    return cluster;
  } catch (err) {
    await cluster.cleanup();
    throw err;
  }
}
