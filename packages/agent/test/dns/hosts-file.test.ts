import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { applyDelta, netmapFromNodes } from '../../src/netmap/netmap.js';
import { blockMarkers, HostsFileKeeper, withBlock } from '../../src/dns/hosts-file.js';
import { meshNode } from '../fixtures.js';
import { SimTimers } from '../sim-timers.js';

const { begin, end } = blockMarkers('lab');

test('the block replaces the old one and leaves the owner\'s lines alone', () => {
  const owner = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n';
  const first = withBlock(owner, 'lab', ['198.18.0.1\th1.lab.internal h1']);
  assert.equal(first, `${owner}${begin}\n198.18.0.1\th1.lab.internal h1\n${end}\n`);
  const second = withBlock(first, 'lab', ['198.18.0.2\th2.lab.internal h2']);
  assert.equal(second, `${owner}${begin}\n198.18.0.2\th2.lab.internal h2\n${end}\n`);
  assert.equal(withBlock(second, 'lab', []), owner);
  // Another mesh's block is not ours.
  const both = withBlock(second, 'other', ['198.19.0.1\tx.other.internal x']);
  assert.equal(withBlock(both, 'lab', []), withBlock(owner, 'other', ['198.19.0.1\tx.other.internal x']));
});

test('the keeper writes the mesh\'s names, keeps the file\'s mode, follows changes and removes its block', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-hosts-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'hosts');
  await writeFile(file, '127.0.0.1\tlocalhost\n', { mode: 0o644 });
  const keeper = new HostsFileKeeper(file, 'lab', undefined, { minIntervalMs: 0 });
  await keeper.update(netmapFromNodes('h1', 1, [meshNode('h2', '198.18.0.2'), meshNode('h1', '198.18.0.1')]), 'lab.internal');
  assert.equal(await readFile(file, 'utf8'), `127.0.0.1\tlocalhost\n${begin}\n198.18.0.1\th1.lab.internal h1\n198.18.0.2\th2.lab.internal h2\n${end}\n`);
  assert.equal((await stat(file)).mode & 0o777, 0o644);
  await keeper.update(netmapFromNodes('h1', 2, [meshNode('h1', '198.18.0.1')]), 'lab.internal');
  assert.doesNotMatch(await readFile(file, 'utf8'), /h2/);
  await keeper.remove();
  assert.equal(await readFile(file, 'utf8'), '127.0.0.1\tlocalhost\n');
});

test('a hosts file that is a symbolic link (as on NixOS, or to a shared file) stays one: its target gets the block', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-hosts-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const target = path.join(dir, 'hosts.real');
  const link = path.join(dir, 'hosts');
  await writeFile(target, '127.0.0.1\tlocalhost\n', { mode: 0o644 });
  await symlink(target, link);
  const keeper = new HostsFileKeeper(link, 'lab', undefined, { minIntervalMs: 0 });
  await keeper.update(netmapFromNodes('h1', 1, [meshNode('h1', '198.18.0.1')]), 'lab.internal');
  assert.equal((await lstat(link)).isSymbolicLink(), true, 'the link is not replaced by a file');
  assert.equal(await readFile(target, 'utf8'), `127.0.0.1\tlocalhost\n${begin}\n198.18.0.1\th1.lab.internal h1\n${end}\n`);
  await keeper.remove();
  assert.equal((await lstat(link)).isSymbolicLink(), true);
  assert.equal(await readFile(target, 'utf8'), '127.0.0.1\tlocalhost\n');
});

test('following a change costs its names: the block is built again only when a line changed (an endpoint or tag change in a mesh of 2,000 builds nothing)', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-hosts-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'hosts');
  await writeFile(file, '127.0.0.1\tlocalhost\n', { mode: 0o644 });
  const keeper = new HostsFileKeeper(file, 'lab', undefined, { minIntervalMs: 0 });
  const nodes = Array.from({ length: 2000 }, (_, i) => meshNode(`n${i}`, `198.18.${i >> 8}.${(i & 255) + 1}`));
  let netmap = netmapFromNodes('n0', 1, nodes);
  await keeper.update(netmap, 'lab.internal');
  assert.equal(keeper.builds, 1);
  const withNode = (node: ReturnType<typeof meshNode>, revision: number) => applyDelta(netmap, { kind: 'upsert', revision, node });

  netmap = withNode({ ...netmap.nodes.get('n7')!, endpoints: [{ ip: '203.0.113.9', port: 4000, kind: 'ENDPOINT_KIND_OBSERVED' }], tags: { role: 'db' } }, 2);
  await keeper.follow(netmap, 'lab.internal', ['n7']);
  assert.equal(keeper.builds, 1, 'nothing a hosts line shows changed');

  netmap = withNode(meshNode('n8', '198.18.99.8'), 3);
  await keeper.follow(netmap, 'lab.internal', ['n8']);
  assert.equal(keeper.builds, 2);
  assert.match(await readFile(file, 'utf8'), /^198\.18\.99\.8\tn8\.lab\.internal n8$/m);

  netmap = withNode(meshNode('newcomer', '198.18.100.1'), 4);
  netmap = applyDelta(netmap, { kind: 'remove', revision: 5, name: 'n9' });
  await keeper.follow(netmap, 'lab.internal', ['newcomer', 'n9']);
  assert.equal(keeper.builds, 3, 'one build for the batch');
  const text = await readFile(file, 'utf8');
  assert.match(text, /^198\.18\.100\.1\tnewcomer\.lab\.internal newcomer$/m);
  assert.doesNotMatch(text, /\tn9\./);
  assert.equal(text.split('\n').filter((l) => l.includes('.lab.internal')).length, 2000, '2,000 - n9 + newcomer');
  // The block is the one a full update writes (sorted by name).
  const full = new HostsFileKeeper(path.join(dir, 'hosts2'), 'lab', undefined, { minIntervalMs: 0 });
  await writeFile(path.join(dir, 'hosts2'), '127.0.0.1\tlocalhost\n');
  await full.update(netmap, 'lab.internal');
  assert.equal(text, await readFile(path.join(dir, 'hosts2'), 'utf8'));
});

test('a join wave rewrites the file at most once a second: 200 joins in one second are one rewrite at its end, with all of them', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-hosts-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'hosts');
  await writeFile(file, '127.0.0.1\tlocalhost\n', { mode: 0o644 });
  const timers = new SimTimers();
  const keeper = new HostsFileKeeper(file, 'lab', undefined, { timers, minIntervalMs: 1000 });
  const meshLines = async () => (await readFile(file, 'utf8')).split('\n').filter((l) => l.includes('.lab.internal')).length;
  let netmap = netmapFromNodes('h1', 1, [meshNode('h1', '198.18.0.1')]);
  await keeper.update(netmap, 'lab.internal');
  assert.equal(await meshLines(), 1);

  const followed: Promise<void>[] = [];
  for (let i = 0; i < 200; i++) {
    const node = meshNode(`j${i}`, `198.18.1.${i + 1}`);
    netmap = applyDelta(netmap, { kind: 'upsert', revision: i + 2, node });
    followed.push(keeper.follow(netmap, 'lab.internal', [node.name]));
  }
  assert.equal(keeper.builds, 1, 'no build during the second');
  assert.equal(await meshLines(), 1, 'no rewrite during the second');

  timers.advance(1000);
  await Promise.all(followed);
  assert.equal(keeper.builds, 2, 'one build for the 200 joins');
  assert.equal(await meshLines(), 201);
  timers.advance(1000);
  assert.equal(timers.pending, 0, 'no timer left once quiet');
  await keeper.remove();
  assert.equal(await readFile(file, 'utf8'), '127.0.0.1\tlocalhost\n');
});
