import ipaddr from 'ipaddr.js';
import type { Answer, Question } from 'dns-packet';
import type { MeshNode, Netmap } from '../netmap/netmap.js';
import { cidrContains } from '../endpoints/endpoints.js';
import { parseServiceTag } from '../services.js';

/**
 * The mesh's names, answered from the node's own netmap (so they keep working while no bootstrap
 * answers): NODE.ZONE (A or AAAA), the reverse name of every mesh address (PTR), and
 * _SERVICE._tcp.ZONE / _SERVICE._udp.ZONE (SRV) for the `svc:` tags. Authoritative for ZONE and
 * for the mesh CIDR's reverse names; everything else is refused (no recursion).
 */

export const DNS_DEFAULTS = {
  port: 53,
  /** Short: a node's address changes rarely, but a re-joined node may get another. */
  ttlSeconds: 10,
} as const;

/** The default zone: MESH.internal (`.internal` is reserved for private use, ICANN 2024). */
export function defaultDnsDomain(meshName: string): string {
  return `${meshName}.internal`.toLowerCase();
}

/** A domain as given by the operator, checked and normalized (lower case, no trailing dot). */
export function normalizeDnsDomain(text: string): string {
  const domain = text.trim().toLowerCase().replace(/\.$/, '');
  const label = /^[a-z0-9_]([a-z0-9_-]*[a-z0-9])?$/;
  if (domain === '' || domain.length > 200 || !domain.split('.').every((l) => l.length <= 63 && label.test(l))) {
    throw new Error(`"${text}" is not a DNS domain: labels of letters, digits and '-' separated by dots, e.g. mymesh.internal`);
  }
  return domain;
}

export type Rcode = 'NOERROR' | 'NXDOMAIN' | 'REFUSED';

export interface ZoneAnswer {
  readonly rcode: Rcode;
  /** Authoritative: the name is ours (ZONE or a mesh reverse name). */
  readonly authoritative: boolean;
  readonly answers: Answer[];
  /** The zone's SOA with a negative answer (NXDOMAIN, or a name without this type), for caches. */
  readonly authorities: Answer[];
  /** Addresses of SRV targets. */
  readonly additionals: Answer[];
}

/** A service a node offers, from its tag `svc:NAME` = `port=P[,proto=tcp|udp][,k=v…]`. */
export interface ServiceRecord {
  readonly name: string;
  readonly port: number;
  readonly proto: 'tcp' | 'udp';
}

/**
 * The SRV view of a `svc:` tag (parsed by services.ts): its name as a DNS label, its port and
 * protocol (the service's `proto` tag, tcp by default); undefined for other tags, bad ones, and
 * names or protocols DNS cannot carry.
 */
export function serviceFromTag(key: string, value: string): ServiceRecord | undefined {
  let service;
  try {
    service = parseServiceTag(key, value);
  } catch {
    return undefined;
  }
  if (!service) return undefined;
  const name = service.name.toLowerCase();
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(name)) return undefined;
  const proto = (service.tags.proto ?? 'tcp').toLowerCase();
  if (proto !== 'tcp' && proto !== 'udp') return undefined;
  return { name, port: service.port, proto };
}

/**
 * What one netmap answers, as maps: built once, then kept in step with the netmap change by change
 * (NameIndex.follow), so every query is a lookup and a change costs its nodes, not the mesh.
 */
class NameIndex {
  readonly byName = new Map<string, MeshNode>();
  /** Canonical address text (ipaddr's toString) → node. */
  readonly byIp = new Map<string, MeshNode>();
  /** `_name._proto` → the nodes offering it and their ports (by node name and port). */
  private readonly offers = new Map<string, Map<string, { node: MeshNode; port: number }>>();
  /** `_tcp` / `_udp` → how many services are offered over it: names that exist without records. */
  private readonly parents = new Map<string, number>();

  constructor(netmap: Netmap) {
    for (const node of netmap.nodes.values()) this.add(node);
  }

  /** The nodes of these names changed from `before` to `after` (joined, left, or changed). */
  follow(before: Netmap, after: Netmap, names: Iterable<string>): void {
    for (const name of names) {
      const old = before.nodes.get(name);
      const now = after.nodes.get(name);
      if (old === now) continue;
      if (old) this.drop(old);
      if (now) this.add(now);
    }
  }

  services(owner: string): readonly { node: MeshNode; port: number }[] | undefined {
    const offers = this.offers.get(owner);
    return offers ? [...offers.values()] : undefined;
  }

  isServiceParent(name: string): boolean {
    return (this.parents.get(name) ?? 0) > 0;
  }

  private add(node: MeshNode): void {
    this.byName.set(node.name.toLowerCase(), node);
    const ip = canonicalIp(node.meshIp);
    if (ip) this.byIp.set(ip, node);
    for (const { owner, port } of servicesOf(node)) {
      let offers = this.offers.get(owner);
      if (!offers) {
        this.offers.set(owner, (offers = new Map()));
        const parent = parentOf(owner);
        this.parents.set(parent, (this.parents.get(parent) ?? 0) + 1);
      }
      offers.set(`${node.name} ${port}`, { node, port });
    }
  }

  private drop(node: MeshNode): void {
    const key = node.name.toLowerCase();
    if (this.byName.get(key) === node) this.byName.delete(key);
    const ip = canonicalIp(node.meshIp);
    if (ip && this.byIp.get(ip) === node) this.byIp.delete(ip);
    for (const { owner, port } of servicesOf(node)) {
      const offers = this.offers.get(owner);
      const key = `${node.name} ${port}`;
      if (!offers || offers.get(key)?.node !== node) continue;
      offers.delete(key);
      if (offers.size > 0) continue;
      this.offers.delete(owner);
      const parent = parentOf(owner);
      const left = (this.parents.get(parent) ?? 1) - 1;
      if (left > 0) this.parents.set(parent, left);
      else this.parents.delete(parent);
    }
  }
}

/** The services a node offers in DNS: none from a failed node. */
function servicesOf(node: MeshNode): { owner: string; port: number }[] {
  if (node.status === 'NODE_STATUS_FAILED') return [];
  const out: { owner: string; port: number }[] = [];
  for (const [key, value] of Object.entries(node.tags)) {
    const service = serviceFromTag(key, value);
    if (service) out.push({ owner: `_${service.name}._${service.proto}`, port: service.port });
  }
  return out;
}

function parentOf(owner: string): string {
  return owner.slice(owner.lastIndexOf('.') + 1);
}

function canonicalIp(text: string): string | undefined {
  try {
    return ipaddr.parse(text).toString();
  } catch {
    return undefined;
  }
}

/** The address a reverse name (in-addr.arpa / ip6.arpa) stands for; undefined when it is not one. */
export function addressOfReverseName(name: string): string | undefined {
  if (name.endsWith('.in-addr.arpa')) {
    const parts = name.slice(0, -'.in-addr.arpa'.length).split('.');
    if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255)) return undefined;
    return parts.reverse().join('.');
  }
  if (name.endsWith('.ip6.arpa')) {
    const nibbles = name.slice(0, -'.ip6.arpa'.length).split('.');
    if (nibbles.length !== 32 || !nibbles.every((n) => /^[0-9a-f]$/.test(n))) return undefined;
    const hex = nibbles.reverse().join('');
    return canonicalIp(hex.match(/.{4}/g)!.join(':'));
  }
  return undefined;
}

/** The reverse name of an address: 5.0.18.198.in-addr.arpa, or the ip6.arpa nibbles. */
export function reverseNameOf(ip: string): string {
  const addr = ipaddr.parse(ip);
  if (addr.kind() === 'ipv4') return `${addr.toByteArray().reverse().join('.')}.in-addr.arpa`;
  const hex = addr.toByteArray().map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${[...hex].reverse().join('.')}.ip6.arpa`;
}

export interface MeshZoneSource {
  /** The current netmap (replaced, never mutated, on each change). */
  netmap(): Netmap;
  /** The mesh CIDR, once joined: its reverse names are ours. */
  meshCidr(): string | undefined;
}

export class MeshZone {
  private indexed: { netmap: Netmap; index: NameIndex } | undefined;
  /** Times the index was built from every node (for tests of what a change costs). */
  builds = 0;

  constructor(private readonly source: MeshZoneSource, readonly domain: string, private readonly ttl: number = DNS_DEFAULTS.ttlSeconds) {}

  /** The answer to one question (names compared case-insensitively). */
  answer(question: Question): ZoneAnswer {
    const name = question.name.toLowerCase().replace(/\.$/, '');
    if (question.class !== 'IN' && question.class !== undefined) return refused();
    const reverse = addressOfReverseName(name);
    if (reverse !== undefined) return this.answerReverse(name, reverse, question.type);
    if (name === this.domain) return this.answerApex(question.type);
    if (!name.endsWith(`.${this.domain}`)) return refused();
    const relative = name.slice(0, -(this.domain.length + 1));
    const index = this.index();
    const node = index.byName.get(relative);
    if (node) return this.answerNode(node, name, question.type);
    const service = /^(_[a-z0-9-]+\._(tcp|udp))$/.exec(relative);
    const offers = service ? index.services(service[1]!) : undefined;
    if (offers) return this.answerService(name, offers, question.type);
    // _tcp.ZONE / _udp.ZONE hold no records but have names below them (empty non-terminals):
    // NODATA, not NXDOMAIN, which says nothing exists below (RFC 8020) and makes resolvers drop the services.
    if (index.isServiceParent(relative)) return { rcode: 'NOERROR', authoritative: true, answers: [], authorities: [this.soa()], additionals: [] };
    return { rcode: 'NXDOMAIN', authoritative: true, answers: [], authorities: [this.soa()], additionals: [] };
  }

  /**
   * A membership batch took the netmap from `before` to `after`, changing the nodes of `names`:
   * an index of `before` follows it (one built from another netmap is left to be rebuilt when asked).
   */
  follow(before: Netmap, after: Netmap, names: Iterable<string>): void {
    if (this.indexed?.netmap !== before) return;
    this.indexed.index.follow(before, after, names);
    this.indexed.netmap = after;
  }

  private index(): NameIndex {
    const netmap = this.source.netmap();
    if (this.indexed?.netmap !== netmap) {
      this.builds++;
      this.indexed = { netmap, index: new NameIndex(netmap) };
    }
    return this.indexed.index;
  }

  private addressRecords(node: MeshNode, name: string, type: string): Answer[] {
    const v6 = node.meshIp.includes(':');
    const want = v6 ? 'AAAA' : 'A';
    if (type !== want && type !== 'ANY') return [];
    return [{ type: want, name, ttl: this.ttl, class: 'IN', data: node.meshIp }];
  }

  private answerNode(node: MeshNode, name: string, type: string): ZoneAnswer {
    const answers = this.addressRecords(node, name, type);
    // NODATA (the name exists, not with this type): NOERROR without answers, the SOA for caches.
    return { rcode: 'NOERROR', authoritative: true, answers, authorities: answers.length === 0 ? [this.soa()] : [], additionals: [] };
  }

  private answerService(name: string, offers: readonly { node: MeshNode; port: number }[], type: string): ZoneAnswer {
    if (type !== 'SRV' && type !== 'ANY') return { rcode: 'NOERROR', authoritative: true, answers: [], authorities: [this.soa()], additionals: [] };
    const sorted = [...offers].sort((a, b) => (a.node.name < b.node.name ? -1 : a.node.name > b.node.name ? 1 : 0));
    const answers: Answer[] = sorted.map(({ node, port }) => ({
      type: 'SRV', name, ttl: this.ttl, class: 'IN', data: { priority: 0, weight: 1, port, target: `${node.name}.${this.domain}` },
    }));
    const additionals = sorted.flatMap(({ node }) => this.addressRecords(node, `${node.name}.${this.domain}`, 'ANY'));
    return { rcode: 'NOERROR', authoritative: true, answers, authorities: [], additionals };
  }

  private answerReverse(name: string, ip: string, type: string): ZoneAnswer {
    const cidr = this.source.meshCidr();
    if (!cidr || !cidrContains(cidr, ip)) return refused();
    const node = this.index().byIp.get(canonicalIp(ip) ?? ip);
    if (!node) return { rcode: 'NXDOMAIN', authoritative: true, answers: [], authorities: [], additionals: [] };
    if (type !== 'PTR' && type !== 'ANY') return { rcode: 'NOERROR', authoritative: true, answers: [], authorities: [], additionals: [] };
    return { rcode: 'NOERROR', authoritative: true, answers: [{ type: 'PTR', name, ttl: this.ttl, class: 'IN', data: `${node.name}.${this.domain}` }], authorities: [], additionals: [] };
  }

  private answerApex(type: string): ZoneAnswer {
    const answers = type === 'SOA' || type === 'ANY' ? [this.soa()] : [];
    return { rcode: 'NOERROR', authoritative: true, answers, authorities: answers.length === 0 ? [this.soa()] : [], additionals: [] };
  }

  /** The zone's SOA: its serial follows the membership revision. */
  private soa(): Answer {
    return {
      type: 'SOA', name: this.domain, ttl: this.ttl, class: 'IN',
      data: {
        mname: `ns.${this.domain}`, rname: `hostmaster.${this.domain}`,
        serial: this.source.netmap().revision % 2 ** 32,
        refresh: 60, retry: 30, expire: 600, minimum: this.ttl,
      },
    };
  }
}

function refused(): ZoneAnswer {
  return { rcode: 'REFUSED', authoritative: false, answers: [], authorities: [], additionals: [] };
}
