/**
 * Pure planning of a lab: names, addresses, paths and the command each host runs. Everything
 * the lab creates is derived here from (lab name, host index), so teardown can find it again.
 */
import { join } from 'node:path';
import { LAB_DEFAULTS, MAX_HOSTS, MAX_LAB_NAME, MAX_MESH_NAME } from './constants.js';
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

export function validateHostCount(n: number, underlay: Ipv4Cidr): number {
  const max = Math.min(MAX_HOSTS, cidrHostCount(underlay));
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new InvalidLabOptions(`the number of hosts must be between 1 and ${max}, not ${n}`);
  }
  return n;
}

export function hostName(k: number): string {
  return `h${k}`;
}

/** 3 for "h3"; undefined for anything that is not a host name. */
export function hostIndex(name: string): number | undefined {
  const match = /^h([1-9]\d{0,2})$/.exec(name);
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
  /** True for the namespaces this lab creates, e.g. when scanning `ip netns list`. */
  owns(netns: string): boolean;
}

export function labNames(lab: string): LabNames {
  validateLabName(lab);
  return {
    netns: (k) => `${lab}-${hostName(k)}`,
    switchNetns: `${lab}-sw`,
    bridge: `${lab}-br`,
    switchPort: (k) => `${lab}-${hostName(k)}`,
    owns: (netns) => netns === `${lab}-sw` || (netns.startsWith(`${lab}-`) && hostIndex(netns.slice(lab.length + 1)) !== undefined),
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
  };
}

export interface NodeCommandPlan {
  readonly mesh: string;
  readonly cidr: Ipv4Cidr;
  readonly underlay: Ipv4Cidr;
  readonly bootstrapPort: number;
  /** Appended to h1's `bootstrap` command line (e.g. `-reap-after 5s`). */
  readonly bootstrapArgs?: readonly string[];
  /** Appended to every other host's `join` command line (e.g. `-heartbeat 1s`). */
  readonly joinArgs?: readonly string[];
}

/**
 * h1 bootstraps the mesh (taking the CIDR's first address); every other host joins through h1.
 * Extra flags come last, so they can also override the lab's own (Go-style flags: the last wins).
 */
export function nodeArgs(plan: NodeCommandPlan, k: number): string[] {
  if (k === 1) {
    return [
      'bootstrap', '-dev',
      '-n', plan.mesh,
      '-cidr', formatCidr(plan.cidr),
      '-ip', hostAddress(plan.cidr, 1),
      '-grpc-bind-port', String(plan.bootstrapPort),
      '-node-name', hostName(k),
      ...(plan.bootstrapArgs ?? []),
    ];
  }
  return [
    'join', '-dev',
    '-n', plan.mesh,
    '-bootstrap-addr', `${hostAddress(plan.underlay, 1)}:${plan.bootstrapPort}`,
    '-node-name', hostName(k),
    ...(plan.joinArgs ?? []),
  ];
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
