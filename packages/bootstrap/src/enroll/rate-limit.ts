import { TooManyBadTokens } from '../errors.js';
import type { Clock } from '../members/table.js';

export interface BadTokenLimits {
  /** Bad tokens allowed per source address within windowMs; the next is refused until the oldest ages out. */
  readonly max: number;
  readonly windowMs: number;
  /** Sources remembered at once; past this the oldest is forgotten (memory stays bounded). */
  readonly sourcesMax: number;
}

export const BAD_TOKEN_LIMITS: BadTokenLimits = { max: 5, windowMs: 60_000, sourcesMax: 10_000 };

/** The address part of a gRPC peer ("192.0.2.7:41234", "[2001:db8::1]:5000", "ipv4:…"). */
export function sourceAddress(peer: string): string {
  const bare = peer.replace(/^ipv[46]:/, '');
  const v6 = /^\[([^\]]+)\]/.exec(bare);
  if (v6) return v6[1]!;
  const colon = bare.lastIndexOf(':');
  return colon > 0 && bare.indexOf(':') === colon ? bare.slice(0, colon) : bare;
}

/** Counts bad tokens per source address in a sliding window: guessing tokens costs time. */
export class BadTokenLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly clock: Clock, private readonly limits: BadTokenLimits = BAD_TOKEN_LIMITS) {}

  /** TooManyBadTokens (with when to retry) when `source` has used up its bad tokens. */
  check(source: string): void {
    const now = this.clock.now();
    const recent = this.recent(source, now);
    if (recent.length >= this.limits.max) throw new TooManyBadTokens(source, recent[0]! + this.limits.windowMs - now);
  }

  /** Records one bad token from `source`. */
  fail(source: string): void {
    const now = this.clock.now();
    const recent = this.recent(source, now);
    this.failures.delete(source);
    this.failures.set(source, [...recent, now]);
    if (this.failures.size > this.limits.sourcesMax) this.failures.delete(this.failures.keys().next().value!);
  }

  private recent(source: string, now: number): number[] {
    return (this.failures.get(source) ?? []).filter((t) => t > now - this.limits.windowMs);
  }
}
