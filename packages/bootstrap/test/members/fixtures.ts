/** Members for the table and store tests: member i of a 10.232.0.0/16 mesh, all fields set. */
import { randomBytes } from 'node:crypto';
import type { Member } from '../../src/members/store.js';

/** The mesh these members belong to. */
export const NUMBERED_CIDR = '10.232.0.0/16';

/**
 * Member i (1 ≤ i < 65,535): named node-0000i (equal-length names, so a record's size does not
 * depend on i), at 10.232.0.0 + i. Its key is random bytes, not generateKeyPair(): Node 20 can
 * deadlock making thousands of keys (a GC during a key export), and these members never do key
 * exchange.
 */
export function numberedMember(i: number, extra: Partial<Member> = {}): Member {
  return {
    name: `node-${String(i).padStart(5, '0')}`,
    publicKey: randomBytes(32).toString('base64'),
    certFingerprint: '',
    meshIp: `10.232.${i >> 8}.${i & 255}`,
    endpoints: [{ ip: '203.0.113.7', port: 51820, kind: 'ENDPOINT_KIND_LAN' }],
    tags: { role: 'db' },
    status: 'NODE_STATUS_ALIVE',
    joinedAtMs: 1_700_000_000_000,
    lastSeenMs: 1_700_000_000_000,
    statusChangedMs: 1_700_000_000_000,
    isBootstrap: false,
    listenPort: 51820,
    relay: false,
    ...extra,
  };
}
