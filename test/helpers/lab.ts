import { fileURLToPath } from 'node:url';
/**
 * End-to-end helpers on top of the lab library: real namespaces, real wgmesh processes, real
 * WireGuard. Each test file uses its own lab name, so it never touches a user's lab ("wgl").
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, statSync } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { InfoResponse__Output, RttResponse__Output } from '@wgmesh/agent';
import { caFiles, initCa, issueCertificate } from '@wgmesh/cli';
import {
  builtWgmeshCommand,
  commandOnPath,
  hostCommand,
  netnsPath,
  hostExec,
  localNodeInfo,
  labHost,
  isRoot,
  isRunning,
  labNames,
  labPaths,
  listNetns,
  processTable,
  descendantsOf,
  runCapture,
  sourceWgmeshCommand,
  REPO_ROOT,
  labEnv,
  type LabState,
  type ProcStat,
  type ProcessIdentity,
} from '@wgmesh/cli/lab';
import { waitFor } from './wait.js';

/**
 * Why these tests cannot run here, or undefined when they can (`nat`: the lab's NAT routers need
 * iptables and sysctl; `delay`: delayWireguard needs iptables and python3; `upnp`: miniupnpd,
 * coturn and the clients natpmpc and upnpc; `etcd`: the etcd cluster of a lab with several bootstraps).
 */
export async function labSkipReason(options: { wireguard: boolean; nat?: boolean; delay?: boolean; upnp?: boolean; etcd?: boolean }): Promise<string | undefined> {
  if (!isRoot()) return 'needs root: the lab creates network and mount namespaces (CI runs as root)';
  const needed = [
    'ip', 'nsenter', 'unshare', 'mount', 'ping', ...(options.wireguard ? ['wg', 'wireguard-go'] : []), ...(options.nat ? ['iptables', 'sysctl'] : []),
    ...(options.delay ? ['iptables', 'python3'] : []),
    // `upnp`: miniupnpd on the routers, the lab's STUN server, and the independent clients.
    ...(options.upnp ? ['iptables', 'iptables-legacy', 'sysctl', 'miniupnpd', 'turnserver', 'ss', 'natpmpc', 'upnpc'] : []),
    // `etcd`: `lab up -bootstraps K` (K > 1) runs etcd in the bootstrap hosts and checks it with etcdctl.
    ...(options.etcd ? ['etcd', 'etcdctl'] : []),
  ];
  const missing: string[] = [];
  const path = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin';
  for (const command of needed) if (!(await commandOnPath(command, path))) missing.push(command);
  if (missing.length > 0) return `needs ${missing.join(', ')} (make deps installs them)`;
  return undefined;
}

/**
 * How the lab starts wgmesh in tests: by default the built CLI, as shipped and installed
 * (packages/cli/bin/wgmesh.js running the bundle in packages/cli/bundle/); `make test` and
 * `make test-e2e` build first. A missing or stale build fails here, naming the file, rather than
 * testing old code. WGMESH_E2E_CLI=source runs the CLI from TypeScript source instead (no build
 * step: quicker local iteration).
 */
export function e2eWgmeshCommand(env: NodeJS.ProcessEnv = process.env, root: string = REPO_ROOT): string[] {
  const choice = env.WGMESH_E2E_CLI || 'built';
  if (choice === 'source') return sourceWgmeshCommand();
  if (choice !== 'built') throw new Error(`WGMESH_E2E_CLI=${choice}: use "built" (the default) or "source"`);
  checkBuiltCli(root);
  return builtWgmeshCommand();
}

/** The packages whose sources go into the CLI bundle. */
const BUNDLED_PACKAGES = ['agent', 'bootstrap', 'cli'] as const;
/** Files of the bundle the tests need (scripts/bundle.mjs writes them all, after removing the old ones). */
const BUNDLE_FILES = ['packages/cli/bundle/main.cjs', 'packages/cli/bundle/commands/join.cjs', 'packages/cli/bundle/commands/bootstrap.cjs'];

/** Throws unless the bundle the built CLI runs exists and was built after every source file that goes into it. */
export function checkBuiltCli(root: string = REPO_ROOT): void {
  const problems: string[] = [];
  const built = BUNDLE_FILES.map((file) => ({ file, stat: statSync(join(root, file), { throwIfNoEntry: false }) }));
  const missing = built.filter((b) => !b.stat).map((b) => b.file);
  if (missing.length > 0) problems.push(missing.length === BUNDLE_FILES.length ? 'packages/cli/bundle is missing' : `${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} missing`);
  if (problems.length === 0) {
    const builtMs = Math.min(...built.map((b) => b.stat!.mtimeMs));
    for (const pkg of BUNDLED_PACKAGES) {
      const src = join(root, 'packages', pkg, 'src');
      const newer = readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((file) => /\.tsx?$/.test(file) && statSync(join(src, file)).mtimeMs > builtMs);
      if (newer.length > 0) problems.push(`packages/${pkg}/src/${newer[0]}${newer.length > 1 ? ` (and ${newer.length - 1} more)` : ''} changed since packages/cli/bundle was built`);
    }
  }
  if (problems.length > 0) {
    throw new Error(`the end-to-end tests run the built CLI (packages/cli/bin/wgmesh.js), but ${problems.join('; ')}: run \`make build\` first (or set WGMESH_E2E_CLI=source to run the CLI from TypeScript source)`);
  }
}

/**
 * argv that runs one of test/tools/*.ts in a lab host: absolute paths throughout, since a host's
 * mount namespace starts in / and not in the repository.
 */
export function testToolCommand(script: string): string[] {
  return [process.execPath, '--conditions=source', '--import', import.meta.resolve('tsx'), fileURLToPath(new URL(`../tools/${script}`, import.meta.url))];
}

export interface WgPeerDump {
  readonly publicKey: string;
  /** The dump's preshared-key column: base64, or "(none)". */
  readonly presharedKey: string;
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

/**
 * `wg show IFACE dump`: the interface line, then one tab-separated line per peer. Deliberately not
 * the agent's parser (packages/agent/src/wg/dump.ts): end-to-end checks read the real tool's output
 * independently of the code under test.
 */
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
          presharedKey: f[1] ?? '',
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

// ---------------------------------------------------------------------------------------------
// NAT routers

/** A NAT router of the lab by name ("r1"). */
export function labRouterNamed(lab: LabState, router: string): NonNullable<LabState['routers']>[number] {
  const found = lab.routers?.find((r) => r.name === router);
  if (!found) throw new Error(`lab ${lab.name} has no NAT router ${router}; its routers: ${(lab.routers ?? []).map((r) => r.name).join(', ') || 'none'}`);
  return found;
}

/** Runs a command in a NAT router's network namespace (routers have no mount namespace of their own). */
export async function routerExec(lab: LabState, router: string, cmd: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCapture('nsenter', [`--net=${netnsPath(labRouterNamed(lab, router).netns)}`, '--', ...cmd], { timeoutMs: 5_000 });
}

/** A router's UDP conntrack entries (its NAT mappings), for failure messages; '' when they cannot be read. */
export async function routerUdpMappings(lab: LabState, router: string): Promise<string> {
  const result = await routerExec(lab, router, ['cat', '/proc/net/nf_conntrack']);
  if (result.code !== 0) return '';
  return result.stdout
    .split('\n')
    .filter((l) => /\budp\b/.test(l))
    .map((l) => l.replace(/^ipv4\s+2\s+udp\s+17\s+/, '').replace(/\s+mark=.*$/, ''))
    .join('\n');
}

/** Runs a router's own iptables (iptables-legacy on a UPnP router, see routerIptables); throws with its stderr on failure. */
async function routerIptablesOk(lab: LabState, router: string, args: readonly string[]): Promise<string> {
  const ipt = labRouterNamed(lab, router).iptables;
  const result = await routerExec(lab, router, [ipt, '-w', ...args]);
  if (result.code !== 0) throw new Error(`${router}: ${ipt} ${args.join(' ')}: ${result.stderr.trim() || `exit ${result.code}`}`);
  return result.stdout;
}

/** The FORWARD rules that keep UDP between two routers' WAN addresses from crossing `router`. */
function blockRules(lab: LabState, router: string, other: string): string[][] {
  const otherWan = labRouterNamed(lab, other).wanIp;
  // Before the router's own rules (its ESTABLISHED accept), in both directions: out to the other
  // router (still the host's private source here, before MASQUERADE) and in from it (after any DNAT).
  return [
    ['FORWARD', '-p', 'udp', '-d', `${otherWan}/32`, '-j', 'DROP'],
    ['FORWARD', '-p', 'udp', '-s', `${otherWan}/32`, '-j', 'DROP'],
  ];
}

/**
 * Drops UDP forwarded between routers `a` and `b` (their WAN addresses), in both routers' FORWARD
 * chains: hosts behind one cannot reach hosts behind the other directly (no hole punch, no mapped
 * port), but still reach everything else, such as the public bootstrap. Idempotent; undo with
 * unblockUdpBetweenRouters.
 */
export async function blockUdpBetweenRouters(lab: LabState, a: string, b: string): Promise<void> {
  for (const [router, other] of [[a, b], [b, a]] as const) {
    for (const rule of blockRules(lab, router, other)) {
      const [chain, ...spec] = rule;
      const ipt = labRouterNamed(lab, router).iptables;
      if ((await routerExec(lab, router, [ipt, '-w', '-C', chain!, ...spec])).code === 0) continue;
      await routerIptablesOk(lab, router, ['-I', chain!, '1', ...spec]);
    }
  }
}

/** Removes what blockUdpBetweenRouters added (nothing when it is not there). */
export async function unblockUdpBetweenRouters(lab: LabState, a: string, b: string): Promise<void> {
  for (const [router, other] of [[a, b], [b, a]] as const) {
    for (const rule of blockRules(lab, router, other)) {
      const ipt = labRouterNamed(lab, router).iptables;
      // -D removes one copy a time; repeat until none is left.
      while ((await routerExec(lab, router, [ipt, '-w', '-D', ...rule])).code === 0) {
        // removed one
      }
    }
  }
}

/** A UDP port mapping miniupnpd holds on a router: its WAN port, forwarded to a LAN host's port. */
export interface MiniupnpdMapping {
  readonly externalPort: number;
  /** The LAN host and port it forwards to (from miniupnpd's postrouting rule; undefined if that is missing). */
  readonly internalIp: string | undefined;
  readonly internalPort: number | undefined;
}

/**
 * The UDP mappings a router's miniupnpd holds now, read from the router itself (not from the
 * clients or miniupnpd): its DNAT rules in the legacy nat chain MINIUPNPD, one per mapped WAN
 * port, joined with MINIUPNPD-POSTROUTING (`-s HOST --sport PORT -j MASQUERADE --to-ports WANPORT`)
 * for where each goes, since iptables-legacy 1.8.9 prints miniupnpd's DNAT target only as
 * "[unsupported revision]". [] when it holds none. Throws when the router runs no miniupnpd.
 */
export async function miniupnpdMappings(lab: LabState, router: string): Promise<MiniupnpdMapping[]> {
  if (!labRouterNamed(lab, router).miniupnpd) throw new Error(`${router} runs no miniupnpd (lab up with upnp: true)`);
  const dnat = await routerIptablesOk(lab, router, ['-t', 'nat', '-S', 'MINIUPNPD']);
  const post = await routerIptablesOk(lab, router, ['-t', 'nat', '-S', 'MINIUPNPD-POSTROUTING']);
  const where = new Map<number, { ip: string; port: number }>();
  for (const line of post.split('\n')) {
    if (!/^-A MINIUPNPD-POSTROUTING\b/.test(line) || !/-p udp\b/.test(line)) continue;
    const ip = /-s (\d+\.\d+\.\d+\.\d+)(?:\/32)?\b/.exec(line)?.[1];
    const port = /--sport (\d+)\b/.exec(line)?.[1];
    const to = /--to-ports (\d+)\b/.exec(line)?.[1];
    if (ip && port && to) where.set(Number(to), { ip, port: Number(port) });
  }
  const mappings: MiniupnpdMapping[] = [];
  for (const line of dnat.split('\n')) {
    if (!/^-A MINIUPNPD\b/.test(line) || !/-p udp\b/.test(line)) continue;
    const dport = /--dport (\d+)\b/.exec(line)?.[1];
    if (!dport) continue;
    const externalPort = Number(dport);
    const printed = /--to-destination (\d+\.\d+\.\d+\.\d+):(\d+)/.exec(line);
    const to = printed ? { ip: printed[1]!, port: Number(printed[2]) } : where.get(externalPort);
    mappings.push({ externalPort, internalIp: to?.ip, internalPort: to?.port });
  }
  return mappings.sort((x, y) => x.externalPort - y.externalPort);
}

// ---------------------------------------------------------------------------------------------
// Reading the nodes

/**
 * The host's node status (the Info call `wgmesh info -json` prints, the same object), straight
 * from its local API socket (see localNodeInfo). A few milliseconds instead of a CLI start per
 * poll, so timings measured by polling it are precise to the poll interval. Undefined while the
 * node does not answer.
 */
export function agentInfo(lab: LabState, host: string, timeoutMs = 2_000): Promise<InfoResponse__Output | undefined> {
  return localNodeInfo(lab, host, timeoutMs);
}


/**
 * Polls each host's local API (every intervalMs) until `holds` is true of its Info; returns when
 * each host first showed it, in ms after `fromMs`. Fails, naming the host, after timeoutMs.
 */
export async function firstTimes(
  lab: LabState, hosts: readonly string[], what: string, holds: (info: InfoResponse__Output) => boolean,
  fromMs: number, timeoutMs: number, intervalMs: number,
): Promise<Map<string, number>> {
  const at = new Map<string, number>();
  await Promise.all(
    hosts.map((host) =>
      waitFor(`${host} to ${what}`, async () => {
        const info = await agentInfo(lab, host);
        if (info && holds(info) && !at.has(host)) at.set(host, Date.now() - fromMs);
        return at.has(host);
      }, timeoutMs, intervalMs),
    ),
  );
  return at;
}

/**
 * The WireGuard backend a host's node reports (its info's `backend`), checked against the
 * interface itself: the kernel's is a "wireguard" link, wireguard-go's a "tun". Throws when the
 * node does not answer, reports anything else, or its interface says otherwise.
 */
export async function nodeBackend(lab: LabState, host: string): Promise<'kernel' | 'userspace'> {
  const info = await agentInfo(lab, host, 5_000);
  if (!info) throw new Error(`${host}: the node does not answer on its local API`);
  const backend = info.backend;
  if (backend !== 'kernel' && backend !== 'userspace') throw new Error(`${host}: info reports backend "${backend}", not kernel or userspace`);
  const iface = `wg${lab.mesh}`;
  const result = await hostExec(lab, host, ['ip', '-d', '-j', 'link', 'show', 'dev', iface], { timeoutMs: 5_000 });
  if (result.code !== 0) throw new Error(`${host}: ip -d link show dev ${iface}: ${result.stderr.trim() || `exit ${result.code}`}`);
  const kind = (JSON.parse(result.stdout) as { linkinfo?: { info_kind?: string } }[])[0]?.linkinfo?.info_kind ?? '';
  const expected = backend === 'kernel' ? 'wireguard' : 'tun';
  if (kind !== expected) throw new Error(`${host}: info reports backend ${backend}, but ${iface} is a "${kind}" link, not "${expected}"`);
  return backend;
}

/** The wireguard-go processes a node's process should have as children: one with the userspace backend, none with the kernel's. */
export function expectedWireguardGo(backend: 'kernel' | 'userspace'): number {
  return backend === 'userspace' ? 1 : 0;
}

/** `wgmesh info -json` in a host, through the CLI; throws with its stderr when it fails. */
export async function cliInfo(lab: LabState, host: string): Promise<InfoResponse__Output> {
  const result = await hostExec(lab, host, ['wgmesh', 'info', '-json'], { timeoutMs: 15_000 });
  if (result.code !== 0) throw new Error(`${host}: wgmesh info -json: exit ${result.code}: ${result.stderr.trim()}`);
  return JSON.parse(result.stdout) as InfoResponse__Output;
}

/** `wgmesh rtt -json` in a host, through the CLI. */
export async function cliRtt(lab: LabState, host: string): Promise<RttResponse__Output> {
  const result = await hostExec(lab, host, ['wgmesh', 'rtt', '-json'], { timeoutMs: 15_000 });
  if (result.code !== 0) throw new Error(`${host}: wgmesh rtt -json: exit ${result.code}: ${result.stderr.trim()}`);
  return JSON.parse(result.stdout) as RttResponse__Output;
}

/** The status a node shows for a peer, or undefined when it does not list it. */
export function peerStatus(info: InfoResponse__Output, peer: string): string | undefined {
  return info.peers.find((p) => p.node?.name === peer)?.node?.status;
}

/** "name=meshIp" of the node itself and every peer it lists, sorted: its view of the member list. */
export function memberView(info: InfoResponse__Output): string[] {
  return [`${info.nodeName}=${info.meshIp}`, ...info.peers.map((p) => `${p.node?.name ?? '?'}=${p.node?.meshIp ?? '?'}`)].sort();
}

/** The mesh IP of the first JoinResponse a host's node logged ("joined the mesh … meshIp=X"), if any. */
export async function joinedIpFromLog(lab: LabState, host: string): Promise<string | undefined> {
  return /joined the mesh\b.*?\bmeshIp=(\S+)/.exec(await hostLog(lab, host))?.[1];
}

export async function hostLog(lab: LabState, host: string): Promise<string> {
  return readFile(labHost(lab, host).logFile, 'utf8').catch(() => '');
}

/** `ping -c COUNT -i INTERVAL`: each reply's time in ms (none when nothing came back). */
export async function pingTimes(lab: LabState, from: string, ip: string, count = 10, intervalS = 0.2): Promise<number[]> {
  const result = await hostExec(lab, from, ['ping', '-n', '-c', String(count), '-i', String(intervalS), '-W', '1', ip], { timeoutMs: 5_000 + count * intervalS * 1000 });
  return [...result.stdout.matchAll(/ time=([\d.]+) ms/g)].map((m) => Number(m[1]));
}

// ---------------------------------------------------------------------------------------------
// A ping that runs through a whole test window

export interface PingRun {
  readonly from: string;
  readonly ip: string;
  /** icmp_seq numbers answered so far. */
  readonly answered: ReadonlySet<number>;
  /** The highest icmp_seq ping reported (answered or not). */
  readonly lastSeq: number;
  /** ping has exited. */
  readonly exited: boolean;
  /** When the first answer arrived (wall clock, as its line was read), or undefined if ping exited without one. */
  readonly firstAnswerAt: Promise<number | undefined>;
  /** Sequence numbers in 1..upTo that got no answer. */
  missing(upTo: number): number[];
  /** Stops ping (SIGINT, as Ctrl-C) and resolves with its whole output. */
  stop(): Promise<string>;
}

/**
 * Starts `ping -O -i INTERVAL IP` in a host and follows its output as it runs (-O prints a
 * line for every probe still unanswered when the next one goes out). The ping is ours: stop()
 * signals its PID only.
 */
export function startPing(lab: LabState, from: string, ip: string, intervalS = 0.2): PingRun {
  const [file, ...args] = hostCommand(lab, from, ['ping', '-n', '-O', '-i', String(intervalS), ip], false);
  // nsenter execs ping without forking, so this PID is ping's own.
  const child = spawn(file!, args, { stdio: ['ignore', 'pipe', 'pipe'], env: labEnv(), cwd: REPO_ROOT });
  const answered = new Set<number>();
  let lastSeq = 0;
  let resolveFirst: (at: number | undefined) => void = () => {};
  const firstAnswerAt = new Promise<number | undefined>((resolve) => (resolveFirst = resolve));
  let output = '';
  let partial = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    output += chunk;
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const seq = /icmp_seq=(\d+)/.exec(line);
      if (!seq) continue;
      const n = Number(seq[1]);
      lastSeq = Math.max(lastSeq, n);
      if (/bytes from/.test(line)) {
        answered.add(n);
        resolveFirst(Date.now());
      }
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    output += chunk;
  });
  const exited = new Promise<void>((resolve) =>
    child.once('close', () => {
      resolveFirst(undefined);
      resolve();
    }),
  );
  return {
    from,
    ip,
    answered,
    get lastSeq() {
      return lastSeq;
    },
    firstAnswerAt,
    get exited() {
      return child.exitCode !== null || child.signalCode !== null;
    },
    missing(upTo) {
      const gaps: number[] = [];
      for (let n = 1; n <= upTo; n++) if (!answered.has(n)) gaps.push(n);
      return gaps;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      const stopped = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3_000).unref())]);
      if (!stopped) {
        child.kill('SIGKILL');
        await exited;
      }
      return output;
    },
  };
}

/**
 * When `from` first got an answer from `ip`: a ping every 100 ms, started again whenever it
 * gives up (e.g. "Network is unreachable" while a restarting node has no interface yet), so the
 * time is precise to about 100 ms. Throws after the deadline.
 */
export async function firstReply(lab: LabState, from: string, ip: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let output = '';
  while (Date.now() < deadline) {
    const run = startPing(lab, from, ip, 0.1);
    const timer = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), Math.max(0, deadline - Date.now())).unref());
    const at = await Promise.race([run.firstAnswerAt, timer]);
    output = await run.stop();
    if (at !== undefined) return at;
    if (Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${from} got no answer from ${ip} within ${timeoutMs} ms; ping said: ${output.trim().split('\n').slice(-3).join(' | ')}`);
}

// ---------------------------------------------------------------------------------------------
// A known delay on a path

export interface WireguardDelay {
  readonly host: string;
  /** Added to each peer's round trip, in ms, by peer name. */
  readonly delays: ReadonlyMap<string, number>;
  /** Stops the delaying process (the kernel then lets the traffic through: --queue-bypass) and removes the rules. */
  stop(): Promise<void>;
}

const NFQUEUE_DELAY = fileURLToPath(new URL('../tools/nfqueue-delay.py', import.meta.url));

/**
 * Delays every WireGuard packet `host` sends to each given peer by a fixed time, on the underlay:
 * the round trip between the two through the tunnel grows by that much, for ping and for wgmesh's
 * probes alike, and for nothing else. Packets to the peer's WireGuard endpoint (as `wg show`
 * has it now) go to a netfilter queue in the host's namespace (iptables NFQUEUE), and
 * test/tools/nfqueue-delay.py, started in the host, lets each through that much later. The
 * stand-in for `tc qdisc add dev eth0 root netem delay`, which needs sch_netem: kernels built
 * without it (this CI's) have NFQUEUE.
 */
export async function delayWireguard(lab: LabState, host: string, delays: ReadonlyMap<string, number>): Promise<WireguardDelay> {
  const dump = await wgDump(lab, host);
  const rules: string[][] = [];
  const specs: string[] = [];
  for (const [peer, ms] of delays) {
    const key = (await wgDump(lab, peer)).publicKey;
    const endpoint = dump.peers.find((p) => p.publicKey === key)?.endpoint ?? '';
    const at = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(endpoint);
    if (!at) throw new Error(`${host}: no IPv4 WireGuard endpoint for ${peer} to delay (wg show has "${endpoint}")`);
    const queue = labHost(lab, peer).index;
    specs.push(`${queue}=${ms}`);
    rules.push(['OUTPUT', '-p', 'udp', '-d', at[1]!, '--dport', at[2]!, '-j', 'NFQUEUE', '--queue-num', String(queue), '--queue-bypass']);
  }
  const [file, ...args] = hostCommand(lab, host, ['python3', NFQUEUE_DELAY, ...specs], false);
  // nsenter execs python without forking, so this PID is the delayer's own.
  const child = spawn(file!, args, { stdio: ['ignore', 'pipe', 'pipe'], env: labEnv(), cwd: REPO_ROOT });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const ready = await Promise.race([
    new Promise<boolean>((resolve) => child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString().startsWith('ready')))),
    exited.then(() => false),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 10_000).unref()),
  ]);
  const stopDelayer = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const stopped = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3_000).unref())]);
    if (!stopped) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  if (!ready) {
    await stopDelayer();
    throw new Error(`${host}: nfqueue-delay.py did not start: ${stderr.trim() || 'no output'}`);
  }
  const added: string[][] = [];
  const removeRules = async (): Promise<void> => {
    for (const rule of added) await hostExec(lab, host, ['iptables', '-w', '-D', ...rule], { timeoutMs: 10_000 });
  };
  for (const rule of rules) {
    const result = await hostExec(lab, host, ['iptables', '-w', '-A', ...rule], { timeoutMs: 10_000 });
    if (result.code !== 0) {
      await removeRules();
      await stopDelayer();
      throw new Error(`${host}: iptables -A ${rule.join(' ')}: ${result.stderr.trim() || `exit ${result.code}`}`);
    }
    added.push(rule);
  }
  return {
    host,
    delays,
    async stop() {
      await stopDelayer();
      await removeRules();
    },
  };
}


/** A wgmesh process a test started in a lab host by hand (not through the lab's own start). */
export interface HostProcess {
  readonly host: string;
  readonly child: ChildProcess;
  /** Its stdout and stderr. */
  readonly log: string;
}

/**
 * wgmesh processes a test starts in lab hosts itself (a TLS bootstrap, a join with a token…), each
 * in the background with its output in `<dir>/<host>.log`. stopAll() ends every one still running
 * (SIGTERM, the node's own clean stop) and waits until each has exited: call it in after().
 */
export function hostProcesses(lab: () => LabState, dir: string, logLevel = 'info') {
  const started: HostProcess[] = [];
  return {
    started: started as readonly HostProcess[],
    start(host: string, args: readonly string[]): HostProcess {
      const log = join(dir, `${host}.log`);
      const fd = openSync(log, 'a');
      const [cmd, ...rest] = hostCommand(lab(), host, ['wgmesh', ...args]);
      const child = spawn(cmd!, rest, { stdio: ['ignore', fd, fd], env: labEnv(process.env, { WGMESH_LOG_LEVEL: logLevel }) });
      closeSync(fd);
      const node = { host, child, log };
      started.push(node);
      return node;
    },
    async stopAll(): Promise<void> {
      for (const n of started) if (n.child.exitCode === null) n.child.kill('SIGTERM');
      await Promise.all(started.map((n) => (n.child.exitCode === null && n.child.signalCode === null ? new Promise((r) => n.child.once('exit', r)) : undefined)));
    },
  };
}

/**
 * A mesh in full mTLS mode in a hosts-only lab whose bootstrap holds the CA key: a CA made in
 * `<dir>/ca` (`wgmesh ca`'s library), h1 bootstrapping with it and `-ca-key` (so it signs
 * enrolled and renewed certificates), and h2 joined with a certificate issued from the CA dir.
 * Resolves once h2 is connected; returns the CA's files.
 */
export async function startCaHoldingMesh(lab: LabState, processes: ReturnType<typeof hostProcesses>, dir: string, mesh: string): Promise<ReturnType<typeof caFiles>> {
  const ca = join(dir, 'ca');
  await initCa(ca, { mesh });
  await issueCertificate(ca, 'h1', { server: true, ips: ['192.0.2.1'] });
  await issueCertificate(ca, 'h2');
  const f = caFiles(ca);
  processes.start('h1', ['bootstrap', '-n', mesh, '-cidr', '198.18.0.0/16', '-ip', '198.18.0.1', '-node-name', 'h1',
    '-grpc-ca-cert', f.cert, '-grpc-server-cert', f.issuedCert('h1'), '-grpc-server-key', f.issuedKey('h1'), '-ca-key', f.key]);
  processes.start('h2', ['join', '-n', mesh, '-bootstrap-addr', '192.0.2.1:5000', '-ca-cert', f.cert, '-client-cert', f.issuedCert('h2'), '-client-key', f.issuedKey('h2')]);
  await waitFor('h2 to be connected to h1', async () => (await cliInfo(lab, 'h2').catch(() => undefined))?.connected, 30_000, 200);
  return f;
}
