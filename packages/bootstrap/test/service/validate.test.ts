import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair, loadProtos, RTT_SAMPLES_PER_REPORT, type UpdateRequest } from '@wgmesh/agent';
import { validateRttSamples, validateTags } from '../../src/service/validate.js';
import { InvalidField } from '../../src/errors.js';
import { LIMITS } from '../../src/constants.js';

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
  const samples = (n: number) => Array.from({ length: n }, (_, i) => ({ peer: `p${i}`, rttMs: 1, loss: 0 }));
  assert.equal(LIMITS.rttSamplesMax, 1024);
  assert.equal(validateRttSamples(samples(1024)).length, 1024);
  assert.throws(() => validateRttSamples(samples(1025)), (err: Error) => err instanceof InvalidField && err.field === 'rtt');
});
