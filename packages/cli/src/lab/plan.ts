/**
 * Pure planning of a lab: names, addresses, paths and the command each host runs. Everything
 * the lab creates is derived here from (lab name, host index), so teardown can find it again.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { ETCD_CLIENT_PORT, ETCD_PEER_PORT, LAB_DEFAULTS, MAX_BOOTSTRAPS, MAX_HOSTS, MAX_LAB_NAME, MAX_MESH_NAME, NAT_SEGMENT_PREFIX, STUN_ADDRESS_COUNT } from './constants.js';
import { InvalidLabOptions } from './errors.js';

export interface Ipv4Cidr {
  /** Network address as an unsigned 32-bit number. */
  readonly network: number;
  readonly prefix: number;
}

export function parseIpv4(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new InvalidLabOptions(`"${text}" is not an IPv4 address`);
  }
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export function formatIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

export function parseCidr(text: string): Ipv4Cidr {
  const match = /^([^/]+)\/(\d{1,2})$/.exec(text.trim());
  if (!match) throw new InvalidLabOptions(`"${text}" is not an IPv4 CIDR like 192.0.2.0/24`);
  const address = parseIpv4(match[1]!);
  const prefix = Number(match[2]);
  if (prefix < 8 || prefix > 30) throw new InvalidLabOptions(`${text}: the prefix length must be between 8 and 30`);
  const size = 2 ** (32 - prefix);
  const network = address - (address % size);
  if (network !== address) {
    throw new InvalidLabOptions(`${text} has host bits set; did you mean ${formatIpv4(network)}/${prefix}?`);
  }
  return { network, prefix };
}

/** Usable host addresses (network and broadcast excluded). */
export function cidrHostCount(cidr: Ipv4Cidr): number {
  return 2 ** (32 - cidr.prefix) - 2;
}

/** The K-th host address of a network: .1 for h1 (the bootstrap), .2 for h2, … */
export function hostAddress(cidr: Ipv4Cidr, k: number): string {
  if (!Number.isInteger(k) || k < 1 || k > cidrHostCount(cidr)) {
    throw new InvalidLabOptions(`host ${k} does not fit in ${formatIpv4(cidr.network)}/${cidr.prefix}`);
  }
  return formatIpv4(cidr.network + k);
}

export function formatCidr(cidr: Ipv4Cidr): string {
  return `${formatIpv4(cidr.network)}/${cidr.prefix}`;
}

export function validateLabName(name: string): string {
  if (!new RegExp(`^[a-z][a-z0-9]{0,${MAX_LAB_NAME - 1}}$`).test(name)) {
    throw new InvalidLabOptions(
      `lab name "${name}": use 1–${MAX_LAB_NAME} lowercase letters and digits, starting with a letter (it prefixes namespace and link names, which are limited to 15 characters)`,
    );
  }
  return name;
}

export function validateMeshName(mesh: string): string {
  if (!new RegExp(`^[a-z0-9]([a-z0-9-]{0,${MAX_MESH_NAME - 2}}[a-z0-9])?$`).test(mesh)) {
    throw new InvalidLabOptions(
      `mesh name "${mesh}": use 1–${MAX_MESH_NAME} lowercase letters, digits and inner dashes (the interface is wg<MESH>, at most 15 characters)`,
    );
  }
  return mesh;
}

/**
 * The host count must fit the underlay; `routers` NAT routers take the top addresses of it
 * (see routerWanAddress), so hosts hK (.K) and routers never share an address.
 */
export function validateHostCount(n: number, underlay: Ipv4Cidr, routers = 0): number {
  const max = Math.min(MAX_HOSTS, cidrHostCount(underlay) - routers);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    const why = routers > 0 ? ` (${routers} address${routers === 1 ? '' : 'es'} of ${formatCidr(underlay)} go${routers === 1 ? 'es' : ''} to NAT routers)` : '';
    throw new InvalidLabOptions(`the number of hosts must be between 1 and ${Math.max(1, max)}, not ${n}${why}`);
  }
  return n;
}

/**
 * How many hosts bootstrap (h1…hK): 1, or several sharing one etcd cluster (a member in each
 * bootstrap host). At most MAX_BOOTSTRAPS, and no more than the lab's hosts.
 */
export function validateBootstrapCount(k: number, hosts: number): number {
  const max = Math.max(1, Math.min(hosts, MAX_BOOTSTRAPS));
  if (!Number.isInteger(k) || k < 1 || k > max) {
    const why = hosts < MAX_BOOTSTRAPS ? ` (the lab has ${hosts} host${hosts === 1 ? '' : 's'})` : '';
    throw new InvalidLabOptions(`-bootstraps: the number of bootstraps must be between 1 and ${max}, not ${k}${why}`);
  }
  return k;
}

/** Host K runs `wgmesh bootstrap` in a lab of `bootstraps` bootstraps (h1…hK); the others join. */
export function isBootstrapIndex(k: number, bootstraps = 1): boolean {
  return Number.isInteger(k) && k >= 1 && k <= bootstraps;
}

export function hostName(k: number): string {
  return `h${k}`;
}

/** 3 for "h3"; undefined for anything that is not a host name. */
export function hostIndex(name: string): number | undefined {
  const match = /^h([1-9]\d{0,2})$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

export function routerName(r: number): string {
  return `r${r}`;
}

/** 2 for "r2"; undefined for anything that is not a NAT router name. */
export function routerIndex(name: string): number | undefined {
  const match = /^r([1-9]\d{0,2})$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

export interface LabNames {
  /** The network namespace of host K. */
  netns(k: number): string;
  /** The switch namespace: holds the bridge and the host-facing ends of the veth pairs. */
  readonly switchNetns: string;
  readonly bridge: string;
  /** The switch-side veth of host K (the host side is always eth0). */
  switchPort(k: number): string;
  /** The network namespace of NAT router R. */
  routerNetns(r: number): string;
  /** The switch-side veth of NAT router R's WAN leg (the router side is `wan`). */
  routerPort(r: number): string;
  /** The namespace of the lab's STUN server (labs with UPnP routers); its link is eth0. */
  readonly stunNetns: string;
  /** The switch-side veth of the STUN server. */
  readonly stunPort: string;
  /** True for the namespaces this lab creates, e.g. when scanning `ip netns list`. */
  owns(netns: string): boolean;
}

/** Link names inside a NAT router's namespace. */
export const ROUTER_LINKS = {
  /** Its leg on the lab's switch (the underlay). */
  wan: 'wan',
  /** The bridge of its private segment; host K's veth end in the router is `hK`. */
  lan: 'lan',
} as const;

export function labNames(lab: string): LabNames {
  validateLabName(lab);
  return {
    netns: (k) => `${lab}-${hostName(k)}`,
    switchNetns: `${lab}-sw`,
    bridge: `${lab}-br`,
    switchPort: (k) => `${lab}-${hostName(k)}`,
    routerNetns: (r) => `${lab}-${routerName(r)}`,
    routerPort: (r) => `${lab}-${routerName(r)}`,
    stunNetns: `${lab}-stun`,
    stunPort: `${lab}-stun`,
    owns: (netns) => {
      if (netns === `${lab}-sw` || netns === `${lab}-stun`) return true;
      if (!netns.startsWith(`${lab}-`)) return false;
      const rest = netns.slice(lab.length + 1);
      return hostIndex(rest) !== undefined || routerIndex(rest) !== undefined;
    },
  };
}

export interface LabRoots {
  readonly runRoot: string;
  readonly stateRoot: string;
}

export interface LabPaths {
  /** A private bind mount holding the mount-namespace files. */
  readonly runDir: string;
  readonly nsDir: string;
  readonly stateDir: string;
  readonly stateFile: string;
  mountFile(k: number): string;
  hostStateDir(k: number): string;
  logFile(k: number): string;
  /** NAT router R's miniupnpd: config, pidfile (-P), log and lease file, all in the state directory. */
  miniupnpd(r: number): { readonly configFile: string; readonly pidFile: string; readonly logFile: string; readonly leaseFile: string };
  /** The STUN server's pidfile and log. */
  readonly stun: { readonly pidFile: string; readonly logFile: string };
  /** Bootstrap host K's etcd member: its data in the host's state directory, its log beside the host's. */
  etcd(k: number): { readonly dataDir: string; readonly logFile: string };
}

export function labPaths(lab: string, roots: LabRoots = LAB_DEFAULTS): LabPaths {
  const runDir = join(roots.runRoot, lab);
  const stateDir = join(roots.stateRoot, lab);
  return {
    runDir,
    nsDir: join(runDir, 'ns'),
    stateDir,
    stateFile: join(stateDir, 'lab.json'),
    mountFile: (k) => join(runDir, 'ns', `${hostName(k)}.mnt`),
    hostStateDir: (k) => join(stateDir, hostName(k)),
    logFile: (k) => join(stateDir, `${hostName(k)}.log`),
    miniupnpd: (r) => {
      const base = join(stateDir, `${routerName(r)}-miniupnpd`);
      return { configFile: `${base}.conf`, pidFile: `${base}.pid`, logFile: `${base}.log`, leaseFile: `${base}.leases` };
    },
    stun: { pidFile: join(stateDir, 'stun.pid'), logFile: join(stateDir, 'stun.log') },
    etcd: (k) => ({ dataDir: join(stateDir, hostName(k), 'etcd'), logFile: join(stateDir, `${hostName(k)}-etcd.log`) }),
  };
}

export interface NodeCommandPlan {
  readonly mesh: string;
  readonly cidr: Ipv4Cidr;
  readonly underlay: Ipv4Cidr;
  readonly bootstrapPort: number;
  /** Hosts h1…hK bootstrap (default 1); with more than one they share the lab's etcd cluster. */
  readonly bootstraps?: number;
  /** Appended to every `bootstrap` command line (e.g. `-reap-after 5s`). */
  readonly bootstrapArgs?: readonly string[];
  /** Appended to every other host's `join` command line (e.g. `-heartbeat 1s`). */
  readonly joinArgs?: readonly string[];
}

/**
 * h1…hK bootstrap the mesh, hK taking the CIDR's K-th address (h1 .1, h2 .2, …); with several,
 * they keep the member table in the lab's etcd cluster (every member's endpoint given to each).
 * Every other host joins through all of them. Extra flags come last, so they can also override
 * the lab's own (Go-style flags: the last wins).
 */
export function nodeArgs(plan: NodeCommandPlan, k: number): string[] {
  const bootstraps = plan.bootstraps ?? 1;
  if (isBootstrapIndex(k, bootstraps)) {
    return [
      'bootstrap', '-dev',
      '-n', plan.mesh,
      '-cidr', formatCidr(plan.cidr),
      '-ip', hostAddress(plan.cidr, k),
      '-grpc-bind-port', String(plan.bootstrapPort),
      '-node-name', hostName(k),
      ...(bootstraps > 1 ? ['-store', 'etcd', '-etcd-endpoints', etcdEndpoints(plan.underlay, bootstraps).join(',')] : []),
      ...(plan.bootstrapArgs ?? []),
    ];
  }
  return [
    'join', '-dev',
    '-n', plan.mesh,
    ...bootstrapAddresses(plan.underlay, bootstraps, plan.bootstrapPort).flatMap((addr) => ['-bootstrap-addr', addr]),
    '-node-name', hostName(k),
    ...(plan.joinArgs ?? []),
  ];
}

/** Where the joins reach the bootstraps: h1…hK's underlay addresses (never behind NAT) and the gRPC port. */
export function bootstrapAddresses(underlay: Ipv4Cidr, bootstraps: number, port: number): string[] {
  return Array.from({ length: bootstraps }, (_, i) => `${hostAddress(underlay, i + 1)}:${port}`);
}

// ---------------------------------------------------------------------------------------------
// The etcd cluster of a lab with several bootstraps

export interface EtcdMemberPlan {
  /** The bootstrap host's name (h1, …), also etcd's --name. */
  readonly name: string;
  readonly index: number;
  /** The host's underlay address, where the member listens. */
  readonly ip: string;
  /** http://IP:2379 */
  readonly clientUrl: string;
  /** http://IP:2380 */
  readonly peerUrl: string;
}

/** One etcd member per bootstrap host h1…hK, on its underlay address. */
export function planEtcd(underlay: Ipv4Cidr, bootstraps: number): EtcdMemberPlan[] {
  return planEtcdMembers(Array.from({ length: bootstraps }, (_, i) => ({ name: hostName(i + 1), index: i + 1, ip: hostAddress(underlay, i + 1) })));
}

/** One etcd member in each of these hosts, on the given address (the host's underlay address), in the order given. */
export function planEtcdMembers(hosts: readonly { readonly name: string; readonly index: number; readonly ip: string }[]): EtcdMemberPlan[] {
  if (hosts.length === 0) throw new InvalidLabOptions('an etcd cluster needs at least one host');
  const names = hosts.map((h) => h.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new InvalidLabOptions(`${twice} is named twice: an etcd cluster has one member per host`);
  return hosts.map((h) => ({ name: h.name, index: h.index, ip: h.ip, clientUrl: `http://${h.ip}:${ETCD_CLIENT_PORT}`, peerUrl: `http://${h.ip}:${ETCD_PEER_PORT}` }));
}

/** The client URLs of the lab's etcd members, in host order: what each bootstrap's -etcd-endpoints lists. */
export function etcdEndpoints(underlay: Ipv4Cidr, bootstraps: number): string[] {
  return planEtcd(underlay, bootstraps).map((m) => m.clientUrl);
}

/**
 * The command line of one member of a new cluster: listening on its host's underlay address only,
 * the whole cluster named in --initial-cluster, the lab's name as the cluster token (two labs'
 * members never join each other), logs on stderr (the lab appends them to the member's log file).
 */
export function etcdArgs(member: EtcdMemberPlan, cluster: readonly EtcdMemberPlan[], dataDir: string, token: string): string[] {
  return [
    'etcd',
    '--name', member.name,
    '--data-dir', dataDir,
    '--listen-client-urls', member.clientUrl,
    '--advertise-client-urls', member.clientUrl,
    '--listen-peer-urls', member.peerUrl,
    '--initial-advertise-peer-urls', member.peerUrl,
    '--initial-cluster', cluster.map((m) => `${m.name}=${m.peerUrl}`).join(','),
    '--initial-cluster-state', 'new',
    '--initial-cluster-token', token,
    '--logger', 'zap',
    '--log-outputs', 'stderr',
  ];
}

/** `etcdctl` against the given members (run inside a host of the lab: the underlay is reachable only there). */
export function etcdctlArgs(endpoints: readonly string[], command: readonly string[]): string[] {
  return ['etcdctl', '--endpoints', endpoints.join(','), '--dial-timeout', '1s', '--command-timeout', '2s', ...command];
}

/**
 * Extra node flags given as one string (`-bootstrap-args "-reap-after 5s"`): split on white
 * space, with '…' and "…" grouping words and a backslash escaping the next character.
 */
export function splitArgs(text: string): string[] {
  const args: string[] = [];
  let current = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) current += text[++i];
      else current += c;
      continue;
    }
    if (/\s/.test(c)) {
      if (inWord) args.push(current);
      current = '';
      inWord = false;
      continue;
    }
    inWord = true;
    if (c === '"' || c === "'") quote = c;
    else if (c === '\\' && i + 1 < text.length) current += text[++i];
    else current += c;
  }
  if (quote) throw new InvalidLabOptions(`unclosed ${quote} in "${text}"`);
  if (inWord) args.push(current);
  return args;
}

/**
 * The shell line that prepares a host's fresh mount namespace: drop its copies of the machine's
 * mounts under /run and of namespace files anywhere (they would pin other labs' and tests'
 * namespaces for as long as this host lives), give it its own sysfs (run from inside the host's
 * netns, so /sys/class/net lists the host's own interfaces), its own
 * tmpfs /run (so /var/run/wireguard and /var/run/wgmesh.sock are private) and bind its state
 * directory over the agent's default one.
 */
export function mountNamespaceScript(hostStateDir: string, insideStateDir: string = LAB_DEFAULTS.hostStateDir): string {
  const q = shellQuote;
  return [
    // Field 5 is the mount point; the field after "-" is the filesystem type.
    `for m in $(awk '{ for (i = 7; i < NF; i++) if ($i == "-") { if ($5 ~ "^/run/" || $(i + 1) == "nsfs") print $5; break } }' /proc/self/mountinfo | sort -r); do umount -l "$m" 2>/dev/null || true; done`,
    'mount -t tmpfs -o mode=0755 wgmesh-lab /run',
    // Like `ip netns exec`: a sysfs mounted from inside the host's netns shows its own interfaces.
    '{ umount -l /sys 2>/dev/null || true; }',
    'mount -t sysfs sysfs /sys',
    'mkdir -p /run/wireguard',
    `mount --bind ${q(hostStateDir)} ${q(insideStateDir)}`,
  ].join(' && ');
}

export function shellQuote(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** `nsenter` prefix that runs a command inside host K's network and mount namespaces. */
export function hostEnterArgs(netnsPath: string, mountFile: string): string[] {
  return [`--mount=${mountFile}`, `--net=${netnsPath}`, '--'];
}

// ---------------------------------------------------------------------------------------------
// NAT routers

/** One NAT router's hosts: a host name ("h2"), several joined by "+" ("h4+h5"), or a list of names. */
export type NatGroupInput = string | readonly string[];

/**
 * How a NAT router translates and filters (see routerNatCommands):
 * - home: MASQUERADE (Linux keeps the source port when it is free); drops unsolicited packets
 *   from the WAN, to the router and through it, as home routers do.
 * - bare: MASQUERADE with a forward filter only: the router itself accepts anything.
 * - random: MASQUERADE --random-fully (a random source port for every new destination, like a
 *   carrier-grade NAT: a symmetric NAT no hole punch can predict), with the home firewall.
 */
export type NatStyle = 'home' | 'bare' | 'random';
export const NAT_STYLES: readonly NatStyle[] = ['home', 'bare', 'random'];

export function parseNatStyle(text: string): NatStyle {
  const style = text.trim().toLowerCase();
  if (!(NAT_STYLES as readonly string[]).includes(style)) throw new InvalidLabOptions(`-nat-style ${text}: use ${NAT_STYLES.join(', ')}`);
  return style as NatStyle;
}

export interface NatRouterPlan {
  /** 1, 2, …: in the order the groups were given. */
  readonly index: number;
  /** "r1", … */
  readonly name: string;
  /** Host indexes behind it, ascending. */
  readonly hosts: readonly number[];
  /** Its WAN address on the underlay (what the world sees its hosts as). */
  readonly wanIp: string;
  /** Its private segment (a /28 of the NAT LAN space). */
  readonly lan: Ipv4Cidr;
  /** Its address on that segment: the hosts' default gateway. */
  readonly lanIp: string;
  /** How it translates and filters (see routerNatCommands). */
  readonly style: NatStyle;
  /** It runs miniupnpd (UPnP IGD, NAT-PMP, PCP) for its LAN. */
  readonly upnp: boolean;
}

export interface NatHostPlan {
  readonly router: NatRouterPlan;
  /** The host's own (private) address on its router's segment. */
  readonly ip: string;
}

export interface NatPlanInput {
  readonly hosts: number;
  readonly underlay: Ipv4Cidr;
  /** The space the /28 segments are carved from (default 198.51.100.0/24). */
  readonly natLan: Ipv4Cidr;
  /** The mesh CIDR: the private segments must not overlap it either. */
  readonly cidr?: Ipv4Cidr;
  /** How every router translates and filters (default home). */
  readonly style?: NatStyle;
  /** Every router runs miniupnpd; two more underlay addresses go to the lab's STUN server. */
  readonly upnp?: boolean;
  /** h1…hK bootstrap (default 1): none of them may be behind NAT. */
  readonly bootstraps?: number;
}

/**
 * Normalises `-nat` values into host groups, one per router: "h2" → [2]; "h4+h5" → [4, 5];
 * ["h4", "h5"] → [4, 5]. Names must be hK; nothing else is checked here (see planNat).
 */
export function parseNatGroups(inputs: readonly NatGroupInput[]): number[][] {
  return inputs.map((input) => {
    const names = (typeof input === 'string' ? input.split('+') : [...input]).map((n) => n.trim());
    if (names.length === 0 || names.some((n) => n === '')) {
      throw new InvalidLabOptions(`-nat "${typeof input === 'string' ? input : input.join('+')}": give host names like h2, or h4+h5 for hosts behind one router`);
    }
    return names.map((n) => {
      const k = hostIndex(n);
      if (k === undefined) throw new InvalidLabOptions(`-nat: "${n}" is not a host name (h2, h3, …)`);
      return k;
    });
  });
}

/** Router R's WAN address: the underlay's top addresses, counting down (.254 for r1 in a /24, .253 for r2, …). */
export function routerWanAddress(underlay: Ipv4Cidr, r: number): string {
  return hostAddress(underlay, cidrHostCount(underlay) - r + 1);
}

/** Router R's private segment: the R-th /28 of the NAT LAN space (198.51.100.0/28 for r1, .16/28 for r2, …). */
export function natSegment(natLan: Ipv4Cidr, r: number): Ipv4Cidr {
  const count = 2 ** (NAT_SEGMENT_PREFIX - natLan.prefix);
  if (!Number.isInteger(r) || r < 1 || r > count) {
    throw new InvalidLabOptions(`NAT router ${r} does not fit in ${formatCidr(natLan)} (${count} segments of /${NAT_SEGMENT_PREFIX})`);
  }
  return { network: natLan.network + (r - 1) * 2 ** (32 - NAT_SEGMENT_PREFIX), prefix: NAT_SEGMENT_PREFIX };
}

export function cidrsOverlap(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  const aEnd = a.network + 2 ** (32 - a.prefix);
  const bEnd = b.network + 2 ** (32 - b.prefix);
  return a.network < bEnd && b.network < aEnd;
}

/**
 * The NAT routers of a lab: one per group, in the order given. The bootstraps (h1…hK) are never
 * behind NAT, a host is behind at most one router, the segments fit the NAT LAN space and
 * overlap neither the underlay nor the mesh, and hosts plus routers fit the underlay.
 */
export function planNat(groups: readonly (readonly number[])[], input: NatPlanInput): NatRouterPlan[] {
  if (groups.length === 0) return [];
  const { underlay, natLan } = input;
  if (natLan.prefix > NAT_SEGMENT_PREFIX) {
    throw new InvalidLabOptions(`the NAT LAN space ${formatCidr(natLan)} must be a /${NAT_SEGMENT_PREFIX} or larger (one /${NAT_SEGMENT_PREFIX} per router)`);
  }
  if (cidrsOverlap(natLan, underlay)) {
    throw new InvalidLabOptions(`the NAT LAN space ${formatCidr(natLan)} overlaps the underlay ${formatCidr(underlay)}; choose another -underlay (e.g. 203.0.113.0/24) or -nat-lan`);
  }
  if (input.cidr && cidrsOverlap(natLan, input.cidr)) {
    throw new InvalidLabOptions(`the NAT LAN space ${formatCidr(natLan)} overlaps the mesh ${formatCidr(input.cidr)}`);
  }
  const upnp = input.upnp ?? false;
  validateHostCount(input.hosts, underlay, reservedAddresses(groups.length, upnp));
  const seen = new Map<number, number>();
  const perRouter = cidrHostCount({ network: 0, prefix: NAT_SEGMENT_PREFIX }) - 1;
  return groups.map((group, i) => {
    const r = i + 1;
    if (group.length > perRouter) throw new InvalidLabOptions(`-nat: at most ${perRouter} hosts fit behind one router, not ${group.length}`);
    for (const k of group) {
      if (k === 1) throw new InvalidLabOptions('-nat: h1 runs the bootstrap, which is never behind NAT');
      if (isBootstrapIndex(k, input.bootstraps)) throw new InvalidLabOptions(`-nat: ${hostName(k)} runs a bootstrap (-bootstraps ${input.bootstraps}), which is never behind NAT`);
      if (k > input.hosts) throw new InvalidLabOptions(`-nat: the lab has no ${hostName(k)} (it has h1…h${input.hosts})`);
      const other = seen.get(k);
      if (other !== undefined) {
        throw new InvalidLabOptions(`-nat: ${hostName(k)} is given ${other === r ? 'twice for one router' : `for two routers (${routerName(other)} and ${routerName(r)})`}`);
      }
      seen.set(k, r);
    }
    const lan = natSegment(natLan, r);
    return {
      index: r,
      name: routerName(r),
      hosts: [...group].sort((a, b) => a - b),
      wanIp: routerWanAddress(underlay, r),
      lan,
      lanIp: hostAddress(lan, 1),
      style: input.style ?? 'home',
      upnp,
    };
  });
}

/** Where host K sits behind NAT (its router and private address), or undefined when it is on the switch. */
export function natHost(routers: readonly NatRouterPlan[], k: number): NatHostPlan | undefined {
  for (const router of routers) {
    const at = router.hosts.indexOf(k);
    if (at >= 0) return { router, ip: hostAddress(router.lan, at + 2) };
  }
  return undefined;
}

/**
 * Underlay addresses taken from the top (counting down): one per NAT router, and with UPnP two
 * more for the lab's STUN server (see stunAddresses). Hosts hK take .K from the bottom.
 */
export function reservedAddresses(routers: number, upnp: boolean): number {
  return routers === 0 ? 0 : routers + (upnp ? STUN_ADDRESS_COUNT : 0);
}

/**
 * The STUN server's two addresses, just below the routers' WAN addresses. miniupnpd refuses to
 * map ports on a WAN address in a reserved range (TEST-NET is one) unless its RFC 5780 STUN test
 * finds no NAT above it, and that test needs a server that answers from a second address.
 */
export function stunAddresses(underlay: Ipv4Cidr, routers: number): [string, string] {
  return [routerWanAddress(underlay, routers + 1), routerWanAddress(underlay, routers + 2)];
}

/**
 * The iptables a router's rules are made with. miniupnpd-iptables (libiptc) writes only the
 * legacy tables, and its DNAT in the legacy nat table must sit in the same backend as the
 * router's MASQUERADE (one nat ruleset decides each connection's translation), so a UPnP router
 * uses iptables-legacy throughout; without UPnP, the system's iptables (nf_tables on Debian).
 */
export function routerIptables(upnp: boolean): 'iptables' | 'iptables-legacy' {
  return upnp ? 'iptables-legacy' : 'iptables';
}

/**
 * The router's setup after its links exist: forwarding on, and masquerading of everything that
 * leaves through the WAN leg (Linux keeps the source port when it is free, like most home NATs;
 * `random` picks a random one for every new connection from the LAN instead: --random-fully,
 * limited to `lan` so that the router's own traffic keeps its ports).
 *
 * Every style drops forwarded packets from the WAN that belong to no connection a host opened.
 * `home` and `random` also drop such packets to the router itself (INPUT). That matters beyond
 * policy: without it, a peer's unsolicited packet to the router is accepted and tracked as a
 * connection of its own, and the host's later packet to that same peer address:port must then
 * be masqueraded to another source port (the tuple is taken), which no hole punch can guess.
 * `bare` keeps exactly that behaviour.
 *
 * With `upnp`, miniupnpd's chains come first (it adds rules to them, never to the built-in
 * chains): nat MINIUPNPD from PREROUTING on the WAN (its DNATs), nat MINIUPNPD-POSTROUTING before
 * the MASQUERADE (a mapped port keeps its number going out), filter MINIUPNPD from FORWARD (lets
 * the mapped ports in) and from INPUT: at start miniupnpd opens pinholes there for the replies of
 * its STUN test, which come from the server's other address and port and would otherwise be
 * dropped as unsolicited (it then disables port forwarding). Its mapping rules match only LAN
 * addresses, which never arrive in INPUT.
 */
export function routerNatCommands(style: NatStyle = 'home', upnp = false, lan?: Ipv4Cidr): string[][] {
  const wan = ROUTER_LINKS.wan;
  const ipt = [routerIptables(upnp), '-w'];
  const commands = [['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']];
  if (upnp) {
    commands.push(
      [...ipt, '-t', 'nat', '-N', MINIUPNPD_CHAINS.nat],
      [...ipt, '-t', 'nat', '-A', 'PREROUTING', '-i', wan, '-j', MINIUPNPD_CHAINS.nat],
      [...ipt, '-t', 'nat', '-N', MINIUPNPD_CHAINS.natPostrouting],
      [...ipt, '-t', 'nat', '-A', 'POSTROUTING', '-o', wan, '-j', MINIUPNPD_CHAINS.natPostrouting],
      [...ipt, '-N', MINIUPNPD_CHAINS.filter],
      [...ipt, '-A', 'FORWARD', '-i', wan, '!', '-o', wan, '-j', MINIUPNPD_CHAINS.filter],
      [...ipt, '-A', 'INPUT', '-i', wan, '-j', MINIUPNPD_CHAINS.filter],
    );
  }
  if (style === 'random') {
    // Only the LAN's connections: the router's own (miniupnpd's STUN test) must keep their ports.
    if (!lan) throw new InvalidLabOptions('a random-port NAT router needs its LAN segment');
    commands.push([...ipt, '-t', 'nat', '-A', 'POSTROUTING', '-s', formatCidr(lan), '-o', wan, '-j', 'MASQUERADE', '--random-fully']);
  } else {
    commands.push([...ipt, '-t', 'nat', '-A', 'POSTROUTING', '-o', wan, '-j', 'MASQUERADE']);
  }
  for (const chain of style === 'bare' ? ['FORWARD'] : ['INPUT', 'FORWARD']) {
    commands.push(
      [...ipt, '-A', chain, '-i', wan, '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'],
      [...ipt, '-A', chain, '-i', wan, '-j', 'DROP'],
    );
  }
  return commands;
}

/** miniupnpd's chain names (its defaults; the config names them too). */
export const MINIUPNPD_CHAINS = { nat: 'MINIUPNPD', natPostrouting: 'MINIUPNPD-POSTROUTING', filter: 'MINIUPNPD' } as const;

export interface MiniupnpdConfigInput {
  /** The router's private segment: only its hosts may map, and only their own address (secure mode). */
  readonly lan: Ipv4Cidr;
  readonly stunHost: string;
  readonly stunPort: number;
  readonly leaseFile: string;
  /** A UPnP UUID of its own per router. */
  readonly uuid: string;
}

/**
 * miniupnpd.conf of a router: UPnP IGD (SSDP on the LAN, HTTP on a random port), NAT-PMP and PCP
 * (UDP 5351 on the LAN address); the STUN test against the lab's server; mappings of ports
 * 1024–65535 of the LAN's own hosts only.
 */
export function miniupnpdConfig(input: MiniupnpdConfigInput): string {
  return [
    `ext_ifname=${ROUTER_LINKS.wan}`,
    `listening_ip=${ROUTER_LINKS.lan}`,
    'http_port=0',
    'enable_upnp=yes',
    'enable_natpmp=yes',
    'ext_perform_stun=yes',
    `ext_stun_host=${input.stunHost}`,
    `ext_stun_port=${input.stunPort}`,
    'secure_mode=yes',
    'system_uptime=no',
    `upnp_forward_chain=${MINIUPNPD_CHAINS.filter}`,
    `upnp_nat_chain=${MINIUPNPD_CHAINS.nat}`,
    `upnp_nat_postrouting_chain=${MINIUPNPD_CHAINS.natPostrouting}`,
    `lease_file=${input.leaseFile}`,
    `uuid=${input.uuid}`,
    `allow 1024-65535 ${formatCidr(input.lan)} 1024-65535`,
    'deny 0-65535 0.0.0.0/0 0-65535',
    '',
  ].join('\n');
}

/** miniupnpd in the foreground (-d: the lab supervises it, and it logs to stderr), with its own pidfile. */
export function miniupnpdArgs(configFile: string, pidFile: string): string[] {
  return ['miniupnpd', '-d', '-f', configFile, '-P', pidFile];
}

/** coturn as a bare STUN server answering from two addresses (RFC 5780: ports PORT and PORT+1 on each). */
export function stunServerArgs(ips: readonly string[], port: number, pidFile: string): string[] {
  return [
    'turnserver', '-n', '--stun-only', ...ips.flatMap((ip) => ['-L', ip]), '-p', String(port),
    '--no-cli', '--no-tls', '--no-dtls', '--log-file=stdout', '--simple-log', '--pidfile', pidFile,
  ];
}

/** A stable UUID for router R of a lab (UPnP devices need one). */
export function routerUuid(lab: string, r: number): string {
  const hex = createHash('sha256').update(`wgmesh-lab/${lab}/${routerName(r)}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
