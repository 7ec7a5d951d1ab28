/**
 * EtcdTokenStore: enrollment tokens kept beside the members in etcd, so a token one bootstrap made
 * is accepted by any other. Two stores on one prefix stand for two bootstraps, against a real
 * 1-member etcd in a network namespace (test/helpers/etcd.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdMeshStore, newTokenSecret, tokenHash, tokenId, TokenExpired, TokenNotFound, TokenRevoked, TokenUnknown, TokenUsed, type TokenRecord } from '@wgmesh/bootstrap';
import { etcdSkipReason, startEtcdCluster, type EtcdCluster } from '../helpers/etcd.js';

const MESH = 'etok';
const CIDR = '198.51.100.0/24';
const NOW = 1_800_000_000_000;
const skip = await etcdSkipReason();

function record(over: Partial<TokenRecord> = {}): TokenRecord {
  const hash = tokenHash(newTokenSecret());
  return { hash, id: tokenId(hash), tags: {}, createdMs: NOW, expiresMs: NOW + 3_600_000, uses: 1, used: 0, usedBy: [], ...over };
}

describe('enrollment tokens in etcd, shared by two bootstraps', { skip }, () => {
  let cluster: EtcdCluster;
  const stores: EtcdMeshStore[] = [];
  const open = async () => {
    const store = new EtcdMeshStore({ endpoints: cluster.endpoints, meshName: MESH, cidr: CIDR, prefix: '/t-tokens/' });
    stores.push(store);
    await store.open();
    return store.tokenStore();
  };

  before(async () => {
    cluster = await startEtcdCluster({ prefix: 'wgetok', size: 1, segment: '198.51.100', block: 12 });
  });

  after(async () => {
    for (const store of stores) await store.close().catch(() => undefined);
    await cluster?.cleanup();
  });

  test('a token made at one bootstrap is used at the other, once; the list shows who used it', async () => {
    const [a, b] = [await open(), await open()];
    const r = record({ name: 'web1' });
    await a.add(r);
    assert.equal((await b.get(r.hash))?.name, 'web1');
    assert.deepEqual((await b.consume(r.hash, NOW, 'web1')).usedBy, ['web1']);
    await assert.rejects(a.consume(r.hash, NOW, 'web1'), (err: unknown) => err instanceof TokenUsed && /already used/.test(err.message));
    assert.equal((await a.list()).find((t) => t.hash === r.hash)?.used, 1);
  });

  test('two bootstraps racing with a one-use token: exactly one wins; a 3-use token is used three times in all', async () => {
    const [a, b] = [await open(), await open()];
    const one = record();
    await a.add(one);
    const results = await Promise.allSettled([a.consume(one.hash, NOW, 'x'), b.consume(one.hash, NOW, 'y'), a.consume(one.hash, NOW, 'z'), b.consume(one.hash, NOW, 'w')]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, JSON.stringify(results.map((r) => r.status)));
    const three = record({ uses: 3 });
    await b.add(three);
    const more = await Promise.allSettled(['p', 'q', 'r', 's', 't'].map((n, i) => (i % 2 ? a : b).consume(three.hash, NOW, n)));
    assert.equal(more.filter((r) => r.status === 'fulfilled').length, 3);
    assert.equal((await a.get(three.hash))?.used, 3);
  });

  test('expired, revoked (at the other bootstrap) and unknown tokens are refused', async () => {
    const [a, b] = [await open(), await open()];
    const r = record();
    await a.add(r);
    await assert.rejects(b.consume(r.hash, r.expiresMs, 'n'), TokenExpired);
    await b.revoke(r.id, NOW);
    await assert.rejects(a.consume(r.hash, NOW, 'n'), TokenRevoked);
    await assert.rejects(a.consume(tokenHash('never'), NOW, 'n'), TokenUnknown);
    await assert.rejects(a.revoke('ffffffffffff', NOW), TokenNotFound);
  });
});
