import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Agent } from '@wgmesh/agent';
import type { Bootstrap } from '@wgmesh/bootstrap';
import { makeAgent, startBootstrap, tempDir } from '../helpers/inprocess.js';
import { waitFor } from '../helpers/wait.js';

let bootstrap: Bootstrap;
let alpha: Agent;
let bravo: Agent;
let cleanup: () => Promise<void>;

before(async () => {
  let dir: string;
  ({ dir, cleanup } = await tempDir());
  ({ bootstrap } = await startBootstrap(path.join(dir, 'state.json')));
  alpha = makeAgent('alpha', bootstrap.port, 1).agent;
  bravo = makeAgent('bravo', bootstrap.port, 2).agent;
  await Promise.all([alpha.start(), bravo.start()]);
});

after(async () => {
  await Promise.all([alpha?.stop({ leave: false }), bravo?.stop({ leave: false })]);
  await bootstrap?.stop();
  await cleanup?.();
});

const tagsOfAlphaAt = (agent: Agent) => agent.netmap.nodes.get('alpha')?.tags ?? {};

test('a tag set on one node reaches every node, and so does its deletion', async () => {
  await alpha.setTag('svc:http', '80');
  await waitFor('bravo to see alpha\'s tag', () => tagsOfAlphaAt(bravo)['svc:http'] === '80');
  assert.equal(bootstrap.agent!.netmap.nodes.get('alpha')?.tags['svc:http'], '80', 'the bootstrap node too');
  await alpha.deleteTag('svc:http');
  await waitFor('bravo to see it gone', () => !('svc:http' in tagsOfAlphaAt(bravo)));
});

test('a tag the bootstrap refuses is not kept, and says why', async () => {
  await assert.rejects(alpha.setTag('bad key', 'x'), /invalid tags\["bad key"\]: key must be/);
  assert.equal('bad key' in alpha.currentTags, false, 'the node keeps its previous tags');
  assert.equal('bad key' in tagsOfAlphaAt(bravo), false);
});

test('the bootstrap\'s own node is held to the same rules: a bad tag set on it never reaches the table', async () => {
  const revision = bootstrap.table!.revision;
  await assert.rejects(bootstrap.agent!.setTag('bad key', 'x'), /invalid tags\["bad key"\]/);
  assert.equal(bootstrap.table!.revision, revision, 'no change was made');
  assert.equal('bad key' in (bootstrap.table!.get('bootstrap')?.tags ?? {}), false);
  await bootstrap.agent!.setTag('role', 'hub');
  await waitFor('alpha to see the bootstrap\'s good tag', () => alpha.netmap.nodes.get('bootstrap')?.tags.role === 'hub');
});

test('tag changes made at once are applied one by one: the refused ones leave no trace, on the node or the bootstrap', async () => {
  const before = { ...alpha.currentTags };

  const results = await Promise.allSettled([alpha.setTag('bad key', 'x'), alpha.setTag('zone', 'a'), alpha.setTag('note', 'two\nlines'), alpha.setTag('rack', '7')]);

  assert.deepEqual(results.map((r) => r.status), ['rejected', 'fulfilled', 'rejected', 'fulfilled']);
  const expected = { ...before, zone: 'a', rack: '7' };
  assert.deepEqual(alpha.currentTags, expected);
  assert.deepEqual(bootstrap.table!.get('alpha')?.tags, expected, "the bootstrap's record agrees");
  await waitFor('bravo to see the same tags', () => isDeepStrictEqual({ ...tagsOfAlphaAt(bravo) }, expected));
});

test('tag changes made at once, some refused, leave exactly the accepted ones: a refused tag never sticks', async () => {
  // Each change used to restore, when refused, the tags it started from: with another change in
  // flight those held that change's tag, so a refused tag could stay and every heartbeat after it
  // be refused (found by the fuzz test of the local API).
  const changes = Array.from({ length: 24 }, (_, i) => (i % 3 === 0 ? alpha.setTag(`bad key ${i}`, 'x') : alpha.setTag(`good${i}`, String(i))));
  const results = await Promise.allSettled(changes);
  assert.deepEqual(results.map((r) => r.status), Array.from({ length: 24 }, (_, i) => (i % 3 === 0 ? 'rejected' : 'fulfilled')));
  const good = Object.fromEntries(Array.from({ length: 24 }, (_, i) => i).filter((i) => i % 3 !== 0).map((i) => [`good${i}`, String(i)]));
  assert.deepEqual(Object.keys(alpha.currentTags).filter((k) => k.startsWith('bad')), [], 'no refused tag is kept');
  for (const [key, value] of Object.entries(good)) assert.equal(alpha.currentTags[key], value, `${key} is kept`);
  await waitFor('the bootstrap to hold alpha\'s tags as alpha has them', () => JSON.stringify(bootstrap.table!.get('alpha')?.tags) === JSON.stringify(alpha.currentTags));
  for (const key of Object.keys(good)) await alpha.deleteTag(key);
});
