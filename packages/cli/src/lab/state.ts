/** lab.json: what a lab created and started, so `exec`, `add` and `down` can find it again. */
import { open, readFile, unlink } from 'node:fs/promises';
import { InvalidLabOptions, LabError } from './errors.js';
import { NAT_STYLES, type NatStyle } from './plan.js';

export type HostRole = 'bootstrap' | 'join';

export interface LabProcess {
  readonly pid: number;
  /** From /proc/PID/stat: a recycled PID has another start time, so we never signal a stranger. */
  readonly startTicks: number;
  /** Wall clock just before the spawn. */
  readonly startedMs: number;
  readonly argv: readonly string[];
}

/** The lab stopped this host's node on purpose (`lab kill`, a test's crash): not damage, not a leak. */
export interface LabStop {
  readonly signal: string;
  /** Wall clock just before the signal. */
  readonly atMs: number;
}

/** A host's place behind a NAT router. */
export interface LabHostNat {
  /** The router's name ("r1"). */
  readonly router: string;
  /** The router's WAN address: what the hosts on the underlay see this host as. */
  readonly publicIp: string;
  /** The router's address on the host's segment: its default route. */
  readonly gateway: string;
}

/** A masquerading NAT router: its own network namespace, WAN leg on the switch, LAN leg to its hosts. */
export interface LabRouter {
  readonly name: string;
  readonly index: number;
  readonly netns: string;
  /** On the underlay. */
  readonly wanIp: string;
  /** Its private segment, e.g. 198.51.100.0/28. */
  readonly lan: string;
  /** Its address on that segment. */
  readonly lanIp: string;
  /** The hosts behind it, by name. */
  readonly hosts: readonly string[];
  /** How it translates and filters: home, bare or random (see routerNatCommands in plan.ts). */
  readonly style: NatStyle;
  /** The iptables command its rules are in (iptables-legacy when it runs miniupnpd). */
  readonly iptables: string;
  /** Its miniupnpd (UPnP IGD, NAT-PMP, PCP on its LAN address); absent: none. */
  readonly miniupnpd?: LabDaemon;
}

/** A daemon the lab runs for a router or the segment (not a node): its files and its process once started. */
export interface LabDaemon {
  readonly pidFile: string;
  readonly logFile: string;
  readonly configFile?: string;
  readonly process?: LabProcess;
}

/** The public STUN server of a lab with UPnP routers (coturn in its own namespace on the switch). */
export interface LabStun extends LabDaemon {
  readonly netns: string;
  /** Two underlay addresses (RFC 5780 needs a second one to answer from). */
  readonly ips: readonly string[];
  readonly port: number;
}

/** A member of the lab's etcd cluster (labs with several bootstraps: one in each bootstrap host; or labStartEtcd's). */
export interface LabEtcdMember {
  /** The host it runs in (its network and mount namespaces), also etcd's --name. */
  readonly name: string;
  /** http://IP:2379 on the host's underlay address. */
  readonly clientUrl: string;
  /** http://IP:2380 */
  readonly peerUrl: string;
  /** In the host's state directory; removed with the lab. */
  readonly dataDir: string;
  readonly logFile: string;
  /** The member's etcd process once started. */
  readonly process?: LabProcess;
}

export interface LabHost {
  readonly name: string;
  readonly index: number;
  readonly netns: string;
  /** The host's own address (eth0): on the underlay, or on its NAT router's private segment. */
  readonly underlayIp: string;
  /** Set when the host sits behind a NAT router. */
  readonly nat?: LabHostNat;
  readonly mountFile: string;
  readonly stateDir: string;
  readonly logFile: string;
  readonly role: HostRole;
  /** The node the lab started last in this host (its PID may have exited since). */
  readonly process?: LabProcess;
  /** Set when the lab stopped that process on purpose; cleared when it starts the node again. */
  readonly stopped?: LabStop;
  /** Learned from the node once it joined. */
  readonly meshIp?: string;
}

export interface LabState {
  readonly version: 1;
  readonly name: string;
  readonly mesh: string;
  readonly underlay: string;
  readonly cidr: string;
  readonly bootstrapPort: number;
  /** How wgmesh is started in this lab (also used for `lab exec HOST wgmesh …`). */
  readonly wgmeshCommand: readonly string[];
  readonly logLevel: string;
  /** Hosts h1…hK run `bootstrap` (absent: 1, only h1); several share the etcd cluster below. */
  readonly bootstraps?: number;
  /** Extra flags of every `bootstrap` (absent: none). */
  readonly bootstrapArgs?: readonly string[];
  /** Extra flags of every `join` (absent: none). */
  readonly joinArgs?: readonly string[];
  /** Namespaces only, no wgmesh processes. */
  readonly hostsOnly: boolean;
  readonly createdMs: number;
  /** NAT routers (absent: none, every host is on the switch). */
  readonly routers?: readonly LabRouter[];
  /** The STUN server miniupnpd's check needs (absent: no router runs miniupnpd). */
  readonly stun?: LabStun;
  /**
   * The etcd cluster the bootstraps share, a member per bootstrap host in host order, or the one
   * labStartEtcd started later in the hosts it was given (absent: no etcd).
   */
  readonly etcd?: readonly LabEtcdMember[];
  readonly hosts: readonly LabHost[];
}

function fail(what: string): never {
  throw new InvalidLabOptions(`lab state: ${what}`);
}

function str(obj: Record<string, unknown>, key: string, where: string): string {
  const v = obj[key];
  if (typeof v !== 'string') fail(`${where}.${key} must be a string`);
  return v;
}

function int(obj: Record<string, unknown>, key: string, where: string): number {
  const v = obj[key];
  if (typeof v !== 'number' || !Number.isInteger(v)) fail(`${where}.${key} must be a whole number`);
  return v;
}

function bool(obj: Record<string, unknown>, key: string, where: string): boolean {
  const v = obj[key];
  if (typeof v !== 'boolean') fail(`${where}.${key} must be true or false`);
  return v;
}

function obj(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${where} must be an object`);
  return value as Record<string, unknown>;
}

function strings(value: unknown, where: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) fail(`${where} must be a list of strings`);
  return value as string[];
}

function parseProcess(value: unknown, where: string): LabProcess {
  const p = obj(value, where);
  return { pid: int(p, 'pid', where), startTicks: int(p, 'startTicks', where), startedMs: int(p, 'startedMs', where), argv: strings(p.argv, `${where}.argv`) };
}

function parseStop(value: unknown, where: string): LabStop {
  const p = obj(value, where);
  return { signal: str(p, 'signal', where), atMs: int(p, 'atMs', where) };
}

function parseHostNat(value: unknown, where: string): LabHostNat {
  const n = obj(value, where);
  return { router: str(n, 'router', where), publicIp: str(n, 'publicIp', where), gateway: str(n, 'gateway', where) };
}

function parseDaemon(value: unknown, where: string): LabDaemon {
  const d = obj(value, where);
  return {
    pidFile: str(d, 'pidFile', where),
    logFile: str(d, 'logFile', where),
    ...(d.configFile !== undefined ? { configFile: str(d, 'configFile', where) } : {}),
    ...(d.process !== undefined ? { process: parseProcess(d.process, `${where}.process`) } : {}),
  };
}

function parseEtcdMember(value: unknown, where: string): LabEtcdMember {
  const m = obj(value, where);
  return {
    name: str(m, 'name', where),
    clientUrl: str(m, 'clientUrl', where),
    peerUrl: str(m, 'peerUrl', where),
    dataDir: str(m, 'dataDir', where),
    logFile: str(m, 'logFile', where),
    ...(m.process !== undefined ? { process: parseProcess(m.process, `${where}.process`) } : {}),
  };
}

function parseEtcd(value: unknown): LabEtcdMember[] {
  if (!Array.isArray(value)) fail('etcd must be a list');
  return value.map((m, i) => parseEtcdMember(m, `etcd[${i}]`));
}

function parseStun(value: unknown, where: string): LabStun {
  const s = obj(value, where);
  return { ...parseDaemon(value, where), netns: str(s, 'netns', where), ips: strings(s.ips, `${where}.ips`), port: int(s, 'port', where) };
}

/** The router's style; a lab.json written before styles existed has `firewall` (true: home, false: bare). */
function parseStyle(r: Record<string, unknown>, where: string): NatStyle {
  if (r.style === undefined && r.firewall !== undefined) return bool(r, 'firewall', where) ? 'home' : 'bare';
  const style = str(r, 'style', where);
  if (!(NAT_STYLES as readonly string[]).includes(style)) fail(`${where}.style must be one of ${NAT_STYLES.join(', ')}`);
  return style as NatStyle;
}

function parseRouter(value: unknown, where: string): LabRouter {
  const r = obj(value, where);
  return {
    name: str(r, 'name', where),
    index: int(r, 'index', where),
    netns: str(r, 'netns', where),
    wanIp: str(r, 'wanIp', where),
    lan: str(r, 'lan', where),
    lanIp: str(r, 'lanIp', where),
    hosts: strings(r.hosts, `${where}.hosts`),
    style: parseStyle(r, where),
    iptables: r.iptables === undefined ? 'iptables' : str(r, 'iptables', where),
    ...(r.miniupnpd !== undefined ? { miniupnpd: parseDaemon(r.miniupnpd, `${where}.miniupnpd`) } : {}),
  };
}

function parseHost(value: unknown, where: string): LabHost {
  const h = obj(value, where);
  const role = str(h, 'role', where);
  if (role !== 'bootstrap' && role !== 'join') fail(`${where}.role must be bootstrap or join`);
  const host: LabHost = {
    name: str(h, 'name', where),
    index: int(h, 'index', where),
    netns: str(h, 'netns', where),
    underlayIp: str(h, 'underlayIp', where),
    ...(h.nat !== undefined ? { nat: parseHostNat(h.nat, `${where}.nat`) } : {}),
    mountFile: str(h, 'mountFile', where),
    stateDir: str(h, 'stateDir', where),
    logFile: str(h, 'logFile', where),
    role,
    ...(h.process !== undefined ? { process: parseProcess(h.process, `${where}.process`) } : {}),
    ...(h.stopped !== undefined ? { stopped: parseStop(h.stopped, `${where}.stopped`) } : {}),
    ...(typeof h.meshIp === 'string' ? { meshIp: h.meshIp } : {}),
  };
  return host;
}

function parseRouters(value: unknown): LabRouter[] {
  if (!Array.isArray(value)) fail('routers must be a list');
  return value.map((r, i) => parseRouter(r, `routers[${i}]`));
}

/** Validates a lab.json text; throws InvalidLabOptions naming the bad field. */
export function parseLabState(text: string): LabState {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    fail(`not JSON: ${(err as Error).message}`);
  }
  const s = obj(parsed, 'lab');
  if (s.version !== 1) fail(`unsupported version ${String(s.version)}`);
  if (!Array.isArray(s.hosts)) fail('hosts must be a list');
  if (typeof s.hostsOnly !== 'boolean') fail('hostsOnly must be true or false');
  return {
    version: 1,
    name: str(s, 'name', 'lab'),
    mesh: str(s, 'mesh', 'lab'),
    underlay: str(s, 'underlay', 'lab'),
    cidr: str(s, 'cidr', 'lab'),
    bootstrapPort: int(s, 'bootstrapPort', 'lab'),
    wgmeshCommand: strings(s.wgmeshCommand, 'lab.wgmeshCommand'),
    logLevel: str(s, 'logLevel', 'lab'),
    ...(s.bootstraps !== undefined ? { bootstraps: int(s, 'bootstraps', 'lab') } : {}),
    ...(s.bootstrapArgs !== undefined ? { bootstrapArgs: strings(s.bootstrapArgs, 'lab.bootstrapArgs') } : {}),
    ...(s.joinArgs !== undefined ? { joinArgs: strings(s.joinArgs, 'lab.joinArgs') } : {}),
    hostsOnly: s.hostsOnly,
    createdMs: int(s, 'createdMs', 'lab'),
    ...(s.routers !== undefined ? { routers: parseRouters(s.routers) } : {}),
    ...(s.stun !== undefined ? { stun: parseStun(s.stun, 'lab.stun') } : {}),
    ...(s.etcd !== undefined ? { etcd: parseEtcd(s.etcd) } : {}),
    hosts: s.hosts.map((h, i) => parseHost(h, `hosts[${i}]`)),
  };
}

export function formatLabState(state: LabState): string {
  return `${JSON.stringify(state, null, 2)}\n`;
}

/** Undefined when the file does not exist; throws when it exists but is damaged. */
export async function readLabState(file: string): Promise<LabState | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return parseLabState(text);
}

/** Written atomically (the agent's writeFileAtomic): a crash leaves the old or the new file, never half of one. */
export async function writeLabState(file: string, state: LabState): Promise<void> {
  // Loaded here, not at the top: only the lab commands that change a lab write lab.json, and
  // `lab status`/`exec`/`info`/`down` need not load all of @wgmesh/agent to start.
  const { writeFileAtomic } = await import('@wgmesh/agent');
  await writeFileAtomic(file, formatLabState(state), 0o644);
}

/** How long a lab command waits for another to finish its change of lab.json. */
const LAB_STATE_LOCK_TIMEOUT_MS = 30_000;

/**
 * Runs `work` holding lab.json's lock (lab.json.lock, made with O_EXCL, holding the holder's PID):
 * two lab commands on one lab (`lab restart h2 & lab restart h3`) each read lab.json, change their
 * host and write it back, and without the lock the last writer dropped the other's new PID, so
 * `lab down` left that node running. A lock whose holder has died is taken over.
 */
async function withLabStateLock<T>(file: string, work: () => Promise<T>): Promise<T> {
  const lockFile = `${file}.lock`;
  const deadline = Date.now() + LAB_STATE_LOCK_TIMEOUT_MS;
  for (;;) {
    try {
      const handle = await open(lockFile, 'wx', 0o644);
      try {
        await handle.writeFile(`${process.pid}\n`);
      } finally {
        await handle.close();
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number.parseInt(await readFile(lockFile, 'utf8').catch(() => ''), 10);
    // Written right after it is made: a lock without a PID yet is someone's, moments old.
    if (Number.isInteger(holder) && holder > 0 && !isAlive(holder)) {
      await unlink(lockFile).catch(() => {});
      continue;
    }
    if (Date.now() > deadline) {
      throw new LabError(`${file} is locked by ${Number.isInteger(holder) ? `PID ${holder}` : 'another lab command'} (${lockFile}) for over ${LAB_STATE_LOCK_TIMEOUT_MS / 1000} s; if no lab command is running, remove ${lockFile}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 10));
  }
  try {
    return await work();
  } finally {
    await unlink(lockFile).catch(() => {});
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Changes lab.json as it is now, under its lock: `change` gets the state on disk (another command
 * may have changed it since this one loaded it) and returns the new one, which is written and
 * returned. For changes of one host (a start, a stop, a mesh IP) made while other commands run.
 */
export async function updateLabState(file: string, change: (current: LabState) => LabState): Promise<LabState> {
  return withLabStateLock(file, async () => {
    const current = await readLabState(file);
    if (!current) throw new LabError(`${file} is gone: the lab was taken down meanwhile`);
    const next = change(current);
    await writeLabState(file, next);
    return next;
  });
}

/** The lab with its etcd member of that name replaced. */
export function replaceEtcdMember(state: LabState, member: LabEtcdMember): LabState {
  return { ...state, etcd: (state.etcd ?? []).map((m) => (m.name === member.name ? member : m)) };
}

export function replaceHost(state: LabState, host: LabHost): LabState {
  const hosts = state.hosts.some((h) => h.name === host.name)
    ? state.hosts.map((h) => (h.name === host.name ? host : h))
    : [...state.hosts, host].sort((a, b) => a.index - b.index);
  return { ...state, hosts };
}
