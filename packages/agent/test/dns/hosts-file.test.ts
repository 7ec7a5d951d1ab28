import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { netmapFromNodes } from '../../src/netmap/netmap.js';
import { blockMarkers, HostsFileKeeper, withBlock } from '../../src/dns/hosts-file.js';
import { meshNode } from '../fixtures.js';

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
  const keeper = new HostsFileKeeper(file, 'lab');
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
  const keeper = new HostsFileKeeper(link, 'lab');
  await keeper.update(netmapFromNodes('h1', 1, [meshNode('h1', '198.18.0.1')]), 'lab.internal');
  assert.equal((await lstat(link)).isSymbolicLink(), true, 'the link is not replaced by a file');
  assert.equal(await readFile(target, 'utf8'), `127.0.0.1\tlocalhost\n${begin}\n198.18.0.1\th1.lab.internal h1\n${end}\n`);
  await keeper.remove();
  assert.equal((await lstat(link)).isSymbolicLink(), true);
  assert.equal(await readFile(target, 'utf8'), '127.0.0.1\tlocalhost\n');
});
