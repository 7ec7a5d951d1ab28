import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidLabOptions } from '../../src/lab/errors.js';
import {
  cidrHostCount,
  formatCidr,
  hostAddress,
  bootstrapAddresses,
  etcdArgs,
  etcdctlArgs,
  etcdEndpoints,
  hostIndex,
  isBootstrapIndex,
  labNames,
  labPaths,
  mountNamespaceScript,
  nodeArgs,
  parseCidr,
  planEtcd,
  planEtcdMembers,
  planNat,
  splitArgs,
  validateBootstrapCount,
  validateHostCount,
  validateLabName,
  validateMeshName,
} from '../../src/lab/plan.js';

describe('lab address planning', () => {
  test('h1 is .1 (the bootstrap), hK is .K on the underlay', () => {
    const underlay = parseCidr('192.0.2.0/24');
    assert.equal(hostAddress(underlay, 1), '192.0.2.1');
    assert.equal(hostAddress(underlay, 4), '192.0.2.4');
    assert.equal(hostAddress(underlay, 254), '192.0.2.254');
    assert.throws(() => hostAddress(underlay, 255), InvalidLabOptions);
    assert.throws(() => hostAddress(underlay, 0), InvalidLabOptions);
  });

  test('addresses carry across octets in larger networks', () => {
    assert.equal(hostAddress(parseCidr('10.1.0.0/16'), 300), '10.1.1.44');
    assert.equal(cidrHostCount(parseCidr('198.18.0.0/16')), 65534);
  });

  test('a CIDR with host bits set is refused with the network it probably meant', () => {
    assert.throws(() => parseCidr('192.0.2.7/24'), /did you mean 192\.0\.2\.0\/24/);
    assert.throws(() => parseCidr('192.0.2.0'), InvalidLabOptions);
    assert.throws(() => parseCidr('192.0.300.0/24'), InvalidLabOptions);
    assert.throws(() => parseCidr('192.0.2.0/31'), /between 8 and 30/);
    assert.equal(formatCidr(parseCidr(' 198.18.0.0/16 ')), '198.18.0.0/16');
  });

  test('the host count must fit the underlay', () => {
    assert.equal(validateHostCount(4, parseCidr('192.0.2.0/24')), 4);
    assert.throws(() => validateHostCount(0, parseCidr('192.0.2.0/24')), InvalidLabOptions);
    assert.throws(() => validateHostCount(7, parseCidr('192.0.2.0/29')), /between 1 and 6/);
    assert.throws(() => validateHostCount(2.5, parseCidr('192.0.2.0/24')), InvalidLabOptions);
  });
});

describe('lab names', () => {
  test('every name the lab creates fits the 15-character limit of netns and links', () => {
    const names = labNames('abcdefgh');
    for (const name of [names.netns(999), names.switchNetns, names.bridge, names.switchPort(999)]) {
      assert.ok(name.length <= 15, `${name} is ${name.length} characters`);
    }
    assert.equal(labNames('wgl').netns(3), 'wgl-h3');
    assert.equal(labNames('wgl').switchNetns, 'wgl-sw');
  });

  test('lab names are short lowercase labels; mesh names fit the interface name', () => {
    assert.equal(validateLabName('wge2e'), 'wge2e');
    for (const bad of ['', 'abcdefghi', 'Wgl', '1lab', 'wg-l', 'wg l']) assert.throws(() => validateLabName(bad), InvalidLabOptions, bad);
    assert.equal(validateMeshName('lab'), 'lab');
    assert.equal(validateMeshName('my-mesh'), 'my-mesh');
    for (const bad of ['', '-x', 'x-', 'abcdefghijk', 'a b']) assert.throws(() => validateMeshName(bad), InvalidLabOptions, bad);
  });

  test('a lab owns exactly its switch and hK namespaces', () => {
    const names = labNames('wgl');
    assert.ok(names.owns('wgl-sw'));
    assert.ok(names.owns('wgl-h1'));
    assert.ok(names.owns('wgl-h250'));
    for (const other of ['wgl', 'wgl-h0', 'wgl-hx', 'wgl-h01', 'wgl2-h1', 'wglx-sw', 'wgmt-1a2b', 'wgl-h1-extra']) assert.ok(!names.owns(other), other);
  });

  test('host names', () => {
    assert.equal(hostIndex('h1'), 1);
    assert.equal(hostIndex('h42'), 42);
    for (const bad of ['h0', 'h', 'H1', 'h01', 'host1', 'h1000']) assert.equal(hostIndex(bad), undefined, bad);
  });

  test('paths live under the lab own directories', () => {
    const paths = labPaths('wgl');
    assert.equal(paths.runDir, '/run/wgmesh-lab/wgl');
    assert.equal(paths.mountFile(2), '/run/wgmesh-lab/wgl/ns/h2.mnt');
    assert.equal(paths.hostStateDir(2), '/var/lib/wgmesh-lab/wgl/h2');
    assert.equal(paths.logFile(2), '/var/lib/wgmesh-lab/wgl/h2.log');
    assert.equal(paths.stateFile, '/var/lib/wgmesh-lab/wgl/lab.json');
    assert.deepEqual(paths.etcd(2), { dataDir: '/var/lib/wgmesh-lab/wgl/h2/etcd', logFile: '/var/lib/wgmesh-lab/wgl/h2-etcd.log' });
  });
});

describe('what each host runs', () => {
  const plan = { mesh: 'lab', cidr: parseCidr('198.18.0.0/16'), underlay: parseCidr('192.0.2.0/24'), bootstrapPort: 5000 };

  test('h1 bootstraps the mesh on the first mesh address', () => {
    assert.deepEqual(nodeArgs(plan, 1), ['bootstrap', '-dev', '-n', 'lab', '-cidr', '198.18.0.0/16', '-ip', '198.18.0.1', '-grpc-bind-port', '5000', '-node-name', 'h1']);
  });

  test('every other host joins through h1 on the underlay', () => {
    assert.deepEqual(nodeArgs(plan, 3), ['join', '-dev', '-n', 'lab', '-bootstrap-addr', '192.0.2.1:5000', '-node-name', 'h3']);
  });

  test('extra flags go last: bootstrap flags to h1, join flags to the others', () => {
    const extra = { ...plan, bootstrapArgs: ['-reap-after', '5s'], joinArgs: ['-heartbeat', '1s'] };
    assert.deepEqual(nodeArgs(extra, 1).slice(-3), ['h1', '-reap-after', '5s']);
    assert.deepEqual(nodeArgs(extra, 2).slice(-3), ['h2', '-heartbeat', '1s']);
    assert.deepEqual(nodeArgs({ ...plan, bootstrapArgs: [] }, 1), nodeArgs(plan, 1));
  });

  test('a flags string splits on white space, with quotes and backslashes', () => {
    assert.deepEqual(splitArgs('  -reap-after 5s\t-failed-after=3s '), ['-reap-after', '5s', '-failed-after=3s']);
    assert.deepEqual(splitArgs(`-tags "a=b c" -x 'd e' f\\ g ""`), ['-tags', 'a=b c', '-x', 'd e', 'f g', '']);
    assert.deepEqual(splitArgs(''), []);
    assert.throws(() => splitArgs('-tags "a=b'), InvalidLabOptions);
  });

  test('the mount namespace gets its own /run, sysfs and state directory', () => {
    const script = mountNamespaceScript('/var/lib/wgmesh-lab/wgl/h2');
    assert.match(script, /mount -t tmpfs -o mode=0755 wgmesh-lab \/run && /);
    assert.match(script, /mkdir -p \/run\/wireguard/);
    assert.match(script, /mount -t sysfs sysfs \/sys/);
    assert.match(script, /mount --bind \/var\/lib\/wgmesh-lab\/wgl\/h2 \/var\/lib\/wgmesh$/);
  });
});

describe('several bootstraps (-bootstraps K)', () => {
  const plan = { mesh: 'lab', cidr: parseCidr('198.18.0.0/16'), underlay: parseCidr('192.0.2.0/24'), bootstrapPort: 5000, bootstraps: 3 };
  const endpoints = 'http://192.0.2.1:2379,http://192.0.2.2:2379,http://192.0.2.3:2379';

  test('K is 1 to 5, and no more than the hosts; anything else is refused naming the range', () => {
    assert.equal(validateBootstrapCount(1, 1), 1);
    assert.equal(validateBootstrapCount(3, 5), 3);
    assert.equal(validateBootstrapCount(5, 10), 5);
    assert.throws(() => validateBootstrapCount(6, 10), /between 1 and 5, not 6/);
    assert.throws(() => validateBootstrapCount(3, 2), /between 1 and 2, not 3 \(the lab has 2 hosts\)/);
    for (const bad of [0, -1, 2.5, Number.NaN]) assert.throws(() => validateBootstrapCount(bad, 5), InvalidLabOptions, String(bad));
  });

  test('h1…hK bootstrap, the others join', () => {
    assert.deepEqual([1, 2, 3, 4].map((k) => isBootstrapIndex(k, 3)), [true, true, true, false]);
    assert.deepEqual([1, 2].map((k) => isBootstrapIndex(k)), [true, false]);
  });

  test('each bootstrap takes its own mesh IP (.1, .2, .3) and keeps the members in the etcd cluster of all three', () => {
    assert.deepEqual(nodeArgs(plan, 1), [
      'bootstrap', '-dev', '-n', 'lab', '-cidr', '198.18.0.0/16', '-ip', '198.18.0.1', '-grpc-bind-port', '5000', '-node-name', 'h1',
      '-store', 'etcd', '-etcd-endpoints', endpoints,
    ]);
    assert.deepEqual(nodeArgs(plan, 2), [
      'bootstrap', '-dev', '-n', 'lab', '-cidr', '198.18.0.0/16', '-ip', '198.18.0.2', '-grpc-bind-port', '5000', '-node-name', 'h2',
      '-store', 'etcd', '-etcd-endpoints', endpoints,
    ]);
    assert.equal(nodeArgs(plan, 3)[nodeArgs(plan, 3).indexOf('-ip') + 1], '198.18.0.3');
  });

  test('every other host joins with every bootstrap\'s address, in host order', () => {
    assert.deepEqual(nodeArgs(plan, 4), [
      'join', '-dev', '-n', 'lab',
      '-bootstrap-addr', '192.0.2.1:5000', '-bootstrap-addr', '192.0.2.2:5000', '-bootstrap-addr', '192.0.2.3:5000',
      '-node-name', 'h4',
    ]);
    assert.deepEqual(bootstrapAddresses(parseCidr('203.0.113.0/24'), 2, 6000), ['203.0.113.1:6000', '203.0.113.2:6000']);
  });

  test('extra flags still go last, after the etcd flags; one bootstrap plans exactly what it always did', () => {
    const extra = { ...plan, bootstrapArgs: ['-reap-after', '5s'] };
    assert.deepEqual(nodeArgs(extra, 2).slice(-4), ['-etcd-endpoints', endpoints, '-reap-after', '5s']);
    const one = { ...plan, bootstraps: 1 };
    assert.deepEqual(nodeArgs(one, 1), ['bootstrap', '-dev', '-n', 'lab', '-cidr', '198.18.0.0/16', '-ip', '198.18.0.1', '-grpc-bind-port', '5000', '-node-name', 'h1']);
    assert.deepEqual(nodeArgs(one, 3), ['join', '-dev', '-n', 'lab', '-bootstrap-addr', '192.0.2.1:5000', '-node-name', 'h3']);
  });

  test('an etcd member per bootstrap host, on its underlay address, ports 2379 and 2380', () => {
    const members = planEtcd(parseCidr('192.0.2.0/24'), 3);
    assert.deepEqual(members.map((m) => [m.name, m.clientUrl, m.peerUrl]), [
      ['h1', 'http://192.0.2.1:2379', 'http://192.0.2.1:2380'],
      ['h2', 'http://192.0.2.2:2379', 'http://192.0.2.2:2380'],
      ['h3', 'http://192.0.2.3:2379', 'http://192.0.2.3:2380'],
    ]);
    assert.equal(etcdEndpoints(parseCidr('192.0.2.0/24'), 3).join(','), endpoints);
  });

  test('etcd members in named hosts (a cluster started later): each on the address given, in the order given; none or a host twice is refused', () => {
    assert.deepEqual(planEtcdMembers([{ name: 'h4', index: 4, ip: '192.0.2.4' }, { name: 'h1', index: 1, ip: '192.0.2.1' }]), [
      { name: 'h4', index: 4, ip: '192.0.2.4', clientUrl: 'http://192.0.2.4:2379', peerUrl: 'http://192.0.2.4:2380' },
      { name: 'h1', index: 1, ip: '192.0.2.1', clientUrl: 'http://192.0.2.1:2379', peerUrl: 'http://192.0.2.1:2380' },
    ]);
    assert.throws(() => planEtcdMembers([]), InvalidLabOptions);
    assert.throws(() => planEtcdMembers([{ name: 'h1', index: 1, ip: '192.0.2.1' }, { name: 'h1', index: 1, ip: '192.0.2.1' }]), /h1 is named twice/);
  });

  test('an etcd member\'s command line: its own URLs, the whole cluster, a new cluster with the lab\'s name as token', () => {
    const members = planEtcd(parseCidr('192.0.2.0/24'), 3);
    assert.deepEqual(etcdArgs(members[1]!, members, '/var/lib/wgmesh-lab/wgl/h2/etcd', 'wgl'), [
      'etcd', '--name', 'h2', '--data-dir', '/var/lib/wgmesh-lab/wgl/h2/etcd',
      '--listen-client-urls', 'http://192.0.2.2:2379', '--advertise-client-urls', 'http://192.0.2.2:2379',
      '--listen-peer-urls', 'http://192.0.2.2:2380', '--initial-advertise-peer-urls', 'http://192.0.2.2:2380',
      '--initial-cluster', 'h1=http://192.0.2.1:2380,h2=http://192.0.2.2:2380,h3=http://192.0.2.3:2380',
      '--initial-cluster-state', 'new', '--initial-cluster-token', 'wgl',
      '--logger', 'zap', '--log-outputs', 'stderr',
    ]);
    assert.deepEqual(etcdctlArgs(['http://192.0.2.1:2379', 'http://192.0.2.2:2379'], ['endpoint', 'health']), [
      'etcdctl', '--endpoints', 'http://192.0.2.1:2379,http://192.0.2.2:2379', '--dial-timeout', '1s', '--command-timeout', '2s', 'endpoint', 'health',
    ]);
  });

  test('no bootstrap is put behind NAT', () => {
    const input = { hosts: 5, underlay: parseCidr('203.0.113.0/24'), natLan: parseCidr('198.51.100.0/24'), bootstraps: 3 };
    assert.throws(() => planNat([[3]], input), /-nat: h3 runs a bootstrap \(-bootstraps 3\), which is never behind NAT/);
    assert.throws(() => planNat([[4, 2]], input), /h2 runs a bootstrap/);
    assert.deepEqual(planNat([[4, 5]], input).map((r) => r.hosts), [[4, 5]]);
  });
});
