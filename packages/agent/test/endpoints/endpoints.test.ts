import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import { cidrContains, endpointAddressProblem, lanEndpoints, unmapIp } from '../../src/endpoints/endpoints.js';

/** Addresses no peer can use as an endpoint, with a word the reason must contain. */
const UNUSABLE: [ip: string, reason: RegExp][] = [
  ['fe80::1%eth0', /zone ID/],
  ['fe80::1%zzz', /zone ID/],
  ['2001:db8::1%2', /zone ID/],
  ['0.0.0.0', /unspecified/],
  ['::', /unspecified/],
  ['255.255.255.255', /broadcast/],
  ['224.0.0.1', /multicast/],
  ['239.255.255.250', /multicast/],
  ['ff02::1', /multicast/],
  ['ff05::1:3', /multicast/],
  ['127.0.0.1', /loopback/],
  ['127.8.9.10', /loopback/],
  ['::1', /loopback/],
  ['::ffff:127.0.0.1', /loopback.*IPv4-mapped 127\.0\.0\.1/],
  ['::ffff:7f00:1', /loopback/],
  ['::ffff:0.0.0.0', /unspecified/],
  ['::ffff:255.255.255.255', /broadcast/],
  ['::ffff:224.0.0.9', /multicast/],
  ['fe80::1', /link-local/],
  ['febf:ffff::1', /link-local/],
];

const USABLE = ['192.0.2.10', '10.1.2.3', '172.16.0.1', '169.254.10.10', '2001:db8::10', 'fd00::1', 'fec0::1', '::ffff:192.0.2.10', '100.64.0.1'];

describe('endpointAddressProblem', () => {
  for (const [ip, reason] of UNUSABLE) {
    test(`${ip} is refused: ${reason.source}`, () => {
      const problem = endpointAddressProblem(ip);
      assert.ok(problem, `${ip} has a problem`);
      assert.match(problem, reason);
    });
  }

  test('ordinary unicast addresses have none (IPv4 link-local needs no zone)', () => {
    for (const ip of USABLE) assert.equal(endpointAddressProblem(ip), undefined, ip);
  });

  test('IPv4-mapped addresses unmap to IPv4; others stay as they are', () => {
    assert.equal(unmapIp('::ffff:198.18.0.9'), '198.18.0.9');
    assert.equal(unmapIp('2001:db8::1'), '2001:db8::1');
    assert.equal(unmapIp('192.0.2.1'), '192.0.2.1');
  });
});

const iface = (address: string, family: 'IPv4' | 'IPv6', internal = false): NetworkInterfaceInfo => (family === 'IPv4'
  ? { address, family, internal, netmask: '255.255.255.0', mac: '00:00:00:00:00:00', cidr: `${address}/24` }
  : { address, family, internal, netmask: 'ffff:ffff:ffff:ffff::', mac: '00:00:00:00:00:00', cidr: `${address}/64`, scopeid: 0 });

describe('lanEndpoints', () => {
  test('a host with loopback, link-local, multicast-ish and mesh addresses advertises only what peers can use', () => {
    const interfaces = {
      lo: [iface('127.0.0.1', 'IPv4', true), iface('::1', 'IPv6', true)],
      // A loopback address on a non-loopback interface (os marks it internal only on lo).
      dummy0: [iface('127.0.0.2', 'IPv4'), iface('::ffff:127.0.0.3', 'IPv6')],
      eth0: [iface('192.0.2.10', 'IPv4'), iface('fe80::a00:27ff:fe4e:66a1', 'IPv6'), iface('febf::5', 'IPv6'), iface('2001:db8::10', 'IPv6')],
      eth1: [iface('169.254.3.3', 'IPv4'), iface('0.0.0.0', 'IPv4')],
      // An underlay that overlaps the mesh (198.18.0.0/16 here): reachable only through the mesh.
      br0: [iface('198.18.0.77', 'IPv4'), iface('::ffff:198.18.0.78', 'IPv6')],
      wgsim: [iface('198.18.0.5', 'IPv4')],
    };
    const inMesh = (ip: string) => ip.startsWith('198.18.');
    assert.deepEqual(lanEndpoints(51820, inMesh, interfaces).map((e) => e.ip), ['192.0.2.10', '2001:db8::10']);
  });

  test('a host with nothing usable advertises nothing', () => {
    assert.deepEqual(lanEndpoints(51820, undefined, { lo: [iface('127.0.0.1', 'IPv4', true)], eth0: [iface('fe80::1', 'IPv6')] }), []);
  });

  test('asked again for the same addresses (every heartbeat), the answer follows what is excluded now', () => {
    const interfaces = { eth0: [iface('192.0.2.10', 'IPv4'), iface('::ffff:198.18.0.78', 'IPv6')], dummy0: [iface('127.0.0.2', 'IPv4')] };
    // Before the join: the mesh is not known yet, nothing is excluded.
    assert.deepEqual(lanEndpoints(51820, () => false, interfaces).map((e) => e.ip), ['192.0.2.10', '::ffff:198.18.0.78']);
    // After it: the mapped address is inside the mesh; the loopback one stays refused either way.
    const inMesh = (ip: string) => cidrContains('198.18.0.0/16', ip);
    assert.deepEqual(lanEndpoints(51820, inMesh, interfaces).map((e) => e.ip), ['192.0.2.10']);
    assert.deepEqual(lanEndpoints(51820, () => false, interfaces).map((e) => e.ip), ['192.0.2.10', '::ffff:198.18.0.78']);
  });
});

describe('cidrContains', () => {
  test('answers for the CIDR asked, also when CIDRs alternate (the last one parsed is kept)', () => {
    const cases: [string, string, boolean][] = [
      ['198.18.0.0/16', '198.18.3.4', true],
      ['198.18.0.0/16', '198.19.0.1', false],
      ['10.0.0.0/8', '198.18.3.4', false],
      ['198.18.0.0/16', '198.18.3.4', true],
      ['2001:db8::/32', '2001:db8::1', true],
      ['2001:db8::/32', '198.18.3.4', false],
      ['198.18.0.0/16', '2001:db8::1', false],
      ['not a cidr', '198.18.3.4', false],
      ['198.18.0.0/16', 'not an ip', false],
      ['198.18.0.0/16', '198.18.255.255', true],
    ];
    for (const [cidr, ip, inside] of cases) assert.equal(cidrContains(cidr, ip), inside, `${ip} in ${cidr}`);
  });
});
