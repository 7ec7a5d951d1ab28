/**
 * EtcdMeshStore without an etcd: the parts that need none (key ranges, TLS options, failing fast
 * when nothing answers). The store against a real 3-member cluster is test/e2e/etcd-store.test.ts:
 * that cluster lives in network namespaces made by test/helpers/etcd.ts, which a package's tests
 * do not reach into (test/deps.spec.ts).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { EtcdMeshStore } from '../../src/store/etcd-mesh-store.js';
import { prefixRangeEnd } from '../../src/store/etcd-watch.js';
import { isUnavailable } from '../../src/store/etcd-client.js';
import { StoreUnavailable } from '../../src/errors.js';

/** A loopback port nobody listens on: bound, then closed again. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('EtcdMeshStore without etcd', () => {
  test('a prefix watch covers exactly the keys that start with the prefix', () => {
    assert.deepEqual(prefixRangeEnd(Buffer.from('/wgmesh/m/members/')), Buffer.from('/wgmesh/m/members0'));
    assert.deepEqual(prefixRangeEnd(Buffer.from([0x61, 0xff])), Buffer.from([0x62]));
    assert.deepEqual(prefixRangeEnd(Buffer.from([0xff])), Buffer.from([0]));
  });

  test('TLS options must come together, and the key prefix must end with "/"', () => {
    const base = { endpoints: ['https://127.0.0.1:2379'], meshName: 'm', cidr: '198.51.100.0/24' };
    assert.throws(() => new EtcdMeshStore({ ...base, caCert: 'ca', cert: 'cert' }), /both a client certificate and its key/);
    assert.throws(() => new EtcdMeshStore({ ...base, cert: 'cert', key: 'key' }), /needs the CA certificate/);
    assert.throws(() => new EtcdMeshStore({ ...base, prefix: '/no-slash' }), /must end with "\/"/);
    assert.equal(new EtcdMeshStore(base).prefix, '/wgmesh/m/');
  });

  test('nothing listening: StoreUnavailable within the operation timeout, naming the endpoints', async () => {
    const endpoints = [`http://127.0.0.1:${await closedPort()}`, `http://127.0.0.1:${await closedPort()}`];
    const store = new EtcdMeshStore({ endpoints, meshName: 'm', cidr: '198.51.100.0/24', operationTimeoutMs: 2_000 });
    try {
      for (const call of [() => store.open(), () => store.list(), () => store.allocate('a', ['198.51.100.1'], { name: 'a' } as never)]) {
        const started = performance.now();
        await assert.rejects(call(), (err: unknown) =>
          err instanceof StoreUnavailable && err.message.startsWith(`etcd is unreachable at ${endpoints.join(', ')}`) && /joins are refused until it answers/.test(err.message));
        assert.ok(performance.now() - started < 2_500);
      }
    } finally {
      await store.close();
    }
  });

  test('which client failures count as "etcd unavailable"', () => {
    assert.equal(isUnavailable(new Error('etcdserver: request timed out')), true);
    assert.equal(isUnavailable(new Error('etcdserver: leader changed')), true);
    assert.equal(isUnavailable(Object.assign(new Error('Execution prevented because the circuit breaker is open'), { isBrokenCircuitError: true })), true);
    assert.equal(isUnavailable(new Error('etcdserver: mvcc: required revision has been compacted')), false);
    assert.equal(isUnavailable('not an error'), false);
  });
});
