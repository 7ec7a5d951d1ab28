import type { Endpoint__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/Endpoint';

/** What decides whether a member may relay: it offered to, and others can reach it directly. */
export interface RelayCandidate {
  readonly relayOffered?: boolean;
  readonly isBootstrap: boolean;
  readonly endpoints: readonly Endpoint__Output[];
}

/**
 * A relay must be reachable by nodes that cannot reach each other, so an offer counts only from
 * a member the bootstrap sees directly: its post-NAT address (observed by the bootstrap, or
 * reported by STUN) is one of its own interface addresses, or its endpoint is configured by the
 * operator or port-mapped on its router. The bootstrap itself is reachable by definition.
 */
export function relayGranted(member: RelayCandidate): boolean {
  if (!member.relayOffered) return false;
  if (member.isBootstrap) return true;
  if (member.endpoints.some((e) => e.kind === 'ENDPOINT_KIND_CONFIGURED' || e.kind === 'ENDPOINT_KIND_MAPPED')) return true;
  const own = new Set(member.endpoints.filter((e) => e.kind === 'ENDPOINT_KIND_LAN').map((e) => e.ip));
  const seen = member.endpoints.filter((e) => e.kind === 'ENDPOINT_KIND_OBSERVED' || e.kind === 'ENDPOINT_KIND_STUN');
  return seen.length > 0 && seen.every((e) => own.has(e.ip));
}

export interface RelayedPeer {
  readonly peer: string;
  readonly via: string;
}

/**
 * Which pairs of nodes talk through which relay, from the nodes' own reports (each heartbeat
 * carries the full list of its relayed peers). In memory only, like RTT: it is a measurement,
 * not membership. A pair counts once per relay whether one end or both report it. Each report
 * costs O(its length), never O(mesh).
 */
export class RelayedPairs {
  /** reporter -> its last report. */
  private readonly reports = new Map<string, readonly RelayedPeer[]>();
  /** relay -> "a|b" (sorted names) -> how many ends report the pair through it (1 or 2). */
  private readonly byRelay = new Map<string, Map<string, number>>();

  /** Replaces a node's report with its latest one. */
  report(reporter: string, relayed: readonly RelayedPeer[]): void {
    this.withdraw(reporter);
    const unique = [...new Map(relayed.filter((r) => r.peer !== reporter && r.via !== reporter && r.via !== r.peer).map((r) => [r.peer, r])).values()];
    if (unique.length === 0) return;
    this.reports.set(reporter, unique);
    for (const r of unique) {
      const pairs = this.byRelay.get(r.via) ?? new Map<string, number>();
      const key = pairKey(reporter, r.peer);
      pairs.set(key, (pairs.get(key) ?? 0) + 1);
      this.byRelay.set(r.via, pairs);
    }
  }

  /** A member left: its own report goes (others' reports naming it go with their next heartbeat). */
  forget(name: string): void {
    this.withdraw(name);
  }

  /** Pairs that currently route through `relay`. */
  pairsVia(relay: string): number {
    return this.byRelay.get(relay)?.size ?? 0;
  }

  /** Pairs through any relay (a pair through two relays, one per direction, counts for each). */
  total(): number {
    let n = 0;
    for (const pairs of this.byRelay.values()) n += pairs.size;
    return n;
  }

  private withdraw(reporter: string): void {
    const previous = this.reports.get(reporter);
    if (!previous) return;
    this.reports.delete(reporter);
    for (const r of previous) {
      const pairs = this.byRelay.get(r.via);
      if (!pairs) continue;
      const key = pairKey(reporter, r.peer);
      const left = (pairs.get(key) ?? 0) - 1;
      if (left > 0) pairs.set(key, left);
      else pairs.delete(key);
      if (pairs.size === 0) this.byRelay.delete(r.via);
    }
  }
}

function pairKey(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}
