import ipaddr from 'ipaddr.js';
import { ConfigError, RangeExhausted } from '../errors.js';

/** A prefix as numbers, IPv4 and IPv6 alike. */
export interface Prefix {
  readonly text: string;
  readonly family: 4 | 6;
  readonly network: bigint;
  readonly bits: number;
  readonly size: bigint;
}

export function parsePrefix(text: string, what = 'CIDR'): Prefix {
  let parsed: [ipaddr.IPv4 | ipaddr.IPv6, number];
  try {
    // isIp refuses the legacy spellings ipaddr.js accepts (10.232/16, octal 010.…, hex 0x0a.…), which mean other networks.
    if (!isIp(text.slice(0, text.lastIndexOf('/')))) throw new Error('not an address');
    parsed = ipaddr.parseCIDR(text);
  } catch {
    throw new ConfigError(`${what} "${text}" is not a network in CIDR form like 10.232.0.0/16 or fd00:232::/64`);
  }
  const [addr, bits] = parsed;
  const family = addr.kind() === 'ipv4' ? 4 : 6;
  const total = family === 4 ? 32 : 128;
  const size = 1n << BigInt(total - bits);
  const network = (ipToBigInt(addr.toString()) / size) * size;
  return { text: `${bigIntToIp(network, family)}/${bits}`, family, network, bits, size };
}

export function ipToBigInt(ip: string): bigint {
  const bytes = ipaddr.parse(ip).toByteArray();
  return bytes.reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
}

export function bigIntToIp(value: bigint, family: 4 | 6): string {
  const length = family === 4 ? 4 : 16;
  const bytes: number[] = [];
  for (let i = length - 1; i >= 0; i--) bytes.push(Number((value >> BigInt(i * 8)) & 0xffn));
  return ipaddr.fromByteArray(bytes).toString();
}

export function isIp(value: string): boolean {
  return ipaddr.isValid(value) && (ipaddr.IPv4.isValidFourPartDecimal(value) || value.includes(':'));
}

export function prefixContains(prefix: Prefix, ip: string): boolean {
  if (!isIp(ip)) return false;
  const family = ip.includes(':') ? 6 : 4;
  if (family !== prefix.family) return false;
  const n = ipToBigInt(ip);
  return n >= prefix.network && n < prefix.network + prefix.size;
}

/**
 * Hands out mesh IPs from a range inside the mesh CIDR. Never the network or broadcast address
 * of the mesh CIDR, never one already in use. Pure: the caller passes the addresses in use, and
 * serializes calls (the member table does), so concurrent joins cannot get the same IP.
 */
export class Ipam {
  readonly cidr: Prefix;
  readonly range: Prefix;

  constructor(cidr: string, ipamRange?: string) {
    this.cidr = parsePrefix(cidr, '-cidr');
    this.range = ipamRange ? parsePrefix(ipamRange, '-cidr-ipam') : this.cidr;
    if (this.range.family !== this.cidr.family || this.range.network < this.cidr.network ||
        this.range.network + this.range.size > this.cidr.network + this.cidr.size) {
      throw new ConfigError(`-cidr-ipam ${this.range.text} must lie inside -cidr ${this.cidr.text}`);
    }
    // Room for the bootstrap and one more node besides the reserved addresses.
    if (this.cidr.family === 4 && this.cidr.bits > 30) {
      throw new ConfigError(`-cidr ${this.cidr.text} is too small for a mesh; use /30 or larger (e.g. /16)`);
    }
    if (this.cidr.family === 6 && this.cidr.bits > 126) {
      throw new ConfigError(`-cidr ${this.cidr.text} is too small for a mesh; use /126 or larger (e.g. /64)`);
    }
  }

  /** The mesh prefix length, for the interface address. */
  get prefixLength(): number {
    return this.cidr.bits;
  }

  /** True when ip may be given to a node: inside the mesh CIDR and not its network/broadcast address. */
  isAssignable(ip: string): boolean {
    return prefixContains(this.cidr, ip) && !this.isReserved(ipToBigInt(ip));
  }

  /**
   * `ip` in its canonical form when this IPAM may hand it out (inside its range, not the CIDR's
   * network or broadcast address); undefined for anything else, text that is no address included.
   */
  allocatable(ip: string): string | undefined {
    // Text from the wire: longer than any address (45 characters for IPv6) is not parsed at all.
    if (ip.length > 45 || !prefixContains(this.range, ip)) return undefined;
    const n = ipToBigInt(ip);
    return this.isReserved(n) ? undefined : bigIntToIp(n, this.cidr.family);
  }

  /** The mesh CIDR's network address, and its broadcast address for IPv4. */
  isReserved(n: bigint): boolean {
    return n === this.cidr.network || (this.cidr.family === 4 && n === this.cidr.network + this.cidr.size - 1n);
  }

  /**
   * Every assignable address of the range not in `inUse`, lowest first: the candidates a shared
   * store tries in turn (another bootstrap may take one between our look and our transaction).
   */
  *free(inUse: ReadonlySet<string>): Generator<string> {
    const last = this.range.network + this.range.size - 1n;
    for (let n = this.range.network; n <= last; n++) {
      if (this.isReserved(n)) continue;
      const ip = bigIntToIp(n, this.cidr.family);
      if (!inUse.has(ip)) yield ip;
    }
  }

  /** The lowest free assignable address in the range; RangeExhausted when there is none. */
  allocate(inUse: ReadonlySet<string>): string {
    const first = this.range.network;
    const last = this.range.network + this.range.size - 1n;
    // A scan, bounded by the number of addresses in use: at most inUse.size + 3 candidates are skipped.
    const limit = BigInt(inUse.size) + 3n;
    let skipped = 0n;
    // The range lies inside the CIDR (checked at construction): a candidate only has to be unreserved and free.
    for (let n = first; n <= last; n++) {
      if (!this.isReserved(n)) {
        const ip = bigIntToIp(n, this.cidr.family);
        if (!inUse.has(ip)) return ip;
      }
      if (++skipped > limit) break;
    }
    throw new RangeExhausted(this.range.text);
  }
}

/**
 * The addresses in use and who holds each, kept up to date as members come and go, so that the
 * lowest free address is found without looking at every member (Ipam.allocate scans past every
 * address in use below the first free one: O(n) per join in a mesh filled from the bottom).
 *
 * A cursor walks up the range: every assignable address below it is in use or in `holes`, a
 * min-heap of the addresses freed below it. The lowest free address is the smallest hole still
 * free, else the first address at or past the cursor that is free. Each address is passed by the
 * cursor once and pushed as a hole once per release, so a lookup costs O(log n) amortized. The
 * answer is the same as Ipam.allocate's: lowest free first, holes of departed nodes filled first.
 */
export class AddressPool {
  private readonly holders = new Map<string, string>();
  private cursor: bigint;
  private readonly last: bigint;
  private readonly holes = new MinHeap();

  constructor(private readonly ipam: Ipam) {
    this.cursor = ipam.range.network;
    this.last = ipam.range.network + ipam.range.size - 1n;
  }

  /** The name holding `ip`, if any. */
  holder(ip: string): string | undefined {
    return this.holders.get(ip);
  }

  /** Every address in use (a live view). */
  inUse(): IterableIterator<string> {
    return this.holders.keys();
  }

  get size(): number {
    return this.holders.size;
  }

  take(ip: string, name: string): void {
    this.holders.set(ip, name);
  }

  /** Frees `ip` if `name` holds it (a member that moved on no longer does). */
  release(ip: string, name: string): void {
    if (this.holders.get(ip) !== name) return;
    this.holders.delete(ip);
    if (!prefixContains(this.ipam.range, ip)) return;
    const n = ipToBigInt(ip);
    if (n < this.cursor && !this.ipam.isReserved(n)) this.holes.push(n);
  }

  clear(): void {
    this.holders.clear();
    this.holes.clear();
    this.cursor = this.ipam.range.network;
  }

  /** The lowest free assignable address of the range (not taken: take() it once it is used); RangeExhausted when there is none. */
  lowestFree(): string {
    const family = this.ipam.cidr.family;
    for (let hole = this.holes.peek(); hole !== undefined; hole = this.holes.peek()) {
      const ip = bigIntToIp(hole, family);
      if (!this.holders.has(ip)) return ip;
      this.holes.pop();
    }
    for (; this.cursor <= this.last; this.cursor++) {
      if (this.ipam.isReserved(this.cursor)) continue;
      const ip = bigIntToIp(this.cursor, family);
      if (!this.holders.has(ip)) return ip;
    }
    throw new RangeExhausted(this.ipam.range.text);
  }
}

/** A binary min-heap of addresses. */
class MinHeap {
  private readonly items: bigint[] = [];

  peek(): bigint | undefined {
    return this.items[0];
  }

  clear(): void {
    this.items.length = 0;
  }

  push(value: bigint): void {
    const items = this.items;
    let i = items.push(value) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent]! <= value) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = value;
  }

  pop(): bigint | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= items.length) break;
      const right = left + 1;
      const child = right < items.length && items[right]! < items[left]! ? right : left;
      if (items[child]! >= last) break;
      items[i] = items[child]!;
      i = child;
    }
    items[i] = last;
    return top;
  }
}
