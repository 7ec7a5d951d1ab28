import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidLabOptions } from '../../src/lab/errors.js';
import {
  cidrHostCount,
  formatCidr,
  hostAddress,
  hostIndex,
  labNames,
  labPaths,
  mountNamespaceScript,
  nodeArgs,
  parseCidr,
  splitArgs,
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
