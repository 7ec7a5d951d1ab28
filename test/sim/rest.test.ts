/**
 * A node with 200 peers at rest costs under 1 % of a core, the median of five 6-s parts of a
 * 30-s window after 10 s at rest (test/helpers/rest-sim.ts: one agent in this process with real
 * timers and a real prober in rest mode, in-memory WireGuard; the bootstrap in a child process, so
 * its answers to the heartbeats and its liveness passes are not counted as the node's),
 * and no timer fires for nothing: the timer callbacks of all its parts together stay under
 * MAX_TIMER_CALLBACKS_PER_S, and the prober wakes at most once a second (its rest probes, about 7 a
 * second for 200 peers, go in batches).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { measureRestingNode } from '../helpers/rest-sim.js';

const PEERS = 200;
/**
 * Five parts of 6 s: the median part is the figure (see measureRestingNode). With the bootstrap in
 * this process a single part read anywhere from 0.37 to 2.69 % on this shared 2-core machine. Out of
 * it, ten 6-s parts at load average 11 read 0.27-0.43 %, and one 1.71 %: a major garbage collection
 * (V8's helper threads marking in parallel) or a compilation lands in a part now and then; one or
 * two such parts do not move a median of five.
 */
const WINDOW_MS = 30_000;
const WINDOWS = 5;
/** At rest this long before the window (see measureRestingNode): the steady state is measured. */
const SETTLE_MS = 10_000;
/** The issue's bound: 1 % of a core. */
const MAX_CPU_FRACTION = 0.01;
/**
 * Every part's timers together, at rest: a heartbeat every 5 s, a relay/traffic review every 5 s,
 * the 30 s full reconcile and the prober's batches (at most one a second): about 1.3 a second.
 */
const MAX_TIMER_CALLBACKS_PER_S = 2;

test(`a node with ${PEERS} peers at rest: under ${MAX_CPU_FRACTION * 100} % of a core, and no timer fires for nothing`, { timeout: 120_000 }, async (t) => {
  const r = await measureRestingNode({ peers: PEERS, windowMs: WINDOW_MS, settleMs: SETTLE_MS, windows: WINDOWS });
  const fired = [...r.timerCallbacks.values()].reduce((a, b) => a + b, 0);
  t.diagnostic(`${PEERS} peers at rest: ${(r.cpuFraction * 100).toFixed(2)} % of a core (median of ${r.cpuFractions.map((f) => (f * 100).toFixed(2)).join(', ')}); timer callbacks in ${r.seconds.toFixed(1)} s: ${[...r.timerCallbacks].map(([part, n]) => `${part} ${n}`).join(', ')}`);
  assert.ok(r.cpuFraction <= MAX_CPU_FRACTION, `${(r.cpuFraction * 100).toFixed(2)} % of a core, at most ${MAX_CPU_FRACTION * 100} %`);
  assert.ok(r.proberWakeups <= r.seconds + 2, `the prober woke ${r.proberWakeups} times in ${r.seconds.toFixed(1)} s: at most once a second for its batched rest probes`);
  assert.ok(fired / r.seconds <= MAX_TIMER_CALLBACKS_PER_S, `${(fired / r.seconds).toFixed(2)} timer callbacks a second, at most ${MAX_TIMER_CALLBACKS_PER_S}`);
});
