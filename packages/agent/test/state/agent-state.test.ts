import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FileAgentStateStore, type AgentState } from '../../src/state/agent-state.js';
import { AgentStateError } from '../../src/errors.js';
import { meshNode } from '../fixtures.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-agent-state-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const state = (): AgentState => ({
  version: 1, meshName: 'm', nodeName: 'a', meshIp: '198.18.0.2', meshCidr: '198.18.0.0/16', meshCreatedMs: 1, revision: 7,
  nodes: [meshNode('a', '198.18.0.2'), meshNode('b', '198.18.0.3')],
});

test('saved state loads back the same, from a file only root can read', async () => {
  await withDir(async (dir) => {
    const store = new FileAgentStateStore(path.join(dir, 'agent.json'));
    assert.equal(await store.load(), undefined, 'none saved yet');
    await store.save(state());
    assert.deepEqual(await store.load(), state());
    assert.equal((await stat(store.file)).mode & 0o077, 0, 'no access for group or others');
  });
});

test('a state file from before RTT left the membership loads without the samples its nodes carried', async () => {
  await withDir(async (dir) => {
    const file = path.join(dir, 'agent.json');
    const old = { ...state(), nodes: state().nodes.map((n) => ({ ...n, rtt: [{ peer: 'b', rttMs: 1, loss: 0 }] })) };
    await writeFile(file, JSON.stringify(old));
    const loaded = await new FileAgentStateStore(file).load();
    assert.deepEqual(loaded, state());
    assert.ok(JSON.parse(await readFile(file, 'utf8')).nodes[0].rtt, 'the file itself is left as it was until the next save');
  });
});

test('an unreadable state file is an error that says what to do, never "no state"', async () => {
  await withDir(async (dir) => {
    const file = path.join(dir, 'agent.json');
    await writeFile(file, '{"version": 2}');
    await assert.rejects(new FileAgentStateStore(file).load(), (err: Error) => err instanceof AgentStateError && /move it away to start afresh/.test(err.message));
  });
});

test('changes are appended to a journal beside the state and replayed on load; the state file is not rewritten', async () => {
  await withDir(async (dir) => {
    const store = new FileAgentStateStore(path.join(dir, 'agent.json'));
    await assert.rejects(store.append({ revision: 8, upserts: [], removes: [] }), /no saved state/, 'nothing to add changes to yet');
    await store.save(state());
    const saved = await readFile(store.file, 'utf8');
    await store.append({ revision: 8, upserts: [meshNode('c', '198.18.0.4')], removes: [] });
    await store.append({ revision: 9, upserts: [meshNode('b', '198.18.0.9')], removes: ['a'] });
    assert.equal(await readFile(store.file, 'utf8'), saved, 'the state file is as saved');
    assert.ok((await stat(store.journalFile)).size < 1000, 'the journal holds the changes, not the mesh');
    assert.equal((await stat(store.journalFile)).mode & 0o077, 0);
    const loaded = await new FileAgentStateStore(store.file).load();
    assert.equal(loaded?.revision, 9);
    assert.deepEqual(loaded?.nodes.map((n) => [n.name, n.meshIp]).sort(), [['b', '198.18.0.9'], ['c', '198.18.0.4']]);
    // A whole save empties the journal.
    await store.save({ ...state(), revision: 10 });
    assert.equal((await stat(store.journalFile)).size, 0);
    assert.deepEqual(await new FileAgentStateStore(store.file).load(), { ...state(), revision: 10 });
  });
});

test('a torn last journal line is dropped, and lines the saved state already holds are skipped', async () => {
  await withDir(async (dir) => {
    const store = new FileAgentStateStore(path.join(dir, 'agent.json'));
    await store.save(state());
    await store.append({ revision: 8, upserts: [meshNode('c', '198.18.0.4')], removes: [] });
    await writeFile(store.journalFile, `${await readFile(store.journalFile, 'utf8')}{"revision":9,"upse`);
    const loaded = await new FileAgentStateStore(store.file).load();
    assert.equal(loaded?.revision, 8);
    assert.deepEqual(loaded?.nodes.map((n) => n.name).sort(), ['a', 'b', 'c']);
    // A crash after a whole save, before its journal was emptied: the old lines are below the state's revision.
    await writeFile(store.file, JSON.stringify({ ...state(), revision: 8, nodes: [meshNode('a', '198.18.0.2')] }));
    const after = await new FileAgentStateStore(store.file).load();
    assert.deepEqual(after?.nodes.map((n) => n.name), ['a'], 'the revision-8 line is not applied again');
  });
});

test('once the journal outgrows the saved state, the store asks for a whole save', async () => {
  await withDir(async (dir) => {
    const store = new FileAgentStateStore(path.join(dir, 'agent.json'));
    await store.save(state());
    let revision = 7;
    while (!store.wantsSave) await store.append({ revision: ++revision, upserts: [meshNode('c', `198.18.1.${revision % 250}`)], removes: [] });
    assert.ok((await stat(store.journalFile)).size > 64 * 1024, 'not before 64 KB (the state here is small)');
    await store.save({ ...state(), revision });
    assert.equal(store.wantsSave, false);
  });
});
