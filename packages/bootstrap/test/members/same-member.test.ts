import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sameMember } from '../../src/members/same-member.js';
import type { Member } from '../../src/members/store.js';
import { numberedMember } from './fixtures.js';

const base = numberedMember(7, { endpoints: [{ ip: '203.0.113.7', port: 51820, kind: 'ENDPOINT_KIND_LAN' }, { ip: '198.51.100.4', port: 4500, kind: 'ENDPOINT_KIND_OBSERVED' }], tags: { role: 'db', zone: 'a' } });
/** A deep copy with its fields (and its tags' and endpoints' fields) in reverse order. */
const reordered = (m: Member): Member => Object.fromEntries(Object.entries(structuredClone(m)).reverse().map(([k, v]) => [k, v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse()) : Array.isArray(v) ? v.map((e) => Object.fromEntries(Object.entries(e as object).reverse())) : v])) as unknown as Member;

test('a heartbeat that changes only lastSeenMs is the same member', () => {
  assert.equal(sameMember(base, { ...base, lastSeenMs: base.lastSeenMs + 5000 }), true);
  assert.equal(sameMember(base, structuredClone(base)), true);
});

test('the same fields in another order are the same member (comparing JSON strings said they differed)', () => {
  const other = reordered(base);
  assert.notEqual(JSON.stringify(other), JSON.stringify(base), 'the copy really is in another order');
  assert.equal(sameMember(base, other), true);
  assert.equal(sameMember(other, base), true);
});

test('a field set to undefined is absent, as in JSON', () => {
  assert.equal(sameMember({ ...base, relayOffered: undefined }, (({ relayOffered: _, ...rest }) => rest as Member)(base)), true);
  const without = (({ certSerial: _, ...rest }) => rest as Member)(base);
  assert.equal(sameMember(without, { ...without, certSerial: undefined }), true);
  assert.equal(sameMember({ ...without, certSerial: undefined }, without), true);
});

test('any change others see makes a different member: endpoint, port, kind, tag, status, key, added or removed fields', () => {
  const changed: Member[] = [
    { ...base, endpoints: [base.endpoints[0]!] },
    { ...base, endpoints: [{ ...base.endpoints[0]!, port: 51821 }, base.endpoints[1]!] },
    { ...base, endpoints: [{ ...base.endpoints[0]!, kind: 'ENDPOINT_KIND_STUN' }, base.endpoints[1]!] },
    { ...base, endpoints: [...base.endpoints].reverse() },
    { ...base, tags: { role: 'db' } },
    { ...base, tags: { role: 'db', zone: 'b' } },
    { ...base, tags: { ...base.tags, extra: '' } },
    { ...base, status: 'NODE_STATUS_SUSPECT' },
    // (The key is random: its first character replaced by one it is not.)
    { ...base, publicKey: (base.publicKey[0] === 'x' ? 'y' : 'x') + base.publicKey.slice(1) },
    { ...base, certSerial: '01' },
    { ...base, relay: true },
    { ...base, statusChangedMs: base.statusChangedMs + 1 },
  ];
  for (const m of changed) {
    assert.equal(sameMember(base, m), false, JSON.stringify(m));
    assert.equal(sameMember(m, base), false, JSON.stringify(m));
  }
});
