import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeCertificateRefusal, readCertificateRefusal, sameRefusal } from '../../src/control/certificate-refusal.js';

test('the bootstrap\'s refusals of this node\'s own certificate are read as revoked or expired; others are not', () => {
  const revoked = readCertificateRefusal('Update: the client certificate "h3" (serial 0A1B2C) has been revoked; a revoked node cannot join (PERMISSION_DENIED)', 1000);
  assert.deepEqual({ ...revoked, message: '' }, { state: 'revoked', serial: 'a1b2c', sinceMs: 1000, message: '' });
  const expired = readCertificateRefusal('Join: the client certificate "h3" expired on 2026-01-01; issue a new one with `wgmesh ca issue h3`', 2000);
  assert.equal(expired?.state, 'expired');
  assert.equal(expired?.serial, '');
  for (const other of ['node_name: "h3" is not a member of this mesh', 'connect ECONNREFUSED 192.0.2.1:5000', 'the client certificate "h3" was not issued by this mesh\'s CA']) {
    assert.equal(readCertificateRefusal(other, 0), undefined, other);
  }
  assert.ok(sameRefusal(revoked, readCertificateRefusal('Join: the client certificate "h3" (serial a1b2c) has been revoked', 5000)), 'the same certificate: its first sighting stands');
  assert.ok(!sameRefusal(revoked, expired));
  assert.equal(describeCertificateRefusal(revoked!), 'revoked (serial a1b2c), refused by the bootstrap since 1970-01-01T00:00:01.000Z');
});
