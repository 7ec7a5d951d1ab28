/**
 * What a mesh at rest costs, measured from outside its processes: packets each lab host sends on
 * its underlay interface (iptables counters in the host's own network namespace, by kind and by
 * peer), and each process's CPU time and wake-ups (/proc/PID/stat, /proc/PID/status). Used by the
 * rest e2e test (test/e2e/rest.test.ts) and the bench's rest part (bench/rest.ts).
 */
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';

/** The chain the counters live in, jumped to from OUTPUT for packets leaving eth0. */
const CHAIN = 'WGMESH_IDLE';
/** Nebula's UDP port (bench/startup.ts runs it beside wgmesh): its packets are counted apart. */
export const NEBULA_PORT = 4242;

export interface UnderlayPackets {
  /** UDP to each peer's underlay address (WireGuard), by that address. */
  readonly toPeer: ReadonlyMap<string, number>;
  /** UDP from Nebula's port. */
  readonly nebula: number;
  /** TCP (gRPC to and from the bootstrap). */
  readonly control: number;
  /** Anything else leaving eth0 (ARP is not IP and not counted). */
  readonly other: number;
}

function run(argv: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

async function iptables(netns: string, args: readonly string[]): Promise<string> {
  const r = await run(['ip', 'netns', 'exec', netns, 'iptables', '-w', ...args]);
  if (r.code !== 0) throw new Error(`iptables ${args.join(' ')} in ${netns}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Counting rules in the host's namespace (replacing any left from before): one per peer address, then by kind. */
export async function installCounters(netns: string, peerIps: readonly string[]): Promise<void> {
  await removeCounters(netns);
  await iptables(netns, ['-N', CHAIN]);
  await iptables(netns, ['-A', CHAIN, '-p', 'udp', '--sport', String(NEBULA_PORT), '-j', 'RETURN']);
  for (const ip of peerIps) await iptables(netns, ['-A', CHAIN, '-p', 'udp', '-d', ip, '-j', 'RETURN']);
  await iptables(netns, ['-A', CHAIN, '-p', 'tcp', '-j', 'RETURN']);
  await iptables(netns, ['-A', CHAIN, '-j', 'RETURN']);
  await iptables(netns, ['-I', 'OUTPUT', '-o', 'eth0', '-j', CHAIN]);
}

export async function removeCounters(netns: string): Promise<void> {
  await run(['ip', 'netns', 'exec', netns, 'iptables', '-w', '-D', 'OUTPUT', '-o', 'eth0', '-j', CHAIN]);
  await run(['ip', 'netns', 'exec', netns, 'iptables', '-w', '-F', CHAIN]);
  await run(['ip', 'netns', 'exec', netns, 'iptables', '-w', '-X', CHAIN]);
}

/** The counters now (packets since installCounters). */
export async function readCounters(netns: string, peerIps: readonly string[]): Promise<UnderlayPackets> {
  const lines = (await iptables(netns, ['-L', CHAIN, '-v', '-x', '-n'])).split('\n').slice(2).filter((l) => l.trim());
  const packets = lines.map((l) => Number(l.trim().split(/\s+/)[0]));
  if (packets.length !== peerIps.length + 3 || packets.some((p) => !Number.isFinite(p))) throw new Error(`unexpected counters in ${netns}: ${lines.join(' | ')}`);
  return {
    nebula: packets[0]!,
    toPeer: new Map(peerIps.map((ip, i) => [ip, packets[1 + i]!])),
    control: packets[1 + peerIps.length]!,
    other: packets[2 + peerIps.length]!,
  };
}

/** Counters over a window: what `after` adds to `before`. */
export function packetsBetween(before: UnderlayPackets, after: UnderlayPackets): UnderlayPackets {
  return {
    nebula: after.nebula - before.nebula,
    toPeer: new Map([...after.toPeer].map(([ip, n]) => [ip, n - (before.toPeer.get(ip) ?? 0)])),
    control: after.control - before.control,
    other: after.other - before.other,
  };
}

/** One process's CPU time (ms, user + system) and wake-ups (voluntary context switches) so far. */
export interface ProcessCost {
  readonly cpuMs: number;
  readonly wakeups: number;
  readonly involuntary: number;
}

/** /proc/PID/stat times are in clock ticks: sysconf(_SC_CLK_TCK), 100 on Linux. */
const CLK_TCK = 100;

export async function processCost(pid: number): Promise<ProcessCost | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields after the command: state is [0], utime [11], stime [12].
    const cpuMs = ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const wakeups = Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1]);
    const involuntary = Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1]);
    return { cpuMs, wakeups, involuntary };
  } catch {
    return undefined;
  }
}

/** The process and its threads count together: /proc/PID/status counts the main thread only, so every task is summed. */
export async function processTreeCost(pid: number): Promise<ProcessCost | undefined> {
  const main = await processCost(pid);
  if (!main) return undefined;
  let wakeups = 0;
  let involuntary = 0;
  try {
    for (const tid of await readdir(`/proc/${pid}/task`)) {
      const status = await readFile(`/proc/${pid}/task/${tid}/status`, 'utf8').catch(() => '');
      wakeups += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      involuntary += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    }
  } catch {
    return main;
  }
  // utime/stime in /proc/PID/stat already cover every thread.
  return { cpuMs: main.cpuMs, wakeups, involuntary };
}

export function costBetween(before: ProcessCost, after: ProcessCost): ProcessCost {
  return { cpuMs: after.cpuMs - before.cpuMs, wakeups: after.wakeups - before.wakeups, involuntary: after.involuntary - before.involuntary };
}
