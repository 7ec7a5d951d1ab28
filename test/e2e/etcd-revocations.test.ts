/**
 * The revocation list of bootstraps with -ca-key in etcd (EtcdCertificateStore): a certificate one
 * bootstrap revokes is refused by the other within its refresh. Two stores on one prefix stand
 * for two bootstraps, against a real 1-member etcd in a network namespace (test/helpers/etcd.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CertificateRevocation, EtcdMeshStore } from '@wgmesh/bootstrap';
import { etcdSkipReason, startEtcdCluster, type EtcdCluster } from '../helpers/etcd.js';
import { waitFor } from '../helpers/wait.js';

const MESH = 'erev';
const CIDR = '198.51.100.0/24';
const skip = await etcdSkipReason();

describe('a bootstrap\'s revocations in etcd, enforced by every bootstrap of the mesh', { skip }, () => {
  let cluster: EtcdCluster;
  const stores: EtcdMeshStore[] = [];
  const revocations: CertificateRevocation[] = [];
  const open = async () => {
    const store = new EtcdMeshStore({ endpoints: cluster.endpoints, meshName: MESH, cidr: CIDR, prefix: '/t-revocations/' });
    stores.push(store);
    await store.open();
    const revocation = new CertificateRevocation({ store: store.certificateStore(), clock: { now: () => Date.now() }, members: () => [], enforce: async () => undefined }, { refreshMs: 100 });
    revocations.push(revocation);
    await revocation.start();
    return revocation;
  };

  before(async () => {
    cluster = await startEtcdCluster({ prefix: 'wgerev', size: 1, segment: '198.51.100', block: 9 });
  });

  after(async () => {
    for (const r of revocations) r.stop();
    for (const store of stores) await store.close().catch(() => undefined);
    await cluster?.cleanup();
  });

  test('a certificate signed at one bootstrap and revoked by name at the other is refused by both; a bootstrap started later reads it at once', async (t) => {
    const [a, b] = [await open(), await open()];
    await a.recordIssued({ name: 'web1', serial: '0ABC', notAfterMs: Date.now() + 86_400_000 });
    const res = await b.revoke('web1');
    assert.deepEqual(res.revoked?.map((r) => [r.name, r.serial, r.source]), [['web1', 'abc', 'enrolled']]);
    assert.ok(b.isRevoked('abc'));
    const startedAt = Date.now();
    await waitFor('the other bootstrap to refuse it', async () => a.isRevoked('ABC'), 5_000, 20);
    t.diagnostic(`the other bootstrap refused it ${Date.now() - startedAt} ms later`);
    const c = await open();
    assert.ok(c.isRevoked('abc'), 'read at start');
    assert.deepEqual((await c.list(false)).map((r) => r.name), ['web1']);
  });
});
