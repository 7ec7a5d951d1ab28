import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import { generateKeyPair, lanEndpoints, loadProtos, RTT_SAMPLES_PER_REPORT, type Endpoint__Output, type UpdateRequest } from '@wgmesh/agent';
import { EndpointIpCheck, validateEndpoints, validateRttSamples, validateTags } from '../../src/service/validate.js';
import { InvalidField } from '../../src/errors.js';
import { LIMITS } from '../../src/constants.js';
import { parsePrefix, prefixContains } from '../../src/ipam/ipam.js';

test('tag keys: plain, the svc: service convention, and internal _ tags are accepted', () => {
  assert.deepEqual(validateTags({ role: 'web', 'svc:http': '80', _origin: 'lab', 'k8s.io/zone': 'a' }), { role: 'web', 'svc:http': '80', _origin: 'lab', 'k8s.io/zone': 'a' });
});

test('tag keys with spaces, a trailing separator or nothing at all are refused, naming the tag', () => {
  for (const key of ['has space', 'svc:', '', '-lead']) {
    assert.throws(() => validateTags({ [key]: 'x' }), (err: Error) => err instanceof InvalidField && err.field.startsWith('tags['));
  }
});

test('the largest Update an agent can send (every field at its limit, RTT_SAMPLES_PER_REPORT samples) fits well within the message limit', () => {
  const { requestSerialize } = loadProtos().mesh.wgmesh.v1.Mesh.service.Update;
  const longName = (i: number) => `n${String(i).padStart(LIMITS.nodeNameMax - 1, '0')}`;
  const request = (samples: number): UpdateRequest => ({
    meshName: 'm'.repeat(LIMITS.meshNameMax),
    nodeName: longName(0),
    publicKey: generateKeyPair().publicKey,
    endpoints: Array.from({ length: LIMITS.endpointsMax }, () => ({ ip: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', port: 65535, kind: 'ENDPOINT_KIND_CONFIGURED' })),
    tags: Object.fromEntries(Array.from({ length: LIMITS.tagsMax }, (_, i) => [`k${String(i).padStart(LIMITS.tagKeyMax - 1, '0')}`, 'v'.repeat(LIMITS.tagValueMax)])),
    // Doubles with every mantissa bit in use cost as much as any.
    rtt: Array.from({ length: samples }, (_, i) => ({ peer: longName(i + 1), rttMs: 599_999.123456789, loss: 0.123456789 })),
  });

  const bytes = requestSerialize(request(RTT_SAMPLES_PER_REPORT)).length;
  assert.ok(LIMITS.rttSamplesMax >= RTT_SAMPLES_PER_REPORT, 'the bootstrap accepts what an agent sends');
  assert.ok(bytes < LIMITS.messageMax * 0.6, `${bytes} bytes: under 60 % of the ${LIMITS.messageMax}-byte limit`);
  // Why reports are capped: every peer of a 2,000-node mesh in one Update would be refused.
  assert.ok(requestSerialize(request(1999)).length > LIMITS.messageMax);
});

test('an RTT report of up to 1,024 samples (what agents before reports were capped could send) is taken; more is refused, naming the field', () => {
  const samples = (n: number) => Array.from({ length: n }, (_, i) => ({ peer: `p${i}`, rttMs: 1, loss: 0, measuredAtMs: 0 }));
  assert.equal(LIMITS.rttSamplesMax, 1024);
  assert.equal(validateRttSamples(samples(1024)).length, 1024);
  assert.throws(() => validateRttSamples(samples(1025)), (err: Error) => err instanceof InvalidField && err.field === 'rtt');
});

describe('endpoints', () => {
  const MESH4 = parsePrefix('10.232.0.0/16');
  const MESH6 = parsePrefix('fd00:232::/64');
  const lan = (ip: string): Endpoint__Output => ({ ip, port: 51820, kind: 'ENDPOINT_KIND_LAN' });

  /** [address, mesh, what the refusal must say] */
  const REFUSED: [string, typeof MESH4, RegExp][] = [
    ['fe80::1%zzz', MESH4, /zone ID/],
    ['0.0.0.0', MESH4, /unspecified/],
    ['::', MESH4, /unspecified/],
    ['255.255.255.255', MESH4, /broadcast/],
    ['224.0.0.5', MESH4, /multicast/],
    ['ff02::1', MESH4, /multicast/],
    ['127.0.0.1', MESH4, /loopback/],
    ['::1', MESH4, /loopback/],
    ['::ffff:127.0.0.1', MESH4, /loopback/],
    ['fe80::1', MESH4, /link-local/],
    ['10.232.0.9', MESH4, /inside the mesh network 10\.232\.0\.0\/16/],
    ['::ffff:10.232.7.7', MESH4, /inside the mesh network/],
    ['fd00:232::9', MESH6, /inside the mesh network fd00:232::\/64/],
    ['not-an-ip%eth0', MESH4, /not an IPv4 or IPv6 address/],
  ];
  for (const [ip, mesh, reason] of REFUSED) {
    test(`${ip} is refused as endpoints[1].ip: ${reason.source}`, () => {
      assert.throws(() => validateEndpoints([lan('192.0.2.1'), lan(ip)], mesh, new EndpointIpCheck()), (err: Error) => {
        assert.ok(err instanceof InvalidField, String(err));
        assert.equal(err.field, 'endpoints[1].ip');
        assert.match(err.message, reason);
        return true;
      });
    });
  }

  test('ordinary addresses outside the mesh pass, IPv4 link-local included', () => {
    const ips = ['192.0.2.1', '10.233.0.1', '169.254.1.1', '2001:db8::1', 'fd00:233::1', '::ffff:192.0.2.7'];
    assert.deepEqual(validateEndpoints(ips.map(lan), MESH4, new EndpointIpCheck()).map((e) => e.ip), ips);
  });

  test("what an agent's discovery advertises from a host with every kind of address, the bootstrap accepts", () => {
    const a = (address: string, family: 'IPv4' | 'IPv6', internal = false) =>
      ({ address, family, internal, netmask: '', mac: '00:00:00:00:00:00', cidr: null, ...(family === 'IPv6' ? { scopeid: 0 } : {}) }) as NetworkInterfaceInfo;
    const interfaces = {
      lo: [a('127.0.0.1', 'IPv4', true), a('::1', 'IPv6', true)],
      dummy0: [a('127.0.0.2', 'IPv4'), a('::ffff:127.0.0.3', 'IPv6'), a('0.0.0.0', 'IPv4'), a('::', 'IPv6')],
      eth0: [a('192.0.2.10', 'IPv4'), a('fe80::a00:27ff:fe4e:66a1', 'IPv6'), a('fe80::1%eth0', 'IPv6'), a('2001:db8::10', 'IPv6'), a('169.254.9.9', 'IPv4')],
      overlap: [a('10.232.0.77', 'IPv4'), a('::ffff:10.232.0.78', 'IPv6')],
    };
    // The exclusion `wgmesh bootstrap` passes its discovery; a joining node passes the same once it knows the CIDR.
    const advertised = lanEndpoints(51820, (ip) => prefixContains(MESH4, ip), interfaces);
    assert.deepEqual(advertised.map((e) => e.ip), ['192.0.2.10', '2001:db8::10']);
    assert.doesNotThrow(() => validateEndpoints(advertised as Endpoint__Output[], MESH4, new EndpointIpCheck()));
  });
});

test('endpoint addresses are parsed once: a heartbeat repeating them is checked without parsing, and a bad one is still refused each time', () => {
  const ips = new EndpointIpCheck();
  const mesh = parsePrefix('198.18.0.0/16');
  const endpoints: Endpoint__Output[] = [{ ip: '203.0.113.77', port: 51820, kind: 'ENDPOINT_KIND_LAN' }, { ip: '2001:db8::77', port: 51820, kind: 'ENDPOINT_KIND_STUN' }];
  for (let i = 0; i < 50; i++) assert.deepEqual(validateEndpoints(endpoints, mesh, ips), endpoints);
  assert.equal(ips.parsed, 2, 'each address parsed once');
  // Accepted in one mesh is not accepted in another that contains it.
  assert.throws(() => validateEndpoints([endpoints[0]!], parsePrefix('203.0.113.0/24'), ips), (err: Error) => err instanceof InvalidField && /inside the mesh/.test(err.message));
  for (let i = 0; i < 3; i++) {
    assert.throws(() => validateEndpoints([{ ip: '127.0.0.1', port: 51820, kind: 'ENDPOINT_KIND_LAN' }], mesh, ips), (err: Error) => err instanceof InvalidField && /loopback/.test(err.message));
    assert.throws(() => validateEndpoints([{ ip: '198.18.3.4', port: 51820, kind: 'ENDPOINT_KIND_LAN' }], mesh, ips), (err: Error) => err instanceof InvalidField && /inside the mesh/.test(err.message));
  }
  assert.equal(ips.kept(mesh), 2, 'refused addresses are never kept');
});

test('two EndpointIpChecks share nothing: an address passed in one is parsed again in the other', () => {
  const first = new EndpointIpCheck();
  const second = new EndpointIpCheck();
  const mesh = parsePrefix('198.18.0.0/16');
  const endpoints: Endpoint__Output[] = [{ ip: '203.0.113.78', port: 51820, kind: 'ENDPOINT_KIND_LAN' }];
  validateEndpoints(endpoints, mesh, first);
  validateEndpoints(endpoints, mesh, first);
  assert.equal(first.parsed, 1);
  validateEndpoints(endpoints, mesh, second);
  assert.equal(second.parsed, 1, 'the second check did not know it: parsed');
  assert.equal(first.parsed, 1, "the second check's work did not touch the first");
});

test('EndpointIpCheck is bounded per mesh: full, a set starts again from empty, and an evicted address is parsed (and passed) again', () => {
  const ips = new EndpointIpCheck(2);
  const mesh = parsePrefix('198.18.0.0/16');
  const other = parsePrefix('10.232.0.0/16');
  const at = (ip: string): Endpoint__Output[] => [{ ip, port: 51820, kind: 'ENDPOINT_KIND_LAN' }];
  validateEndpoints(at('192.0.2.1'), mesh, ips);
  validateEndpoints(at('192.0.2.2'), mesh, ips);
  validateEndpoints(at('192.0.2.1'), other, ips);
  assert.equal(ips.kept(mesh), 2);
  validateEndpoints(at('192.0.2.1'), mesh, ips);
  assert.equal(ips.parsed, 3, '192.0.2.1 kept for the mesh: not parsed again');

  validateEndpoints(at('192.0.2.3'), mesh, ips);
  assert.equal(ips.kept(mesh), 1, 'full: emptied before 192.0.2.3 was kept');
  assert.equal(ips.kept(other), 1, "another mesh's set is its own");
  assert.deepEqual(validateEndpoints(at('192.0.2.1'), mesh, ips), at('192.0.2.1'));
  assert.equal(ips.parsed, 5, 'evicted: parsed again');
  validateEndpoints(at('192.0.2.1'), other, ips);
  assert.equal(ips.parsed, 5, 'still kept for the other mesh');
});
