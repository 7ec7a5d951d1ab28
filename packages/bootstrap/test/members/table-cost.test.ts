import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateKeyPair } from '@wgmesh/agent';
import { Ipam } from '../../src/ipam/ipam.js';
import { MemberTable } from '../../src/members/table.js';
import { FileStateStore, type MeshState, type Member } from '../../src/members/store.js';
import { NUMBERED_CIDR, numberedMember } from './fixtures.js';

/**
 * "A membership change costs the bootstrap O(1) work beyond the fan-out": what the state store
 * writes for one join, one tag change and one leave is the same with 50 members as with 2,000 (a
 * journal line of that one member), far below the snapshot, and no snapshot is written for it.
 */

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const MESH = 'cost';

/** Members counted from 0: member 0 is at 10.232.0.1. */
const member = (i: number) => numberedMember(i + 1);

interface Costs {
  snapshotBytes: number;
  /** Per change: journal bytes and snapshots written. */
  join: { bytes: number; snapshots: number };
  tags: { bytes: number; snapshots: number };
  leave: { bytes: number; snapshots: number };
}

/** A bootstrap restarted on a state file of `size` members, then one join, one tag change and one leave. */
async function costsAt(size: number): Promise<Costs> {
  const dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-cost-'));
  dirs.push(dir);
  const file = path.join(dir, 'bootstrap.json');
  // The members are written as one snapshot (a mesh that grew to this size earlier).
  const state: MeshState = { version: 1, meshName: MESH, cidr: NUMBERED_CIDR, createdMs: 1_700_000_000_000, revision: size, members: Array.from({ length: size }, (_, i) => member(i)) };
  await new FileStateStore(file).save(state);

  const store = new FileStateStore(file);
  const table = await MemberTable.open(store, new Ipam(NUMBERED_CIDR), { meshName: MESH });
  assert.equal(table.size, size);
  const cost = async (change: () => Promise<unknown>) => {
    const before = { ...store.writes };
    const revision = table.revision;
    await change();
    assert.equal(table.revision, revision + 1, 'one change');
    return { bytes: store.writes.journalBytes - before.journalBytes, snapshots: store.writes.snapshots - before.snapshots };
  };
  try {
    const join = await cost(() => table.join({
      name: 'newcomer', identity: { publicKey: generateKeyPair().publicKey }, endpoints: [{ ip: '203.0.113.9', port: 51820, kind: 'ENDPOINT_KIND_LAN' }], tags: { role: 'db' }, listenPort: 51820,
    }));
    assert.equal(table.get('newcomer')?.meshIp, `10.232.${(size + 1) >> 8}.${(size + 1) & 255}`, 'the lowest free address');
    const tags = await cost(() => table.update(member(0).name, undefined, { tags: { role: 'web' } }));
    const leave = await cost(() => table.remove(member(1).name));
    return { snapshotBytes: (await stat(file)).size, join, tags, leave };
  } finally {
    await table.close();
  }
}

describe('what one change costs the file store', () => {
  test('one join, one tag change and one leave write the same bytes with 50 members and with 2,000, and no snapshot', async (t) => {
    const small = await costsAt(50);
    const large = await costsAt(2_000);
    t.diagnostic(`50 members: ${JSON.stringify(small)}`);
    t.diagnostic(`2000 members: ${JSON.stringify(large)}`);
    for (const kind of ['join', 'tags', 'leave'] as const) {
      assert.equal(small[kind].snapshots, 0, `${kind}: no snapshot written (50)`);
      assert.equal(large[kind].snapshots, 0, `${kind}: no snapshot written (2000)`);
      assert.ok(large[kind].bytes > 0, `${kind}: the change is persisted`);
      // Within a few bytes: an IP or a revision number may be a digit longer.
      assert.ok(Math.abs(large[kind].bytes - small[kind].bytes) <= 16, `${kind}: ${large[kind].bytes} bytes at 2000 members, ${small[kind].bytes} at 50`);
      assert.ok(large[kind].bytes * 100 < large.snapshotBytes, `${kind}: ${large[kind].bytes} bytes, far below the ${large.snapshotBytes}-byte snapshot`);
    }
  });
});
