import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RelayPlanner, RELAY_DEFAULTS, rendezvousRank, type PathObservation } from '../../src/relay/planner.js';
import type { WgPeerState } from '../../src/wg/types.js';
import type { MeshNode } from '../../src/netmap/netmap.js';
import { meshNode } from '../fixtures.js';

const T0 = 1_800_000_000_000;
const key = (n: number) => Buffer.alloc(32, n).toString('base64');
const a = meshNode('a', '198.18.0.2', { publicKey: key(1) });
const b = meshNode('b', '198.18.0.3', { publicKey: key(2) });
const r1 = meshNode('r1', '198.18.0.10', { publicKey: key(3), relay: true });
const r2 = meshNode('r2', '198.18.0.11', { publicKey: key(4), relay: true });

/** The device as `wg show dump` would give it: a handshake time per node, 0 for none. */
function device(handshakes: Record<string, number>, nodes: readonly MeshNode[]): Map<string, WgPeerState> {
  return new Map(nodes.map((n) => [n.publicKey, { publicKey: n.publicKey, allowedIps: [], latestHandshakeMs: handshakes[n.name] ?? 0, rxBytes: 0, txBytes: 0 }]));
}

interface World {
  now: number;
  handshakes: Record<string, number>;
  answers: Record<string, number>;
  self?: string;
}

function observe(w: World, nodes: readonly MeshNode[], probing = true): PathObservation {
  return {
    now: w.now,
    selfName: w.self ?? 'me',
    device: device(w.handshakes, nodes),
    ...(probing ? { lastAnswerMs: (n: string) => w.answers[n] } : {}),
  };
}

/** A review now, and one relayAfterMs later with `answering` answering probes: pairs without a direct session get relayed. */
function afterRelayDelay(planner: RelayPlanner, w: World, nodes: readonly MeshNode[], answering: string[]): void {
  planner.review(nodes, observe(w, nodes));
  w.now += RELAY_DEFAULTS.relayAfterMs;
  w.answers = Object.fromEntries(answering.map((n) => [n, w.now]));
  planner.review(nodes, observe(w, nodes));
}

/** The relays in the order a pair ranks them (both ends alike). */
function ranked(x: string, y: string, relays: string[]): string[] {
  const pair = x < y ? `${x}|${y}` : `${y}|${x}`;
  return [...relays].sort((p, q) => (rendezvousRank(pair, p) < rendezvousRank(pair, q) ? -1 : 1));
}

describe('RelayPlanner', () => {
  const peers = [a, b, r1, r2];

  test('a peer with a live direct session stays direct; one without goes through a relay only after relayAfterMs', () => {
    const planner = new RelayPlanner();
    const w: World = { now: T0, handshakes: { a: T0, r1: T0, r2: T0 }, answers: { r1: T0, r2: T0 } };
    assert.deepEqual(planner.review(peers, observe(w, peers)), []);
    w.now = T0 + RELAY_DEFAULTS.relayAfterMs - 1;
    w.answers = { r1: w.now, r2: w.now };
    assert.deepEqual(planner.review(peers, observe(w, peers)), [], 'not before relayAfterMs');
    w.now = T0 + RELAY_DEFAULTS.relayAfterMs;
    w.answers = { r1: w.now, r2: w.now };
    const changes = planner.review(peers, observe(w, peers));
    // b has no handshake: through the pair's first relay; a has one: direct.
    const first = ranked('me', 'b', ['r1', 'r2'])[0]!;
    assert.deepEqual(changes.map((c) => [c.peer, c.from, c.to]), [['b', undefined, first]]);
    assert.equal(planner.via('b'), first);
    assert.equal(planner.via('a'), undefined);
    assert.deepEqual([...planner.routedThrough(first)], ['b']);
    assert.deepEqual(planner.relayed(), [{ peer: 'b', via: first }]);
  });

  test('both ends of a pair choose the same relay (WireGuard drops a relayed packet from any other), and pairs spread over relays', () => {
    const relays = Array.from({ length: 4 }, (_, i) => meshNode(`r${i + 1}`, `198.18.0.${10 + i}`, { publicKey: key(20 + i), relay: true }));
    const ends = Array.from({ length: 6 }, (_, i) => meshNode(`n${i}`, `198.18.1.${i + 1}`, { publicKey: key(40 + i) }));
    const live = Object.fromEntries(relays.map((r) => [r.name, T0]));
    const choice = (self: MeshNode, peer: MeshNode) => {
      const planner = new RelayPlanner();
      const nodes = [peer, ...relays];
      const w: World = { now: T0, handshakes: { ...live }, answers: { ...live }, self: self.name };
      planner.review(nodes, observe(w, nodes));
      w.now += RELAY_DEFAULTS.relayAfterMs;
      w.answers = Object.fromEntries(relays.map((r) => [r.name, w.now]));
      w.handshakes = Object.fromEntries(relays.map((r) => [r.name, w.now]));
      planner.review(nodes, observe(w, nodes));
      return planner.via(peer.name);
    };
    const used = new Set<string>();
    for (const x of ends) {
      for (const y of ends) {
        if (x === y) continue;
        const there = choice(x, y);
        assert.ok(there, `${x.name} relays ${y.name}`);
        assert.equal(choice(y, x), there, `${x.name} and ${y.name} agree`);
        used.add(there);
      }
    }
    assert.ok(used.size >= 3, `15 pairs over 4 relays use several of them, not one: ${[...used].join(',')}`);
  });

  test('relays are never relayed, and a relay is never chosen for itself', () => {
    const planner = new RelayPlanner();
    const w: World = { now: T0, handshakes: { r2: T0 }, answers: { r2: T0 } };
    planner.review(peers, observe(w, peers));
    w.now += 10_000;
    w.answers = { r2: w.now };
    planner.review(peers, observe(w, peers));
    assert.equal(planner.via('r1'), undefined, 'r1 has no handshake but is a relay: direct');
    assert.equal(planner.via('r2'), undefined);
    assert.equal(planner.via('a'), 'r2');
  });

  test('a node that is a relay itself routes nobody through another relay (its peers all treat it as direct)', () => {
    const planner = new RelayPlanner();
    const w: World = { now: T0, handshakes: { r2: T0 }, answers: { r2: T0 } };
    const self = (o: PathObservation): PathObservation => ({ ...o, selfIsRelay: true });
    planner.review(peers, self(observe(w, peers)));
    w.now += 10_000;
    w.answers = { r2: w.now };
    assert.deepEqual(planner.review(peers, self(observe(w, peers))), []);
    assert.equal(planner.relayed().length, 0);
  });

  test('no relay with a live session that answers probes: the peer stays direct (nothing to route through)', () => {
    const planner = new RelayPlanner();
    // r1: session but silent to probes; r2: answers but no WireGuard session.
    const w: World = { now: T0, handshakes: { r1: T0 }, answers: { r2: T0 } };
    planner.review(peers, observe(w, peers));
    w.now += 10_000;
    w.handshakes.r1 = w.now;
    w.answers = { r2: w.now, r1: w.now - RELAY_DEFAULTS.relayAliveMs };
    assert.deepEqual(planner.review(peers, observe(w, peers)), []);
    assert.equal(planner.via('b'), undefined);
  });

  test('a node that is not granted relaying (Node.relay false) is never chosen, whatever it answers', () => {
    const planner = new RelayPlanner();
    const notRelay = meshNode('n', '198.18.0.20', { publicKey: key(5) });
    const nodes = [b, notRelay];
    const w: World = { now: T0, handshakes: { n: T0 }, answers: { n: T0 } };
    planner.review(nodes, observe(w, nodes));
    w.now += 10_000;
    w.handshakes.n = w.now;
    w.answers = { n: w.now };
    assert.deepEqual(planner.review(nodes, observe(w, nodes)), []);
  });

  test('the first direct handshake after the move brings the peer back, returnDelayMs after its time, the same moment at both ends', () => {
    const planner = new RelayPlanner();
    const w: World = { now: T0, handshakes: { r1: T0 }, answers: { r1: T0 } };
    planner.review(peers, observe(w, peers));
    w.now += RELAY_DEFAULTS.relayAfterMs + 300;
    w.answers = { r1: w.now, b: w.now };
    planner.review(peers, observe(w, peers));
    assert.equal(planner.via('b'), 'r1');
    // Nothing new on the direct entry: still relayed.
    w.now += 1000;
    w.answers = { r1: w.now };
    assert.deepEqual(planner.review(peers, observe(w, peers)), []);
    assert.equal(planner.dueMs(), undefined);
    // A direct handshake, in the very second the pair was relayed (wg show: whole seconds).
    const handshake = T0 + RELAY_DEFAULTS.relayAfterMs;
    w.handshakes.b = handshake;
    w.now += 200;
    w.answers = { r1: w.now };
    assert.deepEqual(planner.review(peers, observe(w, peers)), [], 'not at once: at its due time');
    assert.equal(planner.dueMs(), handshake + RELAY_DEFAULTS.returnDelayMs);
    assert.deepEqual(planner.settleDue(handshake + RELAY_DEFAULTS.returnDelayMs - 1), []);
    const back = planner.settleDue(handshake + RELAY_DEFAULTS.returnDelayMs);
    assert.deepEqual(back.map((c) => [c.peer, c.from, c.to]), [['b', 'r1', undefined]]);
    assert.equal(planner.via('b'), undefined);
    assert.equal(planner.routedThrough('r1').has('b'), false);
    assert.equal(planner.dueMs(), undefined);
  });

  test('a direct session whose path breaks: the peer that answered probes falls silent and goes through a relay; one that never answered stays direct', () => {
    const planner = new RelayPlanner();
    const w: World = { now: T0, handshakes: { a: T0, b: T0, r1: T0 }, answers: { a: T0, r1: T0 } };
    planner.review(peers, observe(w, peers));
    w.now += RELAY_DEFAULTS.relayFailMs - 1;
    w.answers = { a: T0, r1: w.now };
    assert.deepEqual(planner.review(peers, observe(w, peers)), [], 'not yet');
    w.now += 1;
    w.answers = { a: T0, r1: w.now };
    const changes = planner.review(peers, observe(w, peers));
    // b never answered (probing off there): its silence means nothing; a's does.
    assert.deepEqual(changes.map((c) => [c.peer, c.to]), [['a', 'r1']]);
    assert.match(changes[0]!.reason, /direct path stopped answering probes/);
    // The path comes back: the next direct handshake (a rekey) brings a back.
    w.now += 30_000;
    w.handshakes.a = w.now;
    w.answers = { a: w.now, r1: w.now };
    planner.review(peers, observe(w, peers));
    assert.deepEqual(planner.settleDue(w.now + RELAY_DEFAULTS.returnDelayMs).map((c) => [c.peer, c.to]), [['a', undefined]]);
  });

  test('a review that comes after the due time switches back itself', () => {
    const planner = new RelayPlanner();
    const w: World = { now: T0, handshakes: { r1: T0 }, answers: { r1: T0 } };
    afterRelayDelay(planner, w, peers, ['r1']);
    w.handshakes.b = w.now + 1000;
    w.now += 1000 + RELAY_DEFAULTS.returnDelayMs;
    w.answers = { r1: w.now };
    assert.deepEqual(planner.review(peers, observe(w, peers)).map((c) => [c.peer, c.to]), [['b', undefined]]);
  });

  test('the relay in use stops answering its probes: the pair moves to the next live relay; with none left, to direct attempts', () => {
    const planner = new RelayPlanner();
    const w: World = { now: T0, handshakes: { r1: T0, r2: T0 }, answers: { r1: T0, r2: T0 } };
    afterRelayDelay(planner, w, peers, ['r1', 'r2']);
    const [first, second] = ranked('me', 'b', ['r1', 'r2']) as [string, string];
    assert.equal(planner.via('b'), first);
    const lastHeard = w.now;
    // Late by less than relayFailMs (though past relayAliveMs): kept, no flapping.
    w.now = lastHeard + RELAY_DEFAULTS.relayFailMs - 1;
    w.answers = { [first]: lastHeard, [second]: w.now };
    assert.deepEqual(planner.review(peers, observe(w, peers)).filter((c) => c.peer === 'b'), []);
    w.now = lastHeard + RELAY_DEFAULTS.relayFailMs;
    w.answers = { [first]: lastHeard, [second]: w.now };
    const moved = planner.review(peers, observe(w, peers)).find((c) => c.peer === 'b');
    assert.deepEqual([moved?.from, moved?.to, moved?.reason], [first, second, 'the relay stopped answering']);
    // The second dies too: nothing left, so direct attempts.
    const secondHeard = w.now;
    w.now = secondHeard + RELAY_DEFAULTS.relayFailMs;
    w.answers = { [first]: lastHeard, [second]: secondHeard };
    const last = planner.review(peers, observe(w, peers)).find((c) => c.peer === 'b');
    assert.deepEqual([last?.from, last?.to], [second, undefined]);
    assert.equal(planner.relayed().length, 0);
    // The first comes back: the pair (still without a direct handshake) goes through it again, at once.
    w.now += 1000;
    w.answers = { [first]: w.now };
    assert.deepEqual(planner.review(peers, observe(w, peers)).filter((c) => c.peer === 'b').map((c) => c.to), [first]);
  });

  test('a relayed pair moves to the relay ranked first for it once that one is live: both ends end up on the same', () => {
    const planner = new RelayPlanner();
    const [first, second] = ranked('me', 'b', ['r1', 'r2']) as [string, string];
    // Only the second-ranked relay is live when the pair is relayed.
    const w: World = { now: T0, handshakes: { [second]: T0 }, answers: { [second]: T0 } };
    planner.review(peers, observe(w, peers));
    w.now += RELAY_DEFAULTS.relayAfterMs;
    w.answers = { [second]: w.now };
    planner.review(peers, observe(w, peers));
    assert.equal(planner.via('b'), second);
    w.now += 1000;
    w.handshakes[first] = w.now;
    w.answers = { [first]: w.now, [second]: w.now };
    const moved = planner.review(peers, observe(w, peers)).find((c) => c.peer === 'b');
    assert.deepEqual([moved?.from, moved?.to, moved?.reason], [second, first, `${first} ranks first for this pair`]);
  });

  test('probe rounds that stretch with the mesh stretch relay liveness with them', () => {
    const planner = new RelayPlanner();
    const w: World = { now: T0, handshakes: { r1: T0 }, answers: { r1: T0 } };
    const slow = (o: PathObservation): PathObservation => ({ ...o, probeRoundMs: 10_000 });
    planner.review(peers, slow(observe(w, peers)));
    w.now += RELAY_DEFAULTS.relayAfterMs + 20_000;
    w.handshakes.r1 = w.now;
    w.answers = { r1: w.now - 25_000 };
    planner.review(peers, slow(observe(w, peers)));
    assert.equal(planner.via('b'), 'r1', 'answered 25 s ago, within 3 rounds of 10 s');
    w.now += 10_000;
    assert.deepEqual(planner.review(peers, slow(observe(w, peers))).filter((c) => c.peer === 'b'), [], 'in use: kept up to 4 rounds');
    w.now += 10_000;
    assert.deepEqual(planner.review(peers, slow(observe(w, peers))).filter((c) => c.peer === 'b').map((c) => c.to), [undefined]);
  });

  test('per-peer cadences (rest mode): a peer at rest is judged by its own long round; one just moved to fast probing from the moment it moved', () => {
    const planner = new RelayPlanner();
    const w: World = { now: T0, handshakes: { a: T0, b: T0, r1: T0 }, answers: { a: T0, b: T0, r1: T0 } };
    const cadences: Record<string, { roundMs: number; sinceMs: number }> = { a: { roundMs: 30_000, sinceMs: T0 - 60_000 }, b: { roundMs: 30_000, sinceMs: T0 - 60_000 }, r1: { roundMs: 1_000, sinceMs: T0 - 60_000 } };
    const withCadence = (o: PathObservation): PathObservation => ({ ...o, probeCadence: (n) => cadences[n] });
    planner.review(peers, withCadence(observe(w, peers)));
    // Step 1: a at rest answered 25 s ago: within its 4 rounds of 30 s, so direct.
    w.now += 25_000;
    w.handshakes = { a: w.now, b: w.now, r1: w.now };
    w.answers = { a: T0, b: T0, r1: w.now };
    assert.deepEqual(planner.review(peers, withCadence(observe(w, peers))), [], 'rest-mode peers are not failed by their rest interval');
    // Step 2: b turns fast now (traffic): its last answer 25 s ago does not count against it.
    cadences.b = { roundMs: 1_000, sinceMs: w.now };
    assert.deepEqual(planner.review(peers, withCadence(observe(w, peers))), [], 'b just turned fast: not judged by its answer at rest');
    w.now += RELAY_DEFAULTS.relayFailMs - 1;
    w.answers.r1 = w.now;
    assert.deepEqual(planner.review(peers, withCadence(observe(w, peers))), [], 'not yet');
    // Step 3: silent on the fast cadence for relayFailMs: through the relay.
    w.now += 1;
    w.answers.r1 = w.now;
    assert.deepEqual(planner.review(peers, withCadence(observe(w, peers))).map((c) => [c.peer, c.to]), [['b', 'r1']]);
    assert.equal(planner.via('a'), undefined, 'a at rest stays direct');
  });

  test('a relay that leaves the mesh or stops relaying takes its pairs elsewhere at once', () => {
    const planner = new RelayPlanner();
    const w: World = { now: T0, handshakes: { r1: T0 }, answers: { r1: T0 } };
    afterRelayDelay(planner, w, peers, ['r1']);
    // Only r1 has a session yet when the pairs are routed: both go through it.
    assert.equal(planner.via('a'), 'r1');
    assert.equal(planner.via('b'), 'r1');
    w.now += 500;
    w.handshakes.r2 = w.now;
    w.answers = { r1: w.now, r2: w.now, a: w.now, b: w.now };
    const withoutR1 = [a, b, r2];
    const changes = planner.review(withoutR1, observe(w, withoutR1));
    assert.deepEqual(changes.map((c) => [c.peer, c.to]).sort(), [['a', 'r2'], ['b', 'r2']]);
    assert.ok(changes.every((c) => c.reason === 'the relay left the mesh'));
    w.now += 500;
    const demoted = [a, b, { ...r2, relay: false }];
    const again = planner.review(demoted, observe(w, demoted));
    assert.deepEqual(again.map((c) => [c.peer, c.to]).sort(), [['a', undefined], ['b', undefined]]);
  });

  test('a peer that leaves, or comes back with a new key, starts over', () => {
    const planner = new RelayPlanner();
    const w: World = { now: T0, handshakes: { r1: T0 }, answers: { r1: T0 } };
    afterRelayDelay(planner, w, peers, ['r1']);
    assert.equal(planner.via('b'), 'r1');
    const rekeyed = { ...b, publicKey: Buffer.alloc(32, 99).toString('base64') };
    const nodes = [a, rekeyed, r1];
    w.now += 100;
    const changes = planner.review(nodes, observe(w, nodes));
    assert.deepEqual(changes.find((c) => c.peer === 'b')?.to, undefined);
    assert.equal(planner.via('b'), undefined, 'a new key is a new peer: direct first');
    const gone = planner.review([a, r1], observe(w, [a, r1]));
    assert.deepEqual(gone.filter((c) => c.peer === 'b'), []);
    assert.equal(planner.routedThrough('r1').has('b'), false);
  });

  test('without probing, relays are chosen on WireGuard sessions alone and kept until the membership says otherwise', () => {
    const planner = new RelayPlanner();
    const w: World = { now: T0, handshakes: { r1: T0 }, answers: {} };
    planner.review(peers, observe(w, peers, false));
    w.now += RELAY_DEFAULTS.relayAfterMs;
    planner.review(peers, observe(w, peers, false));
    assert.equal(planner.via('b'), 'r1');
    w.now += 60_000;
    assert.deepEqual(planner.review(peers, observe(w, peers, false)).filter((c) => c.peer === 'b'), []);
  });

  test('unsettled while a peer has no live session or is relayed; settled once all are direct and live', () => {
    const planner = new RelayPlanner();
    const w: World = { now: T0, handshakes: { a: T0, b: T0, r1: T0, r2: T0 }, answers: {} };
    planner.review(peers, observe(w, peers));
    assert.equal(planner.unsettled(observe(w, peers)), false);
    w.handshakes.b = 0;
    assert.equal(planner.unsettled(observe(w, peers)), true);
  });
});
