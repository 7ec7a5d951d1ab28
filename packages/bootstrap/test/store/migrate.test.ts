/**
 * planMigration, the check a migration makes before it writes anything: which file members are
 * written, which etcd holds already (a run before), and which are in the way, named with why.
 * The migration against a real etcd is test/e2e/store-migrate.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { migrateFileStore, planMigration } from '../../src/store/migrate.js';
import type { EtcdMeshStore } from '../../src/store/etcd-mesh-store.js';
import { ConfigError } from '../../src/errors.js';
import type { MeshState, Member } from '../../src/members/store.js';

function member(name: string, ip: string, extra: Partial<Member> = {}): Member {
  return {
    name, publicKey: `${name}-key`.padEnd(44, '='), meshIp: ip, endpoints: [], tags: {}, status: 'NODE_STATUS_ALIVE',
    joinedAtMs: 1_700_000_000_000, lastSeenMs: 1_700_000_000_000, statusChangedMs: 1_700_000_000_000, isBootstrap: false, listenPort: 51820,
    relay: false, certFingerprint: '', ...extra,
  };
}

const STATE: MeshState = {
  version: 1, meshName: 'prod', cidr: '10.99.0.0/16', createdMs: 1_690_000_000_000, revision: 17,
  members: [member('a', '10.99.0.1'), member('b', '10.99.0.2'), member('c', '10.99.0.3')],
};

describe('planMigration', () => {
  test('an empty prefix: every member is written, in the file\'s order', () => {
    const plan = planMigration(STATE, []);
    assert.deepEqual(plan.problems, []);
    assert.deepEqual(plan.toWrite.map((m) => m.name), ['a', 'b', 'c']);
  });

  test('members etcd holds with the same identity are done; changed liveness fields are noted, not refused', () => {
    const plan = planMigration(STATE, [member('a', '10.99.0.1'), member('b', '10.99.0.2', { lastSeenMs: 1_700_000_500_000, status: 'NODE_STATUS_SUSPECT' })]);
    assert.deepEqual(plan.problems, []);
    assert.deepEqual(plan.toWrite.map((m) => m.name), ['c']);
    assert.deepEqual(plan.present.map((m) => m.name), ['a', 'b']);
    assert.deepEqual(plan.different, ['b']);
  });

  test('another member under a name, at an IP, or with a key: each named, with why', () => {
    const plan = planMigration(STATE, [
      member('a', '10.99.0.9'), // a elsewhere: another a
      member('x', '10.99.0.2'), // b's IP taken
      member('y', '10.99.0.7', { publicKey: 'c-key'.padEnd(44, '=') }), // c's key taken
    ]);
    assert.deepEqual(plan.toWrite, []);
    assert.deepEqual(plan.problems.map((p) => p.member), ['a', 'b', 'c']);
    assert.match(plan.problems[0]!.reason, /^etcd already holds another member under this name, "a" \(10\.99\.0\.9, key a-key===…\) \(differs in meshIp\)$/);
    assert.match(plan.problems[1]!.reason, /^its IP 10\.99\.0\.2 belongs to member "x" \(10\.99\.0\.2/);
    assert.match(plan.problems[2]!.reason, /^its public key is member "y" \(10\.99\.0\.7/);
  });

  test('the same name and IP with another key or certificate is another member', () => {
    const plan = planMigration(STATE, [member('a', '10.99.0.1', { publicKey: 'other'.padEnd(44, '='), certFingerprint: 'ff' })]);
    assert.match(plan.problems[0]!.reason, /differs in publicKey, certFingerprint\)$/);
  });
});

describe('migrateFileStore and layer 2', () => {
  test('a mesh with layer 2 (bootstrap -l2) is refused before anything is read or written: etcd has no place for it yet', async () => {
    let touched = false;
    const store = new Proxy({ meshName: 'prod', cidr: '10.99.0.0/16' } as unknown as EtcdMeshStore, {
      get: (target, key) => {
        if (key === 'meshName' || key === 'cidr') return (target as unknown as Record<string, unknown>)[key];
        touched = true;
        return undefined;
      },
    });
    await assert.rejects(migrateFileStore({ store }, { ...STATE, l2: { vni: 7, port: 4789 } }), (err: unknown) => err instanceof ConfigError && /layer 2.*nothing was written/.test(err.message));
    assert.equal(touched, false);
  });
});
