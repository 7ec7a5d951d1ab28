/**
 * `wgmesh store migrate`: its flags and the errors before any etcd is asked (the migration itself,
 * against a real etcd, is test/e2e/store-migrate.test.ts).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MIGRATE_FLAGS, migrateOptions, migrateSummary, runStore } from '../../src/commands/store.js';
import { formatHelp, resolveFlags, UsageError } from '../../src/flags/parse.js';
import { main } from '../../src/main.js';
import { captureStdout } from '../capture.js';

/** A loopback port nobody listens on: bound, then closed again. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const options = (argv: string[], env: Record<string, string> = {}) => {
  const { values, positionals } = resolveFlags(MIGRATE_FLAGS, argv, env);
  return migrateOptions(values, positionals);
};

describe('wgmesh store migrate flags', () => {
  test('-from names the state file; -json is off by default', () => {
    assert.deepEqual(options(['-from', '/var/lib/wgmesh/prod/bootstrap.json']), { from: '/var/lib/wgmesh/prod/bootstrap.json', json: false });
    assert.deepEqual(options(['-from=/s/bootstrap.json', '-json']), { from: '/s/bootstrap.json', json: true });
    assert.deepEqual(options([], { WGMESH_FROM: '/s/bootstrap.json' }), { from: '/s/bootstrap.json', json: false });
  });

  test('no -from, a stray argument, an unknown flag: usage errors that say what to give', () => {
    assert.throws(() => options([]), (err: unknown) => err instanceof UsageError && /^-from is required: the bootstrap's state file, <state-dir>\/<mesh>\/bootstrap\.json/.test(err.message));
    assert.throws(() => options(['/s/bootstrap.json']), /unexpected argument "\/s\/bootstrap\.json"; the state file goes after -from/);
    assert.throws(() => options(['-store', 'etcd']), /unknown flag -store/);
  });

  test('the help says the files (snapshot and journal) stay untouched, the bootstrap must be stopped, and what to run next', async () => {
    const help = formatHelp('u', '', MIGRATE_FLAGS);
    for (const flag of ['from', 'etcd-endpoints', 'etcd-prefix', 'etcd-ca-cert', 'etcd-cert', 'etcd-key', 'json']) assert.match(help, new RegExp(`^  -${flag} `, 'm'));
    const text = await captureStdout(() => runStore(['migrate', '--help'], {}));
    assert.match(text, /^usage: wgmesh store migrate -from FILE -etcd-endpoints URL\[,URL…\]/);
    assert.match(text, /the snapshot \(bootstrap\.json\) and the changes since, in bootstrap\.journal beside it\.\nBoth are only read, never changed\./);
    assert.match(text, /Stop the mesh's bootstrap before migrating/);
    assert.match(text, /wgmesh bootstrap -store etcd -etcd-endpoints URL\[,URL…\] -n MESH -cidr CIDR/);
  });

  test('a missing state file, an unknown subcommand: exit 2 with a clear message, before any etcd is asked', async (t) => {
    let stderr = '';
    t.mock.method(process.stderr, 'write', (chunk: string) => {
      stderr += chunk;
      return true;
    });
    const dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-store-'));
    try {
      const missing = path.join(dir, 'bootstrap.json');
      // An endpoint nobody answers on: the file is checked first, so it is never dialed.
      assert.equal(await main(['store', 'migrate', '-from', missing, '-etcd-endpoints', 'http://127.0.0.1:9'], {}), 2);
      assert.equal(stderr, `wgmesh store: -from ${missing}: no such file (give the bootstrap's state file, <state-dir>/<mesh>/bootstrap.json)\n`);

      stderr = '';
      await writeFile(missing, '{"version": 1, "meshName": "prod"');
      assert.equal(await main(['store', 'migrate', '-from', missing, '-etcd-endpoints', 'http://127.0.0.1:9'], {}), 2);
      assert.match(stderr, new RegExp(`^wgmesh store: state file ${missing}: is not valid JSON`));

      stderr = '';
      assert.equal(await main(['store', 'copy'], {}), 2);
      assert.equal(stderr, 'wgmesh store: unknown subcommand "store copy"; use migrate\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('etcd unreachable: exit 1, saying what to check and that running it again is safe', async (t) => {
    let stderr = '';
    t.mock.method(process.stderr, 'write', (chunk: string) => {
      stderr += chunk;
      return true;
    });
    const dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-store-'));
    try {
      const file = path.join(dir, 'bootstrap.json');
      await writeFile(file, JSON.stringify({ version: 1, meshName: 'prod', cidr: '10.99.0.0/16', createdMs: 1, revision: 0, members: [] }));
      const endpoint = `http://127.0.0.1:${await closedPort()}`;
      assert.equal(await main(['store', 'migrate', '-from', file, '-etcd-endpoints', endpoint], {}), 1);
      assert.match(stderr, /^wgmesh store: etcd is unreachable at http:\/\/127\.0\.0\.1:\d+ \(.*\); check that the etcd cluster runs .*then run the migration again \(members written before count as already present\)\n$/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('the summary: counts, prefix, revision, and the bootstrap command to run next', () => {
    const report = {
      meshName: 'prod', cidr: '10.99.0.0/16', prefix: '/wgmesh/prod/', createdMs: 0, meshCreated: true,
      migrated: ['a', 'b', 'c'], alreadyPresent: ['d', 'e'], differentInEtcd: ['e'],
      audit: { revision: 42, members: 5, ips: 5, orphanIps: [], membersWithoutIp: [] },
    };
    assert.equal(migrateSummary(report, ['http://10.0.0.1:2379', 'http://10.0.0.2:2379']), [
      'mesh "prod" (10.99.0.0/16) is in etcd under /wgmesh/prod/ (etcd revision 42):',
      '  3 member(s) migrated, 2 already present (1 of them changed in etcd since, kept as they are: e)',
      '  5 member(s) and 5 IP key(s) under the prefix, none without the other',
      'Next: wgmesh bootstrap -store etcd -etcd-endpoints http://10.0.0.1:2379,http://10.0.0.2:2379 -n prod -cidr 10.99.0.0/16',
      '',
    ].join('\n'));
    assert.match(migrateSummary({ ...report, prefix: '/meshes/prod/' }, ['http://e:2379']), /-cidr 10\.99\.0\.0\/16 -etcd-prefix \/meshes\/prod\/\n$/);
  });
});
