/**
 * The etcd flags every etcd command shares, turned into the store's init: what is required, what
 * goes together, and the errors an operator reads when a flag or a PEM file is wrong.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ETCD_FLAGS, etcdStoreInitFromFlags } from '../../src/commands/etcd-flags.js';
import { resolveFlags, UsageError } from '../../src/flags/parse.js';

const PEM = (what: string) => Buffer.from(`-----BEGIN ${what}-----\nAAAA\n-----END ${what}-----\n`);
const FILES: Record<string, Buffer> = { '/etc/etcd/ca.pem': PEM('CERTIFICATE'), '/etc/etcd/client.pem': PEM('CERTIFICATE'), '/etc/etcd/client-key.pem': PEM('PRIVATE KEY'), '/etc/etcd/notes.txt': Buffer.from('hello') };

/** A read that knows FILES only, failing as the disk would for anything else. */
function read(path: string): Buffer {
  const pem = FILES[path];
  if (!pem) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
  return pem;
}

function init(argv: string[], env: Record<string, string> = {}) {
  return etcdStoreInitFromFlags(resolveFlags(ETCD_FLAGS, argv, env).values, 'prod', '10.99.0.0/16', read);
}

describe('etcd flags', () => {
  test('endpoints comma-separated or repeated, in order; no prefix means the store\'s default; no TLS', () => {
    assert.deepEqual(init(['-etcd-endpoints', 'http://10.0.0.1:2379,http://10.0.0.2:2379', '-etcd-endpoints=http://10.0.0.3:2379']), {
      endpoints: ['http://10.0.0.1:2379', 'http://10.0.0.2:2379', 'http://10.0.0.3:2379'], meshName: 'prod', cidr: '10.99.0.0/16',
    });
  });

  test('the environment sets them too (WGMESH_ETCD_ENDPOINTS, WGMESH_ETCD_PREFIX), the flag wins', () => {
    const fromEnv = init([], { WGMESH_ETCD_ENDPOINTS: 'http://10.0.0.1:2379, http://10.0.0.2:2379', WGMESH_ETCD_PREFIX: '/meshes/prod/' });
    assert.deepEqual(fromEnv.endpoints, ['http://10.0.0.1:2379', 'http://10.0.0.2:2379']);
    assert.equal(fromEnv.prefix, '/meshes/prod/');
    assert.equal(init(['-etcd-prefix', '/a/'], { WGMESH_ETCD_ENDPOINTS: 'http://10.0.0.1:2379', WGMESH_ETCD_PREFIX: '/b/' }).prefix, '/a/');
  });

  test('TLS: the three PEM files are read and passed on', () => {
    const tls = init(['-etcd-endpoints', 'https://etcd.example:2379', '-etcd-ca-cert', '/etc/etcd/ca.pem', '-etcd-cert', '/etc/etcd/client.pem', '-etcd-key', '/etc/etcd/client-key.pem']);
    assert.deepEqual(tls.caCert, FILES['/etc/etcd/ca.pem']);
    assert.deepEqual(tls.cert, FILES['/etc/etcd/client.pem']);
    assert.deepEqual(tls.key, FILES['/etc/etcd/client-key.pem']);
    // https:// without a CA: the system's CAs check etcd's certificate.
    assert.equal(init(['-etcd-endpoints', 'https://etcd.example:2379']).caCert, undefined);
  });

  const REFUSED: [string, string[], RegExp][] = [
    ['no endpoint', [], /^-etcd-endpoints is required: the client URLs of the etcd cluster, e\.g\. -etcd-endpoints http:\/\/10\.0\.0\.1:2379/],
    ['an endpoint without a scheme', ['-etcd-endpoints', '10.0.0.1:2379'], /"10\.0\.0\.1:2379" is not an etcd client URL like http:\/\/10\.0\.0\.1:2379/],
    ['an endpoint with a path', ['-etcd-endpoints', 'http://10.0.0.1:2379/'], /"http:\/\/10\.0\.0\.1:2379\/" is not an etcd client URL .*no path/],
    ['another scheme', ['-etcd-endpoints', 'unix:///run/etcd.sock'], /is not an etcd client URL/],
    ['a prefix not ending in /', ['-etcd-endpoints', 'http://10.0.0.1:2379', '-etcd-prefix', '/meshes/prod'], /^-etcd-prefix "\/meshes\/prod" must end with "\/", e\.g\. \/meshes\/prod\/$/],
    ['a certificate without its key', ['-etcd-endpoints', 'https://e:2379', '-etcd-ca-cert', '/etc/etcd/ca.pem', '-etcd-cert', '/etc/etcd/client.pem'], /^-etcd-cert and -etcd-key go together/],
    ['a key without its certificate', ['-etcd-endpoints', 'https://e:2379', '-etcd-key', '/etc/etcd/client-key.pem'], /^-etcd-cert and -etcd-key go together/],
    ['a client certificate without the CA', ['-etcd-endpoints', 'https://e:2379', '-etcd-cert', '/etc/etcd/client.pem', '-etcd-key', '/etc/etcd/client-key.pem'], /^-etcd-cert needs -etcd-ca-cert too/],
    ['a CA with http:// endpoints', ['-etcd-endpoints', 'https://e1:2379,http://e2:2379', '-etcd-ca-cert', '/etc/etcd/ca.pem'], /turns TLS on for every endpoint, but some -etcd-endpoints are http:\/\/: use https:\/\//],
    ['a CA file that is missing', ['-etcd-endpoints', 'https://e:2379', '-etcd-ca-cert', '/etc/etcd/nope.pem'], /^-etcd-ca-cert \/etc\/etcd\/nope\.pem: cannot be read \(no such file\)$/],
    ['a key file that is not PEM', ['-etcd-endpoints', 'https://e:2379', '-etcd-ca-cert', '/etc/etcd/ca.pem', '-etcd-cert', '/etc/etcd/client.pem', '-etcd-key', '/etc/etcd/notes.txt'], /^-etcd-key \/etc\/etcd\/notes\.txt: not a PEM file/],
  ];
  for (const [name, argv, message] of REFUSED) {
    test(`refused: ${name}`, () => {
      assert.throws(() => init(argv), (err: unknown) => err instanceof UsageError && message.test(err.message));
    });
  }

  test('an unreadable file other than a missing one says why', () => {
    const denied = () => { throw Object.assign(new Error('EACCES: permission denied, open \'/etc/etcd/ca.pem\''), { code: 'EACCES' }); };
    const values = resolveFlags(ETCD_FLAGS, ['-etcd-endpoints', 'https://e:2379', '-etcd-ca-cert', '/etc/etcd/ca.pem'], {}).values;
    assert.throws(() => etcdStoreInitFromFlags(values, 'prod', '10.99.0.0/16', denied), /^UsageError: -etcd-ca-cert \/etc\/etcd\/ca\.pem: cannot be read \(EACCES: permission denied/);
  });
});
