/**
 * RTT through the tunnels: after a few seconds `wgmesh rtt -json` on h1 has the whole matrix
 * (every ordered pair of nodes, answered probes), and each value is within 2x of what `ping`
 * measures between the same namespaces over the mesh. Medians both, taken over the same seconds:
 * wgmesh reports the median of its last 30 probes (10 s), and ping's average of a few replies is
 * moved far by one slow one.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { labDown, labUp, type LabState } from '@wgmesh/cli/lab';
import type { RttResponse__Output } from '@wgmesh/agent';
import { median } from '../helpers/stats.js';
import { cliRtt, e2eWgmeshCommand, labSkipReason, meshIps, pingTimes, pingUntil } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';

const LAB = 'wgrtt';
const skip = await labSkipReason({ wireguard: true });
/** The allowed ratio between the RTT wgmesh reports and ping's median, either way. */
const RATIO = 2;
/**
 * Values below this count as this much before the ratio is taken: sub-millisecond RTTs
 * between namespaces on one machine are mostly scheduling noise.
 */
const FLOOR_MS = 0.3;
/**
 * The coarse guard, checked first so that a gross error reads as one: wgmesh's value and ping's
 * average differ by at most this much (a unit slip, a timed-out probe counted as an RTT, a
 * start-up outlier left in the window). The bound is the next test.
 */
const NEAR_MS = 5;
/** Every pair is pinged this long (5 a second), all at once, while the matrix is read. */
const PING_SECONDS = 40;
/** Readings of the matrix: the first once wgmesh's windows (10 s) lie inside the pings, then every 5 s. */
const FIRST_READING_MS = 10_000;
const READING_EVERY_MS = 5_000;

interface Compared {
  readonly pair: string;
  /** The median of the matrix's readings of the pair. */
  readonly rttMs: number;
  readonly readings: readonly number[];
  /** The median of ping's replies, or undefined when none came. */
  readonly pingMs: number | undefined;
}

/**
 * Every pair's ping runs through the same seconds, and the matrix is read every few seconds
 * meanwhile: a pair's ping figure is the median of its replies, its wgmesh figure the median of
 * the readings. On this shared machine one 10-second stretch can be twice as slow as the next,
 * so figures taken in different seconds (pair by pair, say) differ by more than 2x for ping itself.
 */
async function measure(lab: LabState, pairs: readonly { from: string; to: string }[]): Promise<Compared[]> {
  const ips = meshIps(lab);
  const pinging = Promise.all(pairs.map((p) => pingTimes(lab, p.from, ips.get(p.to)!, PING_SECONDS * 5, 0.2)));
  pinging.catch(() => undefined); // awaited below; a failed ping is reported there
  const readings = new Map<string, number[]>();
  const startedMs = Date.now();
  for (let atMs = FIRST_READING_MS; atMs <= PING_SECONDS * 1000; atMs += READING_EVERY_MS) {
    await delay(Math.max(0, startedMs + atMs - Date.now()));
    for (const r of (await cliRtt(lab, 'h1')).rows) {
      const pair = `${r.from}>${r.to}`;
      readings.set(pair, [...(readings.get(pair) ?? []), r.rttMs]);
    }
  }
  const replies = await pinging;
  return pairs.map((p, i) => {
    const pair = `${p.from}>${p.to}`;
    const read = readings.get(pair) ?? [];
    return { pair, rttMs: median(read), readings: read, pingMs: replies[i]!.length > 0 ? median(replies[i]!) : undefined };
  });
}

function tableOf(compared: readonly Compared[]): string {
  return compared.map((c) => `${c.pair} wgmesh ${c.rttMs.toFixed(3)} ms (${c.readings.map((v) => v.toFixed(3)).join(' ')}), ping ${c.pingMs?.toFixed(3) ?? 'none'} ms`).join('; ');
}

function outsideRatio(compared: readonly Compared[]): string[] {
  return compared.filter((c) => c.pingMs === undefined || !withinRatio(c.rttMs, c.pingMs)).map((c) => c.pair);
}

function withinRatio(a: number, b: number): boolean {
  const x = Math.max(a, FLOOR_MS);
  const y = Math.max(b, FLOOR_MS);
  return Math.max(x, y) <= RATIO * Math.min(x, y);
}

describe('the RTT matrix of a 4-node lab', { skip: skip ?? false }, () => {
  let lab: LabState;
  let matrix: RttResponse__Output;
  let compared: Compared[] = [];

  before(async () => {
    await labDown({ name: LAB });
    lab = (await labUp({ name: LAB, hosts: 4, mesh: 'rtt', wgmeshCommand: e2eWgmeshCommand(), readyTimeoutMs: 60_000 })).lab;
  });

  after(async () => {
    await labDown({ name: LAB });
  });

  test('wgmesh rtt -json on h1 has every ordered pair of nodes, with answered probes', async (t) => {
    const names = lab.hosts.map((h) => h.name);
    const pairs = names.flatMap((from) => names.filter((to) => to !== from).map((to) => `${from}>${to}`));
    let missing: string[] = pairs;
    // Each node reports its samples with its heartbeat (every 5 s), so this takes a few seconds.
    matrix = await waitFor('a complete RTT matrix on h1', async () => {
      const m = await cliRtt(lab, 'h1');
      const have = new Set(m.rows.filter((r) => r.loss < 1 && r.rttMs > 0).map((r) => `${r.from}>${r.to}`));
      missing = pairs.filter((p) => !have.has(p));
      return missing.length === 0 ? m : undefined;
    }, 30_000, 500).catch((err: Error) => assert.fail(`${err.message}; missing: ${missing.join(', ')}`));
    assert.deepEqual([...matrix.nodes].sort(), names);
    assert.deepEqual(matrix.rows.filter((r) => r.from === r.to), [], 'no node measures itself');
    assert.equal(matrix.partial, false);
    // A joiner asks the bootstrap for the other nodes' rows: the same complete matrix.
    const onJoiner = await waitFor('a complete RTT matrix on h2', async () => {
      const m = await cliRtt(lab, 'h2');
      return m.rows.filter((r) => r.loss < 1 && r.rttMs > 0).length === pairs.length ? m : undefined;
    }, 10_000, 500);
    assert.equal(onJoiner.partial, false);
    t.diagnostic(matrix.rows.map((r) => `${r.from}>${r.to} ${r.rttMs.toFixed(3)} ms loss ${r.loss}`).join(', '));
  });

  test('every value is close to ping between the same namespaces', async (t) => {
    assert.ok(matrix, 'the matrix was read by the previous test');
    const ips = meshIps(lab);
    for (const row of matrix.rows) await pingUntil(lab, row.from, ips.get(row.to)!, 10_000);
    compared = await measure(lab, matrix.rows);
    t.diagnostic(tableOf(compared));
    assert.deepEqual(compared.filter((c) => c.pingMs === undefined).map((c) => c.pair), [], 'ping got answers for every pair');
    const far = compared.filter((c) => Math.abs(c.rttMs - c.pingMs!) > NEAR_MS);
    assert.deepEqual(far.map((c) => c.pair), [], `more than ${NEAR_MS} ms from ping: ${tableOf(compared)}`);
  });

  test(`every value is within ${RATIO}x of ping's median (values under ${FLOOR_MS} ms count as ${FLOOR_MS} ms)`, async (t) => {
    assert.ok(compared.length > 0, 'measured by the previous test');
    if (outsideRatio(compared).length === 0) return;
    // Once, the whole matrix is measured again: on this shared 2-vCPU VM a node's process is at
    // times slowed for 20 s or more while ping, answered by the kernel, is not (seen with the
    // host busy, and with real-time CPU hogs on both cores: one pair of 12 at 2.4x in a quarter
    // of the runs). A bias of the method fails both windows; a slow stretch rarely hits both.
    t.diagnostic(`outside ${RATIO}x in the first window: ${outsideRatio(compared).join(', ')}; measuring again`);
    const again = await measure(lab, matrix.rows);
    t.diagnostic(tableOf(again));
    assert.deepEqual(outsideRatio(again), [], `outside ${RATIO}x (floor ${FLOOR_MS} ms) when measured again: ${tableOf(again)}; the first time: ${tableOf(compared)}`);
  });
});
