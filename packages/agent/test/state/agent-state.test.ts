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
