import { networkInterfaces } from 'node:os';
import ipaddr from 'ipaddr.js';
import type { Endpoint } from '../proto/index.js';

export function formatEndpoint(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** "host:port" or "[v6]:port" → parts; throws with the offending text otherwise. */
export function parseHostPort(value: string, defaultPort?: number, minPort = 1): { host: string; port: number } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(value);
  let host: string;
  let portText: string | undefined;
  if (v6) {
    host = v6[1]!;
    portText = v6[2];
  } else {
    const idx = value.lastIndexOf(':');
    if (idx >= 0 && value.indexOf(':') === idx) {
      host = value.slice(0, idx);
      portText = value.slice(idx + 1);
    } else {
      host = value;
    }
  }
  const port = portText === undefined ? defaultPort : Number(portText);
  if (!host || port === undefined || !Number.isInteger(port) || port < minPort || port > 65535) {
    throw new Error(`"${value}" is not HOST:PORT (port ${minPort}-65535)`);
  }
  return { host, port };
}

/**
 * Why no peer could use `ip` as this node's WireGuard endpoint, or undefined when one could. The
 * bootstrap refuses these in Join and Update (every node's `wg set` would fail, or send to
 * itself), so discovery never advertises them. IPv4-mapped IPv6 (::ffff:127.0.0.1) is judged as
 * the IPv4 address it carries. Not a syntax check: text that is no IP at all gets undefined.
 */
export function endpointAddressProblem(ip: string): string | undefined {
  if (ip.includes('%')) return 'has an IPv6 zone ID (%...): it names an interface on the sender, which means nothing to peers';
  if (!ipaddr.isValid(ip)) return undefined;
  const parsed = ipaddr.parse(ip);
  const mapped = parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress();
  const addr = mapped ? (parsed as ipaddr.IPv6).toIPv4Address() : parsed;
  const as = mapped ? ` (IPv4-mapped ${addr.toString()})` : '';
  switch (addr.range()) {
    case 'unspecified': return `is the unspecified address${as}, not a destination`;
    case 'broadcast': return `is the broadcast address${as}, not one host`;
    case 'multicast': return `is a multicast address${as}, not one host`;
    case 'loopback': return `is a loopback address${as}: every peer would send to itself`;
    // IPv4 link-local (169.254/16) needs no zone, so it is usable on the link; IPv6 link-local is not without one.
    case 'linkLocal': return addr.kind() === 'ipv6' ? 'is an IPv6 link-local address (fe80::/10), unusable without a zone ID' : undefined;
    default: return undefined;
  }
}

/** An IPv4-mapped IPv6 address as its IPv4 address; any other IP unchanged. */
export function unmapIp(ip: string): string {
  if (!ip.includes(':') || !ipaddr.isValid(ip)) return ip;
  const parsed = ipaddr.IPv6.parse(ip);
  return parsed.isIPv4MappedAddress() ? parsed.toIPv4Address().toString() : ip;
}

/**
 * This machine's own addresses as LAN endpoint candidates: every address a peer could use (see
 * endpointAddressProblem), except IPv4 link-local ones and those inside the mesh itself (they are
 * only reachable through the mesh).
 */
export function lanEndpoints(listenPort: number, exclude: (ip: string) => boolean = () => false, interfaces = networkInterfaces()): Endpoint[] {
  const out: Endpoint[] = [];
  for (const [name, addrs] of Object.entries(interfaces)) {
    if (name.startsWith('wg')) continue;
    for (const addr of addrs ?? []) {
      if (addr.internal) continue;
      const facts = addressFacts(addr.address);
      if (facts.problem !== undefined) continue;
      if (addr.family === 'IPv4' && addr.address.startsWith('169.254.')) continue;
      if (exclude(addr.address) || (facts.unmapped !== addr.address && exclude(facts.unmapped))) continue;
      out.push({ ip: addr.address, port: listenPort, kind: 'ENDPOINT_KIND_LAN' });
    }
  }
  return out;
}

/** Whether `ip` is inside `cidr` (same family only); false when either does not parse. */
export function cidrContains(cidr: string, ip: string): boolean {
  try {
    const [network, bits] = parsedCidr(cidr);
    const addr = ipaddr.parse(ip);
    return addr.kind() === network.kind() && addr.match(network, bits);
  } catch {
    return false;
  }
}

/**
 * What lanEndpoints asks of each address, kept per address text: a node asks before every
 * heartbeat (every 5 s), for the same few addresses, and parsing them each time was most of a
 * resting node's heartbeat work. Bounded: a host whose addresses keep changing starts over.
 */
const ADDRESS_FACTS_MAX = 256;
const addressFactsMemo = new Map<string, { readonly problem: string | undefined; readonly unmapped: string }>();

function addressFacts(address: string): { readonly problem: string | undefined; readonly unmapped: string } {
  let facts = addressFactsMemo.get(address);
  if (!facts) {
    if (addressFactsMemo.size >= ADDRESS_FACTS_MAX) addressFactsMemo.clear();
    facts = { problem: endpointAddressProblem(address), unmapped: unmapIp(address) };
    addressFactsMemo.set(address, facts);
  }
  return facts;
}

/** The last CIDR parsed (a node asks about its mesh's, over and over); throws as ipaddr.parseCIDR does. */
let lastCidr: { readonly text: string; readonly parsed: [ipaddr.IPv4 | ipaddr.IPv6, number] } | undefined;

function parsedCidr(cidr: string): [ipaddr.IPv4 | ipaddr.IPv6, number] {
  if (lastCidr?.text !== cidr) lastCidr = { text: cidr, parsed: ipaddr.parseCIDR(cidr) };
  return lastCidr.parsed;
}
