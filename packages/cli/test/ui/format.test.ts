import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { InfoResponse__Output } from '@wgmesh/agent';
import { certificateLines, goTime, originalInfoLines, servicesSection } from '../../src/ui/format.js';

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

describe('info: the original wgmesh\'s lines', () => {
  test('it opens with "Mesh \'NAME\' has N nodes, started TIME" and "This node \'NODE\' joined TIME", times as Go prints them', () => {
    const lines = originalInfoLines(info({
      meshName: 'prod', nodeName: 'h2', meshCreatedMs: Date.UTC(2026, 11, 1, 9, 0, 5),
      peers: [{}, {}] as InfoResponse__Output['peers'], self: { joinedAtMs: Date.UTC(2026, 11, 2, 8, 39, 27) } as InfoResponse__Output['self'],
    }));
    // (TZ decides the zone; the lines' shape is the same in every one.)
    assert.match(lines[0]!, /^Mesh 'prod' has 3 nodes, started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} \S+$/);
    assert.match(lines[1]!, /^This node 'h2' joined \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} \S+$/);
  });

  test('Go\'s time.Time format', () => {
    assert.equal(goTime(Date.UTC(2026, 11, 2, 8, 39, 27), 'UTC'), '2026-12-02 08:39:27 +0000 UTC');
    assert.equal(goTime(Date.UTC(2026, 6, 2, 8, 39, 27), 'America/New_York'), '2026-07-02 04:39:27 -0400 EDT');
  });

  test('in a local zone at offset 0 it is written without Intl, as Intl writes it; other local zones get their name', (t) => {
    // node re-reads TZ when it changes.
    const saved = process.env.TZ;
    t.after(() => {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    });
    process.env.TZ = 'UTC';
    for (const ms of [Date.UTC(2026, 11, 2, 8, 39, 27), Date.UTC(2000, 0, 1, 0, 0, 0), Date.UTC(2038, 5, 30, 23, 59, 59), Date.UTC(1999, 11, 31, 23, 59, 59, 999)]) {
      assert.equal(new Date(ms).getTimezoneOffset(), 0);
      assert.equal(goTime(ms), goTime(ms, 'UTC'));
    }
    assert.equal(goTime(Date.UTC(2026, 11, 2, 8, 39, 27, 600)), '2026-12-02 08:39:27 +0000 UTC');
    process.env.TZ = 'America/New_York';
    assert.equal(goTime(Date.UTC(2026, 0, 2, 8, 39, 27)), '2026-01-02 03:39:27 -0500 EST');
  });

  test('services: a section of one line per node offering one, none when there are none', () => {
    const text = servicesSection(info({
      services: [
        { name: 'web', node: 'h1', meshIp: '10.0.0.1', port: 80, tags: { proto: 'tcp', tls: '' } },
        { name: 'web', node: 'h3', meshIp: 'fd00::3', port: 8080, tags: {} },
      ],
    }));
    assert.deepEqual(text.split('\n').map((l) => l.trimEnd()), ['', 'services:', 'SERVICE  NODE  ADDRESS         TAGS', 'web      h1    10.0.0.1:80     proto=tcp,tls', 'web      h3    [fd00::3]:8080', '']);
    assert.equal(servicesSection(info({ services: [] })), '');
  });
});
