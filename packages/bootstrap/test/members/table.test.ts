import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair } from '@wgmesh/agent';
import { Ipam } from '../../src/ipam/ipam.js';
import { MemberTable, type Clock, type JoinInput, type MemberDelta, spreadCandidates } from '../../src/members/table.js';
import { MemoryStateStore, type MeshState } from '../../src/members/store.js';
import { NameTaken, NodeNotFound, IdentityMismatch, PublicKeyTaken } from '../../src/errors.js';

const MESH = 'tbl';

/** A clock the test moves by hand. */
function manualClock(start = 1_700_000_000_000): Clock & { advance(ms: number): void } {
  let now = start;
  return { now: () => now, advance: (ms) => { now += ms; } };
}

async function openTable(init: { historyLimit?: number; cidr?: string; store?: MemoryStateStore } = {}) {
  const store = init.store ?? new MemoryStateStore();
  const clock = manualClock();
  const table = await MemberTable.open(store, new Ipam(init.cidr ?? '10.232.0.0/16'), { meshName: MESH, clock, ...(init.historyLimit ? { historyLimit: init.historyLimit } : {}) });
  const published: MemberDelta[] = [];
  table.subscribe((d) => published.push(d));
  return { store, clock, table, published };
}

function joinInput(name: string, publicKey = generateKeyPair().publicKey, extra: Partial<JoinInput> = {}): JoinInput {
  return { name, identity: { publicKey }, endpoints: [{ ip: '192.0.2.10', port: 51820, kind: 'ENDPOINT_KIND_LAN' }], tags: { role: 'test' }, listenPort: 51820, ...extra };
}

/** A store whose next saves can be made to fail or to wait, recording what it was asked to do. */
class ControlledStore extends MemoryStateStore {
  failNext = false;
  gate: Promise<void> | undefined;
  readonly log: string[] = [];
  override async save(state: MeshState): Promise<void> {
    this.log.push(`save ${state.revision}`);
    if (this.gate) await this.gate;
    if (this.failNext) {
      this.failNext = false;
      throw new Error('disk full');
    }
    await super.save(state);
    this.log.push(`saved ${state.revision}`);
  }
}

describe('MemberTable', () => {
  test('a new mesh starts at revision 0 and is saved at once', async () => {
    const { table, store } = await openTable();
    assert.equal(table.revision, 0);
    assert.equal(table.size, 0);
    assert.equal(store.saves, 1);
    assert.equal(store.saved?.meshName, MESH);
    assert.equal(store.saved?.cidr, '10.232.0.0/16');
  });

  test('every change bumps the revision by exactly one and publishes exactly one delta', async () => {
    const { table, published } = await openTable();
    const alpha = generateKeyPair().publicKey;

    const a = await table.join(joinInput('alpha', alpha));
    assert.equal(table.revision, 1);
    assert.equal(a.revision, 1);
    assert.equal(a.created, true);

    await table.join(joinInput('beta'));
    assert.equal(table.revision, 2);

    // A heartbeat that changes what others see (endpoints) is a change.
    await table.update('alpha', { publicKey: alpha, secret: a.secret }, { endpoints: [{ ip: '192.0.2.99', port: 51820, kind: 'ENDPOINT_KIND_LAN' }] });
    assert.equal(table.revision, 3);

    // A heartbeat that changes nothing is not.
    await table.update('alpha', { publicKey: alpha, secret: a.secret }, { endpoints: [{ ip: '192.0.2.99', port: 51820, kind: 'ENDPOINT_KIND_LAN' }] });
    assert.equal(table.revision, 3);

    await table.remove('beta');
    assert.equal(table.revision, 4);

    assert.deepEqual(published.map((d) => [d.kind, d.revision]), [['upsert', 1], ['upsert', 2], ['upsert', 3], ['remove', 4]]);
  });

  test('a node back after it left gets the mesh IP it asks for (previous_mesh_ip) when that is free; else the lowest free one', async () => {
    const { table } = await openTable({ cidr: '10.232.0.0/24' });
    const keys = new Map(['a1', 'a2', 'a3', 'a4', 'a5'].map((n) => [n, generateKeyPair().publicKey]));
    const ips = new Map<string, string>();
    for (const [name, key] of keys) ips.set(name, (await table.join(joinInput(name, key))).member.meshIp);
    // Two restarts at once, as in the layer-2 lab: a4 and a2 leave (lowest free is now a2's address).
    await table.remove('a4');
    await table.remove('a2');
    const back = await table.join(joinInput('a4', keys.get('a4'), { previousIp: ips.get('a4')! }));
    assert.equal(back.member.meshIp, ips.get('a4'), 'a4 has its address again, not the lowest free one');
    // a2 asks for a4's address, which a4 holds: it gets the lowest free one (its own, here).
    const a2 = await table.join(joinInput('a2', keys.get('a2'), { previousIp: ips.get('a4')! }));
    assert.equal(a2.member.meshIp, ips.get('a2'));
    // What may not be handed out is not: outside the CIDR, its network or broadcast address, not an address, another spelling of one in use.
    for (const [i, asked] of ['10.233.0.9', '10.232.0.0', '10.232.0.255', 'ten', '', '::1', `${ips.get('a1')}`].entries()) {
      await table.remove('a5');
      const got = (await table.join(joinInput('a5', keys.get('a5'), { previousIp: asked }))).member.meshIp;
      assert.equal(got, ips.get('a5'), `asked for ${JSON.stringify(asked)} (case ${i}): the lowest free address`);
    }
    const owners = new Map<string, string>();
    for (const node of table.list()) {
      assert.equal(owners.get(node.meshIp), undefined, `${node.meshIp} has one owner`);
      owners.set(node.meshIp, node.name);
    }
    assert.equal(owners.size, 5);
  });

  test('deltasSince returns exactly the deltas after a revision', async () => {
    const { table, published } = await openTable();
    for (const name of ['a1', 'a2', 'a3', 'a4']) await table.join(joinInput(name));
    await table.remove('a2');
    assert.equal(table.revision, 5);

    assert.deepEqual(table.deltasSince(5), [], 'up to date: nothing');
    assert.deepEqual(table.deltasSince(4), published.slice(4));
    assert.deepEqual(table.deltasSince(2)?.map((d) => d.revision), [3, 4, 5]);
    assert.deepEqual(table.deltasSince(0), published, 'from the start: every delta');
    assert.equal(table.deltasSince(6), undefined, 'a revision from the future cannot be resumed');
  });

  test('deltasSince is undefined once the history no longer reaches back', async () => {
    const { table } = await openTable({ historyLimit: 3 });
    for (const name of ['b1', 'b2', 'b3', 'b4', 'b5']) await table.join(joinInput(name));
    assert.equal(table.revision, 5);

    // History holds revisions 3, 4 and 5: resuming from 2 onward works, from 1 would miss revision 2.
    assert.deepEqual(table.deltasSince(2)?.map((d) => d.revision), [3, 4, 5]);
    assert.deepEqual(table.deltasSince(4)?.map((d) => d.revision), [5]);
    assert.equal(table.deltasSince(1), undefined);
    assert.equal(table.deltasSince(0), undefined);
  });

  test('a restored table has no history: resuming needs a snapshot', async () => {
    const store = new MemoryStateStore();
    const first = await openTable({ store });
    await first.table.join(joinInput('c1'));
    await first.table.join(joinInput('c2'));

    const { table } = await openTable({ store });
    assert.equal(table.revision, 2);
    assert.deepEqual(table.deltasSince(2), []);
    assert.equal(table.deltasSince(1), undefined);
  });

  test('a re-join with the same name, key and node secret is idempotent: same IP and secret, no new revision, nothing published', async () => {
    const { table, published, store, clock } = await openTable();
    const key = generateKeyPair().publicKey;
    const first = await table.join(joinInput('alpha', key));
    const savesBefore = store.saves;
    clock.advance(5000);

    const again = await table.join(joinInput('alpha', key, { identity: { publicKey: key, secret: first.secret } }));
    assert.equal(again.secret, first.secret);
    assert.equal(again.member.meshIp, first.member.meshIp);
    assert.equal(again.created, false);
    assert.equal(again.revision, 1);
    assert.equal(table.revision, 1);
    assert.equal(published.length, 1);
    assert.equal(store.saves, savesBefore, 'nothing to persist');
    assert.equal(table.lastSeenMs('alpha'), clock.now(), 'but the node was seen');
  });

  test('a re-join with the same key and new endpoints keeps the IP and is one change', async () => {
    const { table } = await openTable();
    const key = generateKeyPair().publicKey;
    const first = await table.join(joinInput('alpha', key));
    const moved = await table.join(joinInput('alpha', key, { identity: { publicKey: key, secret: first.secret }, endpoints: [{ ip: '198.51.100.7', port: 51820, kind: 'ENDPOINT_KIND_STUN' }] }));
    assert.equal(moved.member.meshIp, first.member.meshIp);
    assert.equal(table.revision, 2);
    assert.deepEqual(table.get('alpha')?.endpoints, [{ ip: '198.51.100.7', port: 51820, kind: 'ENDPOINT_KIND_STUN' }]);
  });

  test('a join with a taken name and a different key is NameTaken and changes nothing', async () => {
    const { table, published, clock } = await openTable();
    await table.join(joinInput('alpha'));
    const before = JSON.stringify(table.list());
    const seenBefore = table.lastSeenMs('alpha');
    clock.advance(60_000);

    await assert.rejects(table.join(joinInput('alpha')), NameTaken);
    assert.equal(table.revision, 1);
    assert.equal(JSON.stringify(table.list()), before);
    assert.equal(published.length, 1);
    // An impostor must not keep a silent node looking alive.
    assert.equal(table.lastSeenMs('alpha'), seenBefore);
  });

  test('update and remove check who is asking', async () => {
    const { table } = await openTable();
    const key = generateKeyPair().publicKey;
    const { secret } = await table.join(joinInput('alpha', key));
    await assert.rejects(table.update('alpha', { publicKey: generateKeyPair().publicKey, secret }, { tags: { x: 'y' } }), IdentityMismatch);
    await assert.rejects(table.remove('alpha', { publicKey: generateKeyPair().publicKey }), IdentityMismatch);
    await assert.rejects(table.update('ghost', { publicKey: key }, {}), NodeNotFound);
    await assert.rejects(table.remove('ghost'), NodeNotFound);
    assert.equal(table.revision, 1);
    assert.ok(table.get('alpha'));
  });

  test('each table keeps its own verified secrets: a second table over the same state hashes the secret again', async () => {
    const first = await openTable();
    const key = generateKeyPair().publicKey;
    const { secret } = await first.table.join(joinInput('alpha', key));
    for (let i = 0; i < 3; i++) await first.table.update('alpha', { publicKey: key, secret }, { tags: { beat: String(i) } });
    assert.equal(first.table.verifiedSecrets.hashed, 1, 'heartbeats after the first compare with the secret that matched');

    // Another bootstrap in this process (or this one restarted) over the same state.
    const store = new MemoryStateStore();
    store.saved = structuredClone(first.store.saved);
    const second = await openTable({ store });
    await second.table.update('alpha', { publicKey: key, secret }, { tags: { beat: 'second' } });
    assert.equal(second.table.verifiedSecrets.hashed, 1, 'not skipped as verified: the second table hashed it');
    await second.table.update('alpha', { publicKey: key, secret }, { tags: { beat: 'again' } });
    assert.equal(second.table.verifiedSecrets.hashed, 1);
    assert.equal(first.table.verifiedSecrets.hashed, 1, "the second table's checks did not touch the first's");
    await assert.rejects(second.table.update('alpha', { publicKey: key, secret: `${secret.slice(1)}A` }, {}), IdentityMismatch);
  });

  test('200 concurrent joins get 200 different IPs and 200 revisions', async () => {
    const { table, published } = await openTable();
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => table.join(joinInput(`n${i}`))));
    const ips = results.map((r) => r.member.meshIp);
    assert.equal(new Set(ips).size, 200, 'no IP handed out twice');
    assert.equal(table.revision, 200);
    assert.equal(table.size, 200);
    assert.deepEqual(published.map((d) => d.revision), Array.from({ length: 200 }, (_, i) => i + 1), 'one delta per join, in order');
    assert.deepEqual(new Set(results.map((r) => r.revision)), new Set(published.map((d) => d.revision)), 'each join answered with its own revision');
  });

  test('a failing save leaves the table unchanged and publishes nothing', async () => {
    const store = new ControlledStore();
    const { table, published } = await openTable({ store });
    const key = generateKeyPair().publicKey;
    const { secret } = await table.join(joinInput('alpha', key));
    const before = JSON.stringify(table.list());
    const savedBefore = JSON.stringify(store.saved);

    store.failNext = true;
    await assert.rejects(table.join(joinInput('beta')), /disk full/);
    assert.equal(table.revision, 1, 'a join that could not be persisted did not happen');
    assert.equal(table.get('beta'), undefined);

    store.failNext = true;
    await assert.rejects(table.update('alpha', { publicKey: key, secret }, { tags: { role: 'changed' } }), /disk full/);
    store.failNext = true;
    await assert.rejects(table.remove('alpha'), /disk full/);

    assert.equal(table.revision, 1);
    assert.equal(JSON.stringify(table.list()), before);
    assert.equal(JSON.stringify(store.saved), savedBefore);
    assert.equal(published.length, 1, 'only the first join was published');
    assert.deepEqual(table.deltasSince(0)?.map((d) => d.revision), [1], 'and only it is in the history');

    // The table keeps working, and the IP beta did not get is handed out again.
    const beta = await table.join(joinInput('beta'));
    assert.equal(table.revision, 2);
    assert.equal(beta.member.meshIp, '10.232.0.2');
  });

  test('a change is persisted before it is visible or published', async () => {
    const store = new ControlledStore();
    const { table } = await openTable({ store });
    const order: string[] = store.log;
    table.subscribe((d) => {
      order.push(`publish ${d.revision}`);
      assert.equal(store.saved?.revision, d.revision, 'the store already holds the published revision');
      assert.ok(store.saved?.members.some((m) => d.kind === 'upsert' ? m.name === d.node.name : true));
    });
    order.length = 0;

    let release!: () => void;
    store.gate = new Promise((r) => { release = r; });
    const joining = table.join(joinInput('alpha'));
    // While the save is in flight the change is neither visible nor published.
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(order, ['save 1']);
    assert.equal(table.revision, 0);
    assert.equal(table.get('alpha'), undefined);

    store.gate = undefined;
    release();
    await joining;
    assert.deepEqual(order, ['save 1', 'saved 1', 'publish 1']);
    assert.equal(table.revision, 1);
  });

  test('list() is sorted by name and hides what proves identity (certificate, node secret)', async () => {
    const { table } = await openTable();
    const cert = (name: string) => ({ fingerprint: `fp-${name}`, serial: `5e${name.length}`, notAfterMs: Date.now() + 86_400_000 });
    for (const name of ['zulu', 'alpha']) await table.join(joinInput(name, generateKeyPair().publicKey, { identity: { publicKey: generateKeyPair().publicKey, cert: cert(name) } }));
    await table.join(joinInput('mike', generateKeyPair().publicKey));
    assert.ok(table.get('mike')!.secretHash, 'the dev-mode member keeps its secret hash');
    assert.equal(table.get('alpha')!.certSerial, '5e5', 'the mTLS member keeps its certificate serial');
    const nodes = table.list();
    assert.deepEqual(nodes.map((n) => n.name), ['alpha', 'mike', 'zulu']);
    for (const n of nodes) {
      for (const hidden of ['certFingerprint', 'certSerial', 'certNotAfterMs', 'secretHash']) assert.ok(!(hidden in n), `${n.name} shows no ${hidden}`);
    }
  });

  test('RTT reports are kept outside the membership: the matrix has rows between current members only', async () => {
    const { table, published, store } = await openTable();
    const keys = { a: generateKeyPair().publicKey, b: generateKeyPair().publicKey, c: generateKeyPair().publicKey };
    const secrets: Record<string, string> = {};
    for (const [name, key] of Object.entries(keys)) secrets[name] = (await table.join(joinInput(name, key))).secret;
    const revision = table.revision;
    const saves = store.saves;
    published.length = 0;
    await table.update('a', { publicKey: keys.a, secret: secrets.a }, { rtt: [{ peer: 'b', rttMs: 1, loss: 0, measuredAtMs: 0 }, { peer: 'c', rttMs: 2, loss: 0, measuredAtMs: 0 }, { peer: 'gone', rttMs: 3, loss: 0, measuredAtMs: 0 }] });
    await table.update('b', { publicKey: keys.b, secret: secrets.b }, { rtt: [{ peer: 'a', rttMs: 1.5, loss: 0.5, measuredAtMs: 0 }] });
    await table.update('b', { publicKey: keys.b, secret: secrets.b }, { rtt: [] }); // no news: b's last report stays
    assert.equal(table.revision, revision, 'no revision for measurements');
    assert.equal(store.saves, saves, 'nothing saved');
    assert.deepEqual(published, [], 'nothing published');
    assert.deepEqual(table.rttMatrix(), {
      nodes: ['a', 'b', 'c'],
      rows: [{ from: 'a', to: 'b', rttMs: 1, loss: 0, measuredAtMs: 0 }, { from: 'a', to: 'c', rttMs: 2, loss: 0, measuredAtMs: 0 }, { from: 'b', to: 'a', rttMs: 1.5, loss: 0.5, measuredAtMs: 0 }],
      partial: false,
    });
    await table.remove('b', { publicKey: keys.b, secret: secrets.b });
    assert.deepEqual(table.rttMatrix().rows, [{ from: 'a', to: 'c', rttMs: 2, loss: 0, measuredAtMs: 0 }], "b's report and the rows to b are gone with b");
  });

  test('a fresh matrix tells every listener (outside the membership) and answers once every alive member reported figures measured after the question', async () => {
    const { table, published } = await openTable();
    const keys = { a: generateKeyPair().publicKey, b: generateKeyPair().publicKey };
    const secrets: Record<string, string> = {};
    for (const [name, key] of Object.entries(keys)) secrets[name] = (await table.join(joinInput(name, key))).secret;
    const revision = table.revision;
    published.length = 0;
    const wanted: number[] = [];
    const stop = table.onRttWanted((untilMs) => wanted.push(untilMs));
    // Step 1: asked; both nodes are told, nothing enters the membership.
    const askedMs = Date.now();
    let answered = false;
    const answer = table.freshRttMatrix(10_000).then((m) => {
      answered = true;
      return m;
    });
    assert.equal(wanted.length, 1);
    assert.ok(wanted[0]! >= askedMs + 5_000, 'nodes probe often for a while after');
    assert.equal(table.revision, revision);
    assert.deepEqual(published, []);
    // Step 2: a's figures come (measured now); b's old ones do not count: still waiting.
    await table.update('a', { publicKey: keys.a, secret: secrets.a }, { rtt: [{ peer: 'b', rttMs: 1, loss: 0, measuredAtMs: Date.now() }] });
    await table.update('b', { publicKey: keys.b, secret: secrets.b }, { rtt: [{ peer: 'a', rttMs: 1, loss: 0, measuredAtMs: askedMs - 30_000 }] });
    await new Promise((resolve) => setTimeout(resolve, 250));
    assert.equal(answered, false, "b's figure predates the question");
    // Step 3: b's fresh figures: the answer comes with both.
    await table.update('b', { publicKey: keys.b, secret: secrets.b }, { rtt: [{ peer: 'a', rttMs: 1.2, loss: 0, measuredAtMs: Date.now() }] });
    const matrix = await answer;
    assert.deepEqual(matrix.rows.map((r) => [r.from, r.to, r.rttMs]), [['a', 'b', 1], ['b', 'a', 1.2]]);
    stop();
    // Step 4: with nothing new coming, the answer waits at most as long as asked.
    const t0 = Date.now();
    await table.freshRttMatrix(300);
    assert.ok(Date.now() - t0 < 2_000);
    assert.equal(wanted.length, 1, 'a listener that stopped is not told');
  });

  test('RTT reports merge by peer: a report updates the samples it carries and leaves the others', async () => {
    const { table } = await openTable();
    const keys = { a: generateKeyPair().publicKey, b: generateKeyPair().publicKey, c: generateKeyPair().publicKey, d: generateKeyPair().publicKey };
    const secrets: Record<string, string> = {};
    for (const [name, key] of Object.entries(keys)) secrets[name] = (await table.join(joinInput(name, key))).secret;
    // A node in a large mesh reports its peers a part at a time.
    await table.update('a', { publicKey: keys.a, secret: secrets.a }, { rtt: [{ peer: 'b', rttMs: 1, loss: 0, measuredAtMs: 0 }, { peer: 'c', rttMs: 2, loss: 0, measuredAtMs: 0 }] });
    await table.update('a', { publicKey: keys.a, secret: secrets.a }, { rtt: [{ peer: 'd', rttMs: 4, loss: 0, measuredAtMs: 0 }, { peer: 'c', rttMs: 3, loss: 0.25, measuredAtMs: 0 }] });
    const rowsOfA = () => table.rttMatrix().rows.filter((r) => r.from === 'a').sort((x, y) => x.to.localeCompare(y.to));
    assert.deepEqual(rowsOfA(), [
      { from: 'a', to: 'b', rttMs: 1, loss: 0, measuredAtMs: 0 },
      { from: 'a', to: 'c', rttMs: 3, loss: 0.25, measuredAtMs: 0 },
      { from: 'a', to: 'd', rttMs: 4, loss: 0, measuredAtMs: 0 },
    ]);

    // A member that leaves takes the figures about it along; one that comes back starts without.
    await table.remove('d', { publicKey: keys.d, secret: secrets.d });
    await table.join(joinInput('d', keys.d));
    assert.deepEqual(rowsOfA().map((r) => r.to), ['b', 'c']);
  });

  test('a state file from before RTT left the membership loads without the samples it carried', async () => {
    const first = await openTable();
    await first.table.join(joinInput('alpha'));
    const saved = first.store.saved!;
    const old = { ...saved, members: saved.members.map((m) => ({ ...m, rtt: [{ peer: 'beta', rttMs: 1, loss: 0, measuredAtMs: 0 }] })) };
    const store = new MemoryStateStore();
    store.saved = old;
    const { table } = await openTable({ store });
    assert.ok(table.get('alpha'));
    assert.ok(!('rtt' in table.get('alpha')!), 'not kept in the member');
    assert.ok(!('rtt' in table.list()[0]!), 'so not sent to watchers');
  });

  describe('identity: names and public keys are known to every member, so they prove nothing', () => {
    test('dev mode: update, remove, Rtt and re-join need the secret given at join; name and key alone are refused', async () => {
      const { table, published } = await openTable();
      const key = generateKeyPair().publicKey;
      const { secret } = await table.join(joinInput('alpha', key));
      assert.match(secret, /^[A-Za-z0-9_-]{43}$/, 'a 256-bit secret');
      assert.notEqual(table.get('alpha')!.secretHash, secret, 'only its hash is kept');
      const before = JSON.stringify(table.list());

      await assert.rejects(table.update('alpha', { publicKey: key }, { tags: { hijacked: 'yes' } }), IdentityMismatch);
      await assert.rejects(table.update('alpha', { publicKey: key, secret: 'x'.repeat(43) }, { tags: { hijacked: 'yes' } }), IdentityMismatch);
      await assert.rejects(table.remove('alpha', { publicKey: key }), IdentityMismatch);
      assert.throws(() => table.authorize('alpha', { publicKey: key }), IdentityMismatch);
      await assert.rejects(table.join(joinInput('alpha', key, { endpoints: [{ ip: '203.0.113.66', port: 51820, kind: 'ENDPOINT_KIND_LAN' }] })), NameTaken);
      assert.equal(JSON.stringify(table.list()), before, 'nothing changed');
      assert.equal(published.length, 1);

      // The node itself, with its secret, is accepted (and a secret with another key is not).
      await table.update('alpha', { publicKey: key, secret }, { tags: { role: 'mine' } });
      assert.equal(table.get('alpha')!.tags.role, 'mine');
      await assert.rejects(table.update('alpha', { publicKey: generateKeyPair().publicKey, secret }, {}), IdentityMismatch);
      await table.remove('alpha', { publicKey: key, secret });
      assert.equal(table.get('alpha'), undefined);
    });

    test("a second member may not join with another member's public key", async () => {
      const { table, published } = await openTable();
      const key = generateKeyPair().publicKey;
      await table.join(joinInput('alpha', key));
      await assert.rejects(table.join(joinInput('mallory', key)), PublicKeyTaken);
      const beta = await table.join(joinInput('beta'));
      // Nor take it over in a re-join of its own.
      await assert.rejects(table.join(joinInput('beta', key, { identity: { publicKey: key, secret: beta.secret } })), PublicKeyTaken);
      assert.deepEqual(table.list().map((n) => n.name), ['alpha', 'beta']);
      assert.equal(published.length, 2);
    });

    test('mTLS: the certificate is the identity (a renewed one too); a call without one is refused for a certificate member', async () => {
      const { table } = await openTable();
      const key = generateKeyPair().publicKey;
      const cert = { fingerprint: 'fp-1', serial: 'a1', notAfterMs: Date.now() + 86_400_000 };
      const first = await table.join(joinInput('alpha', key, { identity: { publicKey: key, cert } }));
      assert.equal(first.secret, '', 'no secret with mTLS');
      const renewed = { fingerprint: 'fp-2', serial: 'a2', notAfterMs: Date.now() + 2 * 86_400_000 };
      await table.update('alpha', { publicKey: key, cert: renewed }, {});
      assert.equal(table.get('alpha')!.certSerial, 'a2', 'the certificate in use is recorded');
      await assert.rejects(table.update('alpha', { publicKey: key }, {}), IdentityMismatch);
      await assert.rejects(table.update('alpha', { publicKey: key, secret: 'anything' }, {}), IdentityMismatch);
    });

    test("the bootstrap's own node is acted for in-process only: its name and key, known to all, are refused from anyone else", async () => {
      const { table, published } = await openTable();
      const key = generateKeyPair().publicKey;
      const local = { publicKey: key, local: true };
      await table.join(joinInput('boot', key, { identity: local, isBootstrap: true }));
      const before = JSON.stringify(table.list());

      await assert.rejects(table.remove('boot', { publicKey: key }), IdentityMismatch);
      await assert.rejects(table.remove('boot', { publicKey: key, secret: 'x'.repeat(43) }), IdentityMismatch);
      await assert.rejects(table.update('boot', { publicKey: key }, { tags: { hijacked: 'yes' } }), IdentityMismatch);
      assert.throws(() => table.authorize('boot', { publicKey: key }), IdentityMismatch);
      await assert.rejects(table.join(joinInput('boot', key)), NameTaken);
      await assert.rejects(table.join(joinInput('boot', generateKeyPair().publicKey)), NameTaken);
      assert.equal(JSON.stringify(table.list()), before, 'nothing changed');
      assert.equal(published.length, 1);

      // The bootstrap itself still is.
      await table.update('boot', local, { tags: { role: 'mine' } });
      assert.equal(table.get('boot')!.tags.role, 'mine');
    });

    test('a member from before node secrets is accepted by its key, and takes the secret it brings when it re-joins with an upgraded agent', async () => {
      const store = new MemoryStateStore();
      const first = await openTable({ store });
      const key = generateKeyPair().publicKey;
      await first.table.join(joinInput('alpha', key));
      const { secretHash: _dropped, ...legacy } = store.saved!.members[0]!;
      store.saved = { ...store.saved!, members: [legacy] };
      const { table } = await openTable({ store });
      await table.update('alpha', { publicKey: key }, { tags: { role: 'legacy' } });
      // An agent not yet upgraded re-joins: it would drop a secret, so it stays bound to its key.
      const old = await table.join(joinInput('alpha', key));
      assert.equal(old.secret, '');
      assert.equal(table.get('alpha')!.secretHash, undefined);
      await table.update('alpha', { publicKey: key }, { tags: { role: 'still legacy' } });
      // An upgraded one brings its secret, and from then on the secret is needed.
      const again = await table.join(joinInput('alpha', key, { identity: { publicKey: key, secret: 'S'.repeat(43) } }));
      assert.equal(again.secret, 'S'.repeat(43));
      await assert.rejects(table.update('alpha', { publicKey: key }, {}), IdentityMismatch, 'from then on the secret is needed');
      await table.update('alpha', { publicKey: key, secret: again.secret }, {});
    });
  });
});

describe('spreadCandidates: where a join on one of several bootstraps starts looking', () => {
  const free = (n: number) => Array.from({ length: n }, (_, i) => `10.0.0.${i + 1}`);
  test('every free address exactly once; the first 32 rotated by the name, the rest in order after them', () => {
    const out = [...spreadCandidates(free(40), 'node-a')];
    assert.deepEqual([...out].sort(), [...free(40)].sort());
    assert.deepEqual(out.slice(32), free(40).slice(32));
    assert.ok(free(32).includes(out[0]!));
  });
  test('names spread: 12 names start at 8 or more different addresses', () => {
    const starts = new Set(Array.from({ length: 12 }, (_, i) => [...spreadCandidates(free(100), `h${i + 4}`)][0]));
    assert.ok(starts.size >= 8, [...starts].join(' '));
  });
  test('fewer free addresses than the window, or none', () => {
    assert.deepEqual([...spreadCandidates(free(3), 'x')].sort(), free(3).sort());
    assert.deepEqual([...spreadCandidates([], 'x')], []);
  });
});

describe('MemberTable: the mesh\'s layer 2 (bootstrap -l2)', () => {
  const L2 = { vni: 4242, port: 4789 };

  test('a new mesh with -l2 keeps it in its state and tells every joining node', async () => {
    const store = new MemoryStateStore();
    const table = await MemberTable.open(store, new Ipam('10.232.0.0/16'), { meshName: MESH, clock: manualClock(), l2: L2 });
    assert.deepEqual(store.saved?.l2, L2);
    const joined = await table.join(joinInput('alpha'));
    assert.deepEqual(table.joinResponse(joined.member).l2, { enabled: true, ...L2 });
    assert.deepEqual(store.saved?.l2, L2, 'every later save keeps it');
  });

  test('a restart without -l2 keeps the mesh\'s layer 2; one with other settings is refused', async () => {
    const store = new MemoryStateStore();
    await MemberTable.open(store, new Ipam('10.232.0.0/16'), { meshName: MESH, clock: manualClock(), l2: L2 });
    const restarted = await MemberTable.open(store, new Ipam('10.232.0.0/16'), { meshName: MESH, clock: manualClock() });
    assert.deepEqual(restarted.l2Settings, L2);
    assert.deepEqual(restarted.joinResponse({ name: 'x', meshIp: '10.232.0.9' }).l2, { enabled: true, ...L2 });
    await assert.rejects(
      MemberTable.open(store, new Ipam('10.232.0.0/16'), { meshName: MESH, clock: manualClock(), l2: { vni: 5, port: 4789 } }),
      /layer 2 with VNI 4242, port 4789, but this bootstrap was started with VNI 5/,
    );
  });

  test('a mesh without layer 2 says so (null), and gets it when restarted with -l2', async () => {
    const store = new MemoryStateStore();
    const table = await MemberTable.open(store, new Ipam('10.232.0.0/16'), { meshName: MESH, clock: manualClock() });
    assert.equal(table.joinResponse({ name: 'x', meshIp: '10.232.0.9' }).l2, null);
    assert.equal(store.saved?.l2, undefined);
    await MemberTable.open(store, new Ipam('10.232.0.0/16'), { meshName: MESH, clock: manualClock(), l2: L2 });
    assert.deepEqual(store.saved?.l2, L2);
  });
});
