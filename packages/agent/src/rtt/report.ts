import type { RttSample__Output } from '../proto/index.js';

/**
 * RTT samples one Update carries at most; the bootstrap refuses more. A node reports a large
 * mesh a part at a time: 256 samples with the longest node names (63 characters) take about
 * 22 KB, so the largest possible Update stays well within the bootstrap's 64 KiB message limit
 * (a test encodes one), where every peer of a 2,000-node mesh at once would not.
 */
export const RTT_SAMPLES_PER_REPORT = 256;

/** A sub-millisecond RTT that moved by this factor (and 0.1 ms) is reported at the next heartbeat. */
const SUB_MS_NEWS_FACTOR = 1.25;

/** Even unchanged, a peer's RTT sample is re-reported this often. */
export const RTT_REPORT_MAX_AGE_MS = 60_000;

export interface RttReport {
  readonly at: number;
  readonly samples: RttSample__Output[];
  /** False while the samples rest on the first few probes after a start or a new peer. */
  readonly windowsFull: boolean;
}

/** One peer's sample as the bootstrap holds it: as last reported, when, and from full windows or not. */
interface Reported {
  readonly sample: RttSample__Output;
  readonly at: number;
  readonly windowsFull: boolean;
}

/**
 * How urgent a due sample is, most urgent first: never reported (the bootstrap has nothing for
 * that peer); news (moved noticeably, or the last figure rested on the first few probes and the
 * windows have filled since); aged (unchanged, but last reported RTT_REPORT_MAX_AGE_MS ago).
 */
const Due = { New: 0, News: 1, Aged: 2 } as const;
type Due = (typeof Due)[keyof typeof Due];

/**
 * Whether a sample goes out: the first one for a peer; then when it moved noticeably, when the
 * last report rested on the first few probes (taken while the node and its peers were starting)
 * and the windows have filled since, or after RTT_REPORT_MAX_AGE_MS.
 */
function due(last: Reported | undefined, sample: RttSample__Output, at: number, windowsFull: boolean): Due | undefined {
  if (!last) return Due.New;
  if (sampleMoved(last.sample, sample) || (!last.windowsFull && windowsFull)) return Due.News;
  if (at - last.at >= RTT_REPORT_MAX_AGE_MS) return Due.Aged;
  return undefined;
}

/**
 * What an agent's heartbeats report of its RTT samples. The bootstrap merges reports by peer, so
 * each Update carries only the samples that are due, at most `max` of them, the most urgent (and
 * then the longest unreported) first; the rest go out at the following heartbeats. A report
 * counts as held by the bootstrap only once its Update succeeded (`sent`).
 */
export class RttReporter {
  private readonly reported = new Map<string, Reported>();

  constructor(private readonly max = RTT_SAMPLES_PER_REPORT) {}

  /** The report for the next Update; an empty one means "no news". */
  next(at: number, samples: readonly RttSample__Output[], windowsFull: boolean, all = false): RttReport {
    // A peer no longer probed is no longer a member: the bootstrap drops its figures, so if it
    // comes back it is new again.
    const current = new Set(samples.map((s) => s.peer));
    for (const peer of this.reported.keys()) if (!current.has(peer)) this.reported.delete(peer);
    const candidates: { sample: RttSample__Output; due: Due; since: number }[] = [];
    for (const sample of samples) {
      const last = this.reported.get(sample.peer);
      // `all`: fresh figures were asked for; their measurement times are the news.
      const why = due(last, sample, at, windowsFull) ?? (all ? Due.Aged : undefined);
      if (why !== undefined) candidates.push({ sample, due: why, since: last?.at ?? 0 });
    }
    if (candidates.length > this.max) candidates.sort((a, b) => a.due - b.due || a.since - b.since);
    return { at, samples: candidates.slice(0, this.max).map((c) => c.sample), windowsFull };
  }

  /** The Update carrying `report` succeeded: the bootstrap holds these samples now. */
  sent(report: RttReport): void {
    for (const sample of report.samples) this.reported.set(sample.peer, { sample, at: report.at, windowsFull: report.windowsFull });
  }
}

/** Whether any sample of `next` would be reported after `last` had been (the rule `RttReporter` applies per peer). */
export function rttReportDue(last: RttReport | undefined, next: RttReport): boolean {
  if (!last) return true;
  const before = new Map(last.samples.map((sample) => [sample.peer, { sample, at: last.at, windowsFull: last.windowsFull }]));
  return next.samples.some((s) => due(before.get(s.peer), s, next.at, next.windowsFull) !== undefined);
}

/** True when a new set of samples differs enough from the last report to be sent again (the bootstrap keeps reports outside the membership). */
export function rttMoved(previous: readonly RttSample__Output[], next: readonly RttSample__Output[]): boolean {
  if (previous.length !== next.length) return true;
  const before = new Map(previous.map((s) => [s.peer, s]));
  return next.some((s) => {
    const p = before.get(s.peer);
    return !p || sampleMoved(p, s);
  });
}

/** True when one peer's figure moved enough to be news. */
function sampleMoved(p: RttSample__Output, s: RttSample__Output): boolean {
  if (Math.abs(s.loss - p.loss) >= 0.1 || (s.loss >= 1) !== (p.loss >= 1)) return true;
  const delta = Math.abs(s.rttMs - p.rttMs);
  const [low, high] = [Math.min(p.rttMs, s.rttMs), Math.max(p.rttMs, s.rttMs)];
  // By 0.5 ms and 20 %, or by 0.1 ms and a factor of 1.25: on sub-millisecond links a reported
  // figure is not left off by up to 0.5 ms (several times the RTT) for a minute. (1.5 left the
  // matrix 1.5x off its nodes' own figures for as long on a busy host.)
  return (delta > 0.5 && delta > 0.2 * high) || (delta > 0.1 && high > SUB_MS_NEWS_FACTOR * low);
}
