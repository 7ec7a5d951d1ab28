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

test('disabled (a mesh without -psk): nothing is asked, no peer is pending', async () => {
  let calls = 0;
  const psk = new PresharedKeys({ fetch: async () => (calls++, []) });
  await psk.sync([generateKeyPair().publicKey]);
  assert.equal(calls, 0);
  assert.equal(psk.pending(generateKeyPair().publicKey), false);
});

test('enabled: the missing keys are asked for in bounded batches, and arrive; a peer is pending until then', async () => {
  const asked: string[][] = [];
  const arrived: string[] = [];
  const psk = new PresharedKeys({ fetch: async (peers) => (asked.push([...peers]), peers.map((peer) => ({ peer, presharedKey: keyOf(peer) }))) }, { batch: 2 }, (keys) => arrived.push(...keys));
  psk.enabled = true;
  const peers = Array.from({ length: 5 }, () => generateKeyPair().publicKey);
  assert.equal(psk.pending(peers[0]!), true);
  await psk.sync(peers);
  assert.deepEqual(asked.map((a) => a.length), [2, 2, 1], 'at most 2 per call');
  assert.deepEqual(arrived.sort(), [...peers].sort());
  assert.equal(psk.keyFor(peers[3]!), keyOf(peers[3]!));
  assert.equal(psk.pending(peers[3]!), false);

  await psk.sync(peers);
  assert.equal(asked.length, 3, 'known keys are not asked for again');
});

test("a peer gone (or whose key rotated away) loses its key; the rotated key's is asked for", async () => {
  const asked: string[] = [];
  const psk = new PresharedKeys({ fetch: async (peers) => (asked.push(...peers), peers.map((peer) => ({ peer, presharedKey: keyOf(peer) }))) });
  psk.enabled = true;
  const [a, b, rotatedB] = [generateKeyPair().publicKey, generateKeyPair().publicKey, generateKeyPair().publicKey];
  await psk.sync([a, b]);
  await psk.sync([a, rotatedB]);
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
  await psk.sync([a, b]);
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
  await psk.sync(peers);
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
