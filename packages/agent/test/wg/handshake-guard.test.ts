/**
 * HandshakeGuard: a new peer with no handshake and no answer at a look after it was added is
 * configured afresh and probed, by the node that opens the pair only, at most once per look.
 * Most tests use one look at 1.5 s; the default schedule has its own test.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HANDSHAKE_GUARD_DEFAULTS, HandshakeGuard, type HandshakeGuardComponents } from '../../src/wg/handshake-guard.js';
import { SimTimers } from '../sim-timers.js';

/** A world the test sets: who opens, who answered, the device's handshakes; records restarts and probes. */
function world(over: Partial<HandshakeGuardComponents> = {}, looksAfterMs: readonly number[] = [1_500]) {
  const timers = new SimTimers();
  const state = {
    keys: new Map([['a', 'KA'], ['b', 'KB'], ['c', 'KC']]),
    opens: new Set(['a', 'b', 'c']),
    answeredAt: new Map<string, number>(),
    handshakes: new Map<string, number>(),
    reads: 0,
    restarted: [] as string[],
    probed: [] as string[],
  };
  const guard = new HandshakeGuard({
    timers,
    now: () => timers.nowMs,
    opens: (name) => state.opens.has(name),
    publicKeyOf: (name) => state.keys.get(name),
    answered: (name, since) => (state.answeredAt.get(name) ?? -1) >= since,
    latestHandshakes: async () => {
      state.reads++;
      return state.handshakes;
    },
    restart: async (name) => void state.restarted.push(name),
    probe: (name) => void state.probed.push(name),
    ...over,
  }, looksAfterMs);
  /** Moves time on (SimTimers) and lets the check's promises settle. */
  const advance = async (ms: number) => {
    timers.advance(ms);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  };
  return { guard, state, advance };
}

describe('HandshakeGuard', () => {
  test('a silent peer this node opens is configured afresh and probed, once, after checkAfterMs', async () => {
    const { guard, state, advance } = world();
    guard.added([{ name: 'a', publicKey: 'KA' }]);
    await advance(1_499);
    assert.deepEqual(state.restarted, []);
    await advance(1);
    assert.deepEqual(state.restarted, ['a']);
    assert.deepEqual(state.probed, ['a']);
    await advance(10_000);
    assert.deepEqual(state.restarted, ['a'], 'once per peer added');
  });

  test('left alone: a peer with a handshake, one that answered a probe, one the other node opens, one gone or re-keyed', async () => {
    const { guard, state, advance } = world();
    state.handshakes.set('KA', 1);
    state.answeredAt.set('b', 10);
    state.opens.delete('c');
    guard.added([{ name: 'a', publicKey: 'KA' }, { name: 'b', publicKey: 'KB' }, { name: 'c', publicKey: 'KC' }, { name: 'gone', publicKey: 'KG' }]);
    state.keys.set('b', 'KB');
    await advance(1_500);
    assert.deepEqual(state.restarted, []);
    assert.deepEqual(state.probed, []);
    // The device was read once, for the one candidate ("a": silent to the prober, but it had a handshake).
    assert.equal(state.reads, 1);
  });

  test('an answer from before the peer was added does not count (a re-added peer)', async () => {
    const { guard, state, advance } = world();
    await advance(60_000);
    state.answeredAt.set('a', 1_000);
    guard.added([{ name: 'a', publicKey: 'KA' }]);
    await advance(1_500);
    assert.deepEqual(state.restarted, ['a']);
  });

  test('peers added at different times are each looked at checkAfterMs after their own addition', async () => {
    const { guard, state, advance } = world();
    guard.added([{ name: 'a', publicKey: 'KA' }]);
    await advance(1_000);
    guard.added([{ name: 'b', publicKey: 'KB' }]);
    await advance(500);
    assert.deepEqual(state.restarted, ['a']);
    await advance(999);
    assert.deepEqual(state.restarted, ['a']);
    await advance(1);
    assert.deepEqual(state.restarted, ['a', 'b']);
  });

  test('the default looks: 0.5 s after the peer was added, and again at 1.5 s if it is still silent', async () => {
    assert.deepEqual(HANDSHAKE_GUARD_DEFAULTS.looksAfterMs, [500, 1_500]);
    const { guard, state, advance } = world({}, HANDSHAKE_GUARD_DEFAULTS.looksAfterMs);
    guard.added([{ name: 'a', publicKey: 'KA' }, { name: 'b', publicKey: 'KB' }]);
    await advance(499);
    assert.deepEqual(state.restarted, []);
    await advance(1);
    assert.deepEqual(state.restarted, ['a', 'b']);
    // "a" answers the probe that followed its restart; "b" stays silent.
    state.answeredAt.set('a', 600);
    await advance(999);
    assert.deepEqual(state.restarted, ['a', 'b']);
    await advance(1);
    assert.deepEqual(state.restarted, ['a', 'b', 'b'], 'only the peer still silent is restarted at the second look');
    assert.deepEqual(state.probed, ['a', 'b', 'b']);
    await advance(10_000);
    assert.equal(state.restarted.length, 3, 'no look after the last');
  });

  test('a peer added later gets an earlier timer than one already set', async () => {
    const { guard, state, advance } = world({}, [500, 1_500]);
    guard.added([{ name: 'a', publicKey: 'KA' }]);
    await advance(500);
    assert.deepEqual(state.restarted, ['a']);
    // The timer now waits for a's second look at 1.5 s; b's first look (at 0.6 + 0.5 s) comes before it.
    await advance(100);
    guard.added([{ name: 'b', publicKey: 'KB' }]);
    await advance(500);
    assert.deepEqual(state.restarted, ['a', 'b']);
    await advance(400);
    assert.deepEqual(state.restarted, ['a', 'b', 'a']);
  });

  test('looks must be increasing times', () => {
    assert.throws(() => world({}, []), /give one or more increasing times/);
    assert.throws(() => world({}, [500, 500]), /give one or more increasing times/);
    assert.throws(() => world({}, [-1]), /give one or more increasing times/);
  });

  test('a device that cannot be read or a restart that fails is logged, nothing thrown; stop() ends it', async () => {
    const failing = world({ latestHandshakes: async () => Promise.reject(new Error('device gone')) });
    failing.guard.added([{ name: 'a', publicKey: 'KA' }]);
    await failing.advance(1_500);
    assert.deepEqual(failing.state.restarted, []);
    const refused = world({ restart: async () => Promise.reject(new Error('refused')) });
    refused.guard.added([{ name: 'a', publicKey: 'KA' }]);
    await refused.advance(1_500);
    assert.deepEqual(refused.state.probed, []);
    const stopped = world();
    stopped.guard.added([{ name: 'a', publicKey: 'KA' }]);
    stopped.guard.stop();
    await stopped.advance(5_000);
    assert.deepEqual(stopped.state.restarted, []);
  });
});
