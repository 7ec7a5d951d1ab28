import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { InfoResponse__Output } from '@wgmesh/agent';
import { certificateLines } from '../../src/ui/format.js';

const NOW = 1_800_000_000_000;
const DAY = 86_400_000;

function info(over: Partial<InfoResponse__Output>): InfoResponse__Output {
  return { certNotAfterMs: 0, caNotAfterMs: 0, certSerial: '', certRenewAtMs: 0, certRenewError: '', certRenewals: 0, certDaysLeft: 0, caDaysLeft: 0, ...over } as InfoResponse__Output;
}

describe('info: the certificate line', () => {
  test('days left for the certificate and the CA, when the node renews, how often it did', () => {
    const lines = certificateLines(info({ certNotAfterMs: NOW + 90 * DAY, caNotAfterMs: NOW + 3650 * DAY, certSerial: '1a2b3c4d5e6f708192a3', certRenewAtMs: NOW + 60 * DAY, certRenewals: 2 }), NOW);
    assert.deepEqual(lines, ['certificate serial 1a2b3c4d5e6f7081…: 90 days left, renews in 60 days (2 renewed since start); CA: 3650 days left']);
  });

  test('a short-lived certificate in seconds; a failing renewal gets its own line; none without a certificate', () => {
    const lines = certificateLines(info({ certNotAfterMs: NOW + 20_000, caNotAfterMs: NOW + DAY * 400, certSerial: 'ff', certRenewAtMs: NOW - 1000, certRenewError: 'Renew: no bootstrap (UNAVAILABLE)' }), NOW);
    assert.match(lines[0]!, /20 s left, renewing now/);
    assert.equal(lines[1], 'certificate renewal failing: Renew: no bootstrap (UNAVAILABLE)');
    assert.deepEqual(certificateLines(info({}), NOW), []);
  });
});
