import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PresharedKeys } from '../../src/psk/preshared-keys.js';
import { generateKeyPair } from '../../src/wg/keys.js';
import type { Timers } from '../../src/timers.js';

/** Timers a test fires by hand. */
function manualTimers() {
  const pending = new Map<number, () => void>();
  let next = 0;
  const timers: Timers = {
    setTimeout: (fn) => {
      pending.set(++next, fn);
      return next;
    },
    clearTimeout: (h) => void pending.delete(h as number),
  };
  return { timers, fireAll: () => [...pending.entries()].forEach(([id, fn]) => (pending.delete(id), fn())), get count() { return pending.size; } };
}

const keyOf = (peer: string) => `psk-of-${peer}`;
/** Peers named p0, p1, ... with these public keys. */
const named = (keys: readonly string[]) => keys.map((publicKey, i) => ({ name: `p${i}`, publicKey }));

test('disabled (a mesh without -psk): nothing is asked, no peer is pending', async () => {
  let calls = 0;
  const psk = new PresharedKeys({ fetch: async () => (calls++, []) });
  await psk.sync(named([generateKeyPair().publicKey]));
  assert.equal(calls, 0);
  assert.equal(psk.pending(generateKeyPair().publicKey), false);
});

test('enabled: the missing keys are asked for in bounded batches, and arrive; a peer is pending until then', async () => {
  const asked: string[][] = [];
  const arrived: string[] = [];
  const psk = new PresharedKeys({ fetch: async (peers) => (asked.push([...peers]), peers.map((peer) => ({ peer, presharedKey: keyOf(peer) }))) }, { batch: 2 }, (names) => arrived.push(...names));
  psk.enabled = true;
  const peers = Array.from({ length: 5 }, () => generateKeyPair().publicKey);
  assert.equal(psk.pending(peers[0]!), true);
  await psk.sync(named(peers));
  assert.deepEqual(asked.map((a) => a.length), [2, 2, 1], 'at most 2 per call');
  assert.deepEqual(arrived.sort(), ['p0', 'p1', 'p2', 'p3', 'p4'], 'arrivals are told by peer name');
  assert.equal(psk.keyFor(peers[3]!), keyOf(peers[3]!));
  assert.equal(psk.pending(peers[3]!), false);

  await psk.sync(named(peers));
  assert.equal(asked.length, 3, 'known keys are not asked for again');
});

test("a peer gone (or whose key rotated away) loses its key; the rotated key's is asked for", async () => {
  const asked: string[] = [];
  const psk = new PresharedKeys({ fetch: async (peers) => (asked.push(...peers), peers.map((peer) => ({ peer, presharedKey: keyOf(peer) }))) });
  psk.enabled = true;
  const [a, b, rotatedB] = [generateKeyPair().publicKey, generateKeyPair().publicKey, generateKeyPair().publicKey];
  await psk.sync(named([a, b]));
  await psk.sync(named([a, rotatedB]));
  assert.equal(psk.keyFor(b), undefined);
  assert.equal(psk.keyFor(rotatedB), keyOf(rotatedB));
  assert.deepEqual(asked, [a, b, rotatedB]);
  assert.equal(psk.size, 2);
});

test('a peer the bootstrap did not answer for, or a failed call, is asked for again later; answers for peers not asked about are ignored', async () => {
  const t = manualTimers();
  const [a, b, stranger] = [generateKeyPair().publicKey, generateKeyPair().publicKey, generateKeyPair().publicKey];
  let round = 0;
  const psk = new PresharedKeys({
    timers: t.timers,
    fetch: async (peers) => {
      round++;
      if (round === 1) return [{ peer: a, presharedKey: keyOf(a) }, { peer: stranger, presharedKey: 'x' }];
      if (round === 2) throw new Error('unavailable');
      return peers.map((peer) => ({ peer, presharedKey: keyOf(peer) }));
    },
  });
  psk.enabled = true;
  await psk.sync(named([a, b]));
  assert.equal(psk.keyFor(stranger), undefined);
  assert.equal(psk.pending(b), true);
  assert.equal(t.count, 1, 'a retry is scheduled');
  t.fireAll();
  await new Promise((r) => setImmediate(r));
  assert.equal(psk.pending(b), true, 'the call failed');
  t.fireAll();
  await new Promise((r) => setImmediate(r));
  assert.equal(psk.keyFor(b), keyOf(b));
  assert.equal(t.count, 0, 'nothing left to retry');
});

test("this node's own key rotated: every pair key is asked anew, and an answer to a call made with the old key is dropped", async () => {
  let own = 'old';
  let release: (() => void) | undefined;
  const asked: string[] = [];
  const psk = new PresharedKeys({
    fetch: async (peers) => {
      const asKey = own;
      asked.push(`${asKey}:${peers.length}`);
      if (asKey === 'old' && asked.length === 2) await new Promise<void>((r) => (release = r));
      return peers.map((peer) => ({ peer, presharedKey: `${asKey}-${peer}` }));
    },
  });
  psk.enabled = true;
  const peers = [generateKeyPair().publicKey, generateKeyPair().publicKey];
  await psk.sync(named(peers));
  assert.equal(psk.keyFor(peers[0]!), `old-${peers[0]}`);

  // A call with the old key is in flight when the key changes.
  psk.ownKeyChanged().catch(() => undefined);
  own = 'new';
  const after = psk.ownKeyChanged();
  release!();
  await after;
  assert.equal(psk.keyFor(peers[0]!), `new-${peers[0]}`, 'the stale answer was not kept');
  assert.equal(psk.keyFor(peers[1]!), `new-${peers[1]}`);
});

test('update: a change asks for the peers it names only, whatever the mesh size; a leaver and a rotated key are forgotten', async () => {
  const asked: string[][] = [];
  const arrived: string[] = [];
  const psk = new PresharedKeys({ fetch: async (peers) => (asked.push([...peers]), peers.map((peer) => ({ peer, presharedKey: keyOf(peer) }))) }, {}, (names) => arrived.push(...names));
  psk.enabled = true;
  const keys = Array.from({ length: 300 }, () => generateKeyPair().publicKey);
  await psk.sync(named(keys));
  assert.equal(psk.size, 300);
  asked.length = 0;
  arrived.length = 0;

  const newcomer = generateKeyPair().publicKey;
  const rotated = generateKeyPair().publicKey;
  await psk.update([{ name: 'newcomer', publicKey: newcomer }, { name: 'p7', publicKey: rotated }, { name: 'p9' }]);
  assert.deepEqual(asked, [[newcomer, rotated]], 'one call, for the joined and the rotated key only');
  assert.deepEqual(arrived.sort(), ['newcomer', 'p7']);
  assert.equal(psk.keyFor(keys[7]!), undefined, "p7's old key is forgotten");
  assert.equal(psk.keyFor(keys[9]!), undefined, "the leaver's key is forgotten");
  assert.equal(psk.pending(keys[9]!), true);
  assert.equal(psk.keyFor(rotated), keyOf(rotated));
  assert.equal(psk.size, 300, '300 - leaver + newcomer');

  asked.length = 0;
  await psk.update([{ name: 'p3', publicKey: keys[3] }]);
  assert.deepEqual(asked, [], 'a change that keeps the key asks nothing');
});

test('update during a round: the changed peer is asked in the next round; a peer gone meanwhile is not kept', async () => {
  let release: (() => void) | undefined;
  const asked: string[][] = [];
  const psk = new PresharedKeys({
    fetch: async (peers) => {
      asked.push([...peers]);
      if (asked.length === 1) await new Promise<void>((r) => (release = r));
      return peers.map((peer) => ({ peer, presharedKey: keyOf(peer) }));
    },
  });
  psk.enabled = true;
  const [a, b, c] = [generateKeyPair().publicKey, generateKeyPair().publicKey, generateKeyPair().publicKey];
  const first = psk.sync(named([a, b]));
  await new Promise((r) => setImmediate(r));
  const second = psk.update([{ name: 'p1' }, { name: 'c', publicKey: c }]);
  release!();
  await Promise.all([first, second]);
  assert.deepEqual(asked, [[a, b], [c]]);
  assert.equal(psk.keyFor(a), keyOf(a));
  assert.equal(psk.keyFor(b), undefined, 'p1 left while its key was being asked for');
  assert.equal(psk.keyFor(c), keyOf(c));
});
