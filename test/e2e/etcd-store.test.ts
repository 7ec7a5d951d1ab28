/**
 * EtcdMeshStore, the etcd side of a member table several bootstraps share, against a real
 * 3-member etcd cluster in network namespaces (test/helpers/etcd.ts). Each test uses its own key
 * prefix on the one cluster, so they do not see each other's members.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runCapture } from '@wgmesh/cli/lab';
import { EtcdMeshStore, RangeExhausted, StoreConflict, StoreMeshMismatch, StoreUnavailable, type Member, type MemberEvent } from '@wgmesh/bootstrap';
import { etcdSkipReason, startEtcdCluster, type EtcdCluster } from '../helpers/etcd.js';
import { waitFor } from '../helpers/wait.js';

const MESH = 'etcdt';
/** The mesh's addresses are only values in etcd here, but TEST-NET all the same. */
const CIDR = '198.51.100.0/24';
const skip = await etcdSkipReason();

/** 198.51.100.1 … .254, in order: what the bootstrap's IPAM would offer. */
function* candidates(): Generator<string> {
  for (let i = 1; i < 255; i++) yield `198.51.100.${i}`;
}

function member(name: string, extra: Partial<Member> = {}): Member {
  return {
    name, publicKey: `${name}-key`.padEnd(44, '='), meshIp: '', endpoints: [], tags: {}, status: 'ONLINE' as Member['status'],
    joinedAtMs: 1_700_000_000_000, lastSeenMs: 1_700_000_000_000, statusChangedMs: 1_700_000_000_000, isBootstrap: false, listenPort: 51820,
    relay: false, certFingerprint: '', ...extra,
  };
}

/** Retries an allocation refused while etcd was unavailable, until it succeeds or the deadline passes. */
async function allocateRetrying(store: EtcdMeshStore, name: string, deadlineMs: number): Promise<{ ip: string; attempts: number; errors: string[]; ms: number }> {
  const errors: string[] = [];
  const started = performance.now();
  for (let attempts = 1; ; attempts++) {
    try {
      const { member: m } = await store.allocate(name, candidates(), member(name));
      return { ip: m.meshIp, attempts, errors, ms: Math.round(performance.now() - started) };
    } catch (err) {
      if (!(err instanceof StoreUnavailable) || Date.now() > deadlineMs) throw err;
      errors.push(err.message);
      // As a joining agent does, not at once: calls made back to back while the etcd client's
      // circuit breakers are open fail in milliseconds and keep them open (a CI run spent its
      // 20 s that way once).
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

describe('EtcdMeshStore on a real 3-member etcd cluster', { skip }, () => {
  let cluster: EtcdCluster;
  const stores: EtcdMeshStore[] = [];
  /** A store as a bootstrap would open one: `endpoints` (default every member), its own prefix. */
  const openStore = async (prefix: string, endpoints: readonly string[] = cluster.endpoints, cidr = CIDR) => {
    const store = new EtcdMeshStore({ endpoints, meshName: MESH, cidr, prefix });
    stores.push(store);
    await store.open();
    return store;
  };

  before(async () => {
    cluster = await startEtcdCluster({ prefix: 'wgetcd', size: 3 });
  });

  after(async () => {
    for (const store of stores) await store.close().catch(() => undefined);
    await cluster?.cleanup();
  });

  test('open creates the mesh record once and refuses a prefix holding another CIDR', async (t) => {
    t.diagnostic(`etcd cluster (3 members) healthy ${cluster.startMs} ms after start`);
    const first = new EtcdMeshStore({ endpoints: cluster.endpoints, meshName: MESH, cidr: CIDR, prefix: '/t-open/' });
    stores.push(first);
    assert.equal((await first.open()).created, true);
    const second = await openStore('/t-open/');
    assert.equal((await second.open()).created, false);
    const other = new EtcdMeshStore({ endpoints: cluster.endpoints, meshName: MESH, cidr: '198.51.100.0/25', prefix: '/t-open/' });
    stores.push(other);
    await assert.rejects(other.open(), (err: unknown) => err instanceof StoreMeshMismatch && /holds mesh "etcdt" \(198\.51\.100\.0\/24\)/.test(err.message));
  });

  test('an allocation creates the IP and the member only if both are absent', async () => {
    const store = await openStore('/t-alloc/');
    // a takes the first candidate, b the next one free.
    const a = await store.allocate('a', candidates(), member('a'));
    assert.equal(a.member.meshIp, '198.51.100.1');
    const b = await store.allocate('b', candidates(), member('b'));
    assert.equal(b.member.meshIp, '198.51.100.2');
    // A second, different "a" is refused, naming a's mod revision.
    await assert.rejects(store.allocate('a', candidates(), member('a', { publicKey: 'other'.padEnd(44, '=') })),
      (err: unknown) => err instanceof StoreConflict && err.actualModRevision === a.modRevision);
    // The same "a" again (a retry after a lost answer) is the allocation that already happened.
    assert.deepEqual(await store.allocate('a', candidates(), member('a')), a);
    // No candidate left.
    await assert.rejects(store.allocate('c', ['198.51.100.1', '198.51.100.2'], member('c')), RangeExhausted);
    assert.deepEqual(await store.audit(), { revision: (await store.audit()).revision, members: 2, ips: 2, orphanIps: [], membersWithoutIp: [] });
  });

  test('50 concurrent allocations through three bootstraps (one etcd member each) never share an IP', async (t) => {
    const bootstraps = await Promise.all(cluster.endpoints.map((endpoint) => openStore('/t-conc/', [endpoint])));
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => bootstraps[i % 3]!.allocate(`n${i}`, candidates(), member(`n${i}`))));
    t.diagnostic(`50 concurrent allocations on 3 bootstraps: ${Math.round(performance.now() - started)} ms`);
    const ips = results.map((r) => r.member.meshIp);
    assert.equal(new Set(ips).size, 50, 'every IP given once');
    assert.deepEqual([...ips].sort(), [...candidates()].slice(0, 50).sort(), 'the first 50 candidates, no gaps');
    const audit = await bootstraps[0]!.audit();
    assert.equal(audit.members, 50);
    assert.deepEqual([audit.orphanIps, audit.membersWithoutIp], [[], []]);
  });

  test('a re-join at the expected mod revision keeps the IP; a stale one is refused', async () => {
    const store = await openStore('/t-rejoin/');
    await store.allocate('x', candidates(), member('x'));
    const a = await store.allocate('a', candidates(), member('a'));
    // a comes back with new endpoints, on another bootstrap that read it first.
    const rejoined = await store.allocate('a', candidates(), member('a', { endpoints: [{ ip: '192.0.2.7', port: 51820 } as Member['endpoints'][number]] }), { expectedModRevision: a.modRevision });
    assert.equal(rejoined.member.meshIp, a.member.meshIp);
    assert.ok(rejoined.modRevision > a.modRevision);
    assert.deepEqual((await store.get('a'))?.member.endpoints, rejoined.member.endpoints);
    // The first bootstrap, still holding the old revision, loses.
    await assert.rejects(store.put(member('a', { meshIp: a.member.meshIp }), a.modRevision),
      (err: unknown) => err instanceof StoreConflict && err.expectedModRevision === a.modRevision && err.actualModRevision === rejoined.modRevision);
  });

  test('removing a member frees its IP in the same transaction', async () => {
    const store = await openStore('/t-remove/');
    const a = await store.allocate('a', candidates(), member('a'));
    await store.allocate('b', candidates(), member('b'));
    await assert.rejects(store.remove('a', a.modRevision - 1), StoreConflict);
    await store.remove('a', a.modRevision);
    assert.equal(await store.get('a'), undefined);
    assert.deepEqual((await store.audit()).ips, 1);
    // a's IP is the first free one again.
    assert.equal((await store.allocate('c', candidates(), member('c'))).member.meshIp, a.member.meshIp);
  });

  test('the preshared-key secret (-psk) is made once: every bootstrap reads the same one, and a seed counts only when there is none', async () => {
    const [a, b] = [await openStore('/psk-secret/'), await openStore('/psk-secret/')];
    const seed = Buffer.alloc(32, 4);
    const made = await a.presharedKeySecret(seed);
    assert.deepEqual(made, seed, 'the first one seeds it (a mesh moved from a state file keeps its secret)');
    assert.deepEqual(await b.presharedKeySecret(), made, 'another bootstrap reads it');
    assert.deepEqual(await b.presharedKeySecret(Buffer.alloc(32, 5)), made, 'a later seed is ignored');
    const fresh = await (await openStore('/psk-fresh/')).presharedKeySecret();
    assert.equal(fresh.length, 32);
    assert.notDeepEqual(fresh, made, 'without a seed: random');
  });

  test('a watch delivers every change in revision order, resumes after a revision, and says when it is compacted', async () => {
    const store = await openStore('/t-watch/');
    await store.allocate('before', candidates(), member('before'));
    const { revision: listed } = await store.list();
    const events: MemberEvent[] = [];
    const watch = store.watch(listed, (e) => events.push(e));

    // Changes made on another bootstrap (another etcd member) arrive here.
    const other = await openStore('/t-watch/', [cluster.endpoints[2]!]);
    const a = await other.allocate('a', candidates(), member('a'));
    const b = await other.allocate('b', candidates(), member('b'));
    const a2 = await other.put({ ...a.member, lastSeenMs: 1 }, a.modRevision);
    const removed = await other.remove('b', b.modRevision);
    await waitFor('four watch events', () => events.length >= 4);
    await watch.stop();
    assert.deepEqual(events.map((e) => [e.type, e.type === 'compacted' ? e.compactRevision : e.revision, e.type === 'upsert' ? e.member.name : e.type === 'remove' ? e.name : '']), [
      ['upsert', a.modRevision, 'a'],
      ['upsert', b.modRevision, 'b'],
      ['upsert', a2.modRevision, 'a'],
      ['remove', removed.revision, 'b'],
    ]);
    assert.equal(watch.revision, removed.revision);

    // Resuming after the second event delivers exactly the last two.
    const resumed: MemberEvent[] = [];
    const again = store.watch(b.modRevision, (e) => resumed.push(e));
    await waitFor('the two later events', () => resumed.length >= 2);
    await again.stop();
    assert.deepEqual(resumed.map((e) => (e.type === 'compacted' ? -1 : e.revision)), [a2.modRevision, removed.revision]);

    // Once etcd compacts past a revision, a watch from there ends with 'compacted'.
    const compactAt = (await store.list()).revision;
    const compacted = await runCapture('etcdctl', ['--endpoints', cluster.endpoints.join(','), 'compact', String(compactAt)]);
    assert.equal(compacted.code, 0, compacted.stderr);
    const late: MemberEvent[] = [];
    store.watch(listed, (e) => late.push(e));
    await waitFor('the compacted signal', () => late.length >= 1);
    assert.deepEqual(late, [{ type: 'compacted', compactRevision: compactAt }]);
  });

  test('the etcd leader killed (SIGKILL) during 10 concurrent allocations: each succeeds once, none is lost or leaked', async (t) => {
    const bootstraps = await Promise.all([0, 1, 2].map(() => openStore('/t-leader/')));
    const leader = await cluster.leader();
    const deadline = Date.now() + 20_000;
    // Five allocations in flight when the signal lands, five more sent right after it, into the
    // election: etcd commits nothing until a new leader is elected.
    const allocations = Array.from({ length: 5 }, (_, i) => allocateRetrying(bootstraps[i % 3]!, `k${i}`, deadline));
    const killedAt = performance.now();
    const killed = cluster.kill(leader, 'SIGKILL');
    allocations.push(...Array.from({ length: 5 }, (_, i) => allocateRetrying(bootstraps[(i + 5) % 3]!, `k${i + 5}`, deadline)));
    await killed;
    const next = await cluster.leader();
    const electionMs = Math.round(performance.now() - killedAt);
    assert.notEqual(next.name, leader.name);

    const results = await Promise.all(allocations);
    const retried = results.filter((r) => r.attempts > 1);
    t.diagnostic(`leader ${leader.name} killed; ${next.name} leads after ${electionMs} ms; allocations took ${Math.min(...results.map((r) => r.ms))}-${Math.max(...results.map((r) => r.ms))} ms; ${retried.length} of 10 retried after StoreUnavailable (${[...new Set(retried.flatMap((r) => r.errors))].join(' | ').slice(0, 300)})`);
    for (const message of retried.flatMap((r) => r.errors)) assert.match(message, /^etcd is unreachable at /);
    assert.equal(new Set(results.map((r) => r.ip)).size, 10, 'ten different IPs');
    const audit = await bootstraps[0]!.audit();
    assert.deepEqual({ members: audit.members, ips: audit.ips, orphanIps: audit.orphanIps, membersWithoutIp: audit.membersWithoutIp }, { members: 10, ips: 10, orphanIps: [], membersWithoutIp: [] });

    await cluster.restart(leader);
  });

  test('with every etcd member stopped, calls fail quickly with StoreUnavailable naming the endpoints', async (t) => {
    const store = await openStore('/t-down/');
    await cluster.stop();
    for (const call of [() => store.list(), () => store.allocate('a', candidates(), member('a'))]) {
      const started = performance.now();
      await assert.rejects(call(), (err: unknown) => err instanceof StoreUnavailable && err.message.startsWith(`etcd is unreachable at ${cluster.endpoints.join(', ')}`));
      const ms = performance.now() - started;
      t.diagnostic(`StoreUnavailable after ${Math.round(ms)} ms`);
      assert.ok(ms < 3_500, `failed within the 3 s operation timeout (took ${Math.round(ms)} ms)`);
    }
  });
});
